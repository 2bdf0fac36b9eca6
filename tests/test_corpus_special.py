"""Source folders hold more than paintings: FIFOs, sockets, links to devices, names that are not UTF-8,
folders nobody may list, links to folders. The build reads only regular files, never hangs, keeps every
file name exactly, and lists what it could not read in rejects.jsonl with a reason."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from belamy.corpus.build import build_corpus
from belamy.corpus.store import open_corpus

ODD_NAME = b"portrait-of-a-lady-\xff\xfe-1650.png"  # Latin-1 bytes: not valid UTF-8


def painting(seed: int, size: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(30, 225, (size, size, 3), dtype=np.uint8))


def rejects_of(corpus: Path) -> dict[str, str]:
    lines = (corpus / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["path"]: json.loads(line)["reason"] for line in lines}


@pytest.fixture
def special_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "inner").mkdir(parents=True)
    painting(0).save(folder / "good-0.png")
    painting(1).save(folder / "inner" / "good-1.png")
    os.mkfifo(folder / "pipe.jpg")  # reading it would block forever: nobody writes
    os.symlink("/dev/zero", folder / "zero.png")  # reading it would never end
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(folder / "sock.png"))
    sock.close()
    with open(os.path.join(os.fsencode(folder), ODD_NAME), "wb") as fh:
        painting(2).save(fh, "PNG")
    return folder


def test_special_files_are_rejected_with_a_reason_and_never_hang_the_build(special_folder: Path, tmp_path: Path):
    out = tmp_path / "corpus"
    env = dict(os.environ, BELAMY_QUIET="1")
    done = subprocess.run([sys.executable, "-m", "belamy", "corpus", "build", str(special_folder), "--out", str(out),
                           "--size", "32", "--min-size", "32", "--workers", "2"],
                          capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    reasons = {Path(p).name: r for p, r in rejects_of(out).items()}
    assert reasons == {"pipe.jpg": "not a regular file: a named pipe (FIFO)",
                       "zero.png": "not a regular file: a character device",
                       "sock.png": "not a regular file: a socket"}
    assert len(open_corpus(out)) == 3  # the two paintings and the one with the odd name


def test_a_file_name_that_is_not_utf8_is_kept_exactly_through_the_manifest(special_folder: Path, tmp_path: Path):
    out = tmp_path / "corpus"
    report = build_corpus([special_folder], out, size=32, min_size=32, workers=1)
    assert report.accepted == 3
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    odd = [m for m in manifest if os.fsencode(m["source"]).endswith(ODD_NAME)]
    assert len(odd) == 1, [m["source"] for m in manifest]
    assert os.fsencode(odd[0]["source"]) == os.path.join(os.fsencode(special_folder), ODD_NAME)
    with Image.open(odd[0]["source"]) as img:  # the recorded path opens the very file
        assert img.size == (64, 64)
    assert odd[0]["title"] == "Portrait of a lady \ufffd\ufffd" and odd[0]["year"] == 1650  # readable title
    assert {m["index"] for m in open_corpus(out).manifest} == {0, 1, 2}
    from belamy.corpus.credits import write_credits

    write_credits(out, tmp_path / "credits.md")  # people read credits: the odd bytes show as U+FFFD
    assert "portrait-of-a-lady-\ufffd\ufffd-1650.png" in (tmp_path / "credits.md").read_text(encoding="utf-8")


def test_a_file_that_turns_into_a_fifo_after_listing_is_refused_by_the_reader(tmp_path: Path):
    from belamy.corpus.prepare import PrepareOptions, prepare_file

    os.mkfifo(tmp_path / "late.png")
    result = prepare_file(str(tmp_path / "late.png"), PrepareOptions(size=32, min_size=32))
    assert result.reject == "not a regular file: a named pipe (FIFO)"


def test_a_file_too_large_for_max_pixels_is_not_read(tmp_path: Path):
    from belamy.corpus.prepare import PrepareOptions, prepare_file

    sparse = tmp_path / "huge.tif"
    with open(sparse, "wb") as fh:  # 2 GB on paper, nothing on disk
        fh.truncate(2 * 2**30)
    result = prepare_file(str(sparse), PrepareOptions(size=32, min_size=32, max_pixels=1_000_000))
    assert result.reject.startswith("too large: a 2,048 MB file")


def test_an_unreadable_sub_folder_is_listed_in_rejects(tmp_path: Path, monkeypatch):
    src = tmp_path / "src"
    (src / "locked").mkdir(parents=True)
    painting(0).save(src / "open.png")
    painting(1).save(src / "locked" / "hidden.png")
    (src / "locked").chmod(0)
    if os.geteuid() == 0:  # root may list anything: make the kernel's refusal happen as it would for a user
        real_scandir = os.scandir

        def scandir(path="."):
            if os.fspath(path) == os.fspath(src / "locked"):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        report = build_corpus([src], tmp_path / "corpus", size=32, min_size=32, workers=1)
    finally:
        (src / "locked").chmod(0o755)
    assert report.accepted == 1
    assert rejects_of(tmp_path / "corpus") == {str(src / "locked"): "cannot read folder: Permission denied"}


def test_a_link_to_a_folder_inside_a_source_is_reported_not_silently_skipped(tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    painting(5).save(elsewhere / "far.png")
    src = tmp_path / "src"
    src.mkdir()
    painting(0).save(src / "near.png")
    os.symlink(elsewhere, src / "linked")
    report = build_corpus([src], tmp_path / "corpus", size=32, min_size=32, workers=1)
    assert report.accepted == 1
    assert rejects_of(tmp_path / "corpus")[str(src / "linked")].startswith("not followed: a symbolic link to a folder")


def test_a_symlinked_source_folder_is_recorded_by_the_path_given(tmp_path: Path):
    """The manifest names each painting by the path the user gave (a link stays a link); corpus.json
    also says where a linked source really lies. The same folder given twice is read once."""
    real = tmp_path / "real" / "paintings"
    real.mkdir(parents=True)
    for i in range(3):
        painting(i).save(real / f"p-{i}.png")
    link = tmp_path / "shared"
    os.symlink(tmp_path / "real", link)
    given = link / "paintings"
    out = tmp_path / "corpus"
    report = build_corpus([given, real], out, size=32, min_size=32, workers=1)
    assert report.read == 3 and report.accepted == 3
    sources = sorted(m["source"] for m in open_corpus(out).manifest)
    assert sources == [str(given / f"p-{i}.png") for i in range(3)]
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["sources"] == [str(given), str(real)]
    assert meta["resolved_sources"] == {str(given): str(real)}


@pytest.mark.parametrize("command", [["upscale", "--method", "lanczos"], ["sign"], ["print", "--method", "lanczos"]])
def test_a_command_given_a_fifo_as_its_image_says_so_instead_of_waiting(tmp_path: Path, command: list[str]):
    os.mkfifo(tmp_path / "pipe.png")
    env = dict(os.environ, BELAMY_QUIET="1")
    args = [command[0], str(tmp_path / "pipe.png"), "--out", str(tmp_path / "out.png" if command[0] != "print"
                                                                   else tmp_path / "out.tif"), *command[1:]]
    done = subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "not a regular file" in done.stderr
