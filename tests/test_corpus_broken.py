"""A folder of deliberately broken files: each is turned away with its reason, and the build succeeds."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from belamy.corpus.build import build_corpus
from belamy.corpus.store import open_corpus


def good(seed: int, w: int = 96, h: int = 96) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(40, 215, (h, w, 3), dtype=np.uint8))


def jpeg_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size; the file itself is a few dozen bytes (a 'bomb')."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    (folder / "nested").mkdir(parents=True)
    for i in range(3):
        good(i).save(folder / f"good-{i}.png")
    (folder / "nested" / "good-jpeg.jpg").write_bytes(jpeg_bytes(good(7, 120, 90)))
    full = jpeg_bytes(good(9, 200, 200))
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is a shopping list, not a painting\n")
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    buf = io.BytesIO()
    good(5).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    idat = png.index(b"IDAT") + 4
    png[idat + 100: idat + 400] = bytes(range(256)) + bytes(44)  # a valid header over scrambled pixel data
    (folder / "corrupt.png").write_bytes(bytes(png))
    good(3, 40, 30).save(folder / "tiny.png")
    (folder / "bomb.png").write_bytes(png_claiming(60_000, 60_000))
    return folder


EXPECTED = {
    "truncated.jpg": "corrupt or truncated",
    "zero.jpg": "empty file",
    "text.jpg": "not an image",
    "garbage.png": "not an image",  # the PNG signature followed by noise
    "corrupt.png": "corrupt or truncated",
    "tiny.png": "too small",
    "bomb.png": "decompression bomb",
}


@pytest.mark.parametrize("workers", [1, 2])
def test_every_broken_file_is_rejected_with_its_reason(broken_folder: Path, tmp_path: Path, workers: int):
    out = tmp_path / f"corpus-{workers}"
    report = build_corpus([broken_folder], out, size=32, min_size=48, max_pixels=50_000_000, workers=workers)
    assert report.read == 11
    assert report.accepted == 4 and report.rejected == 7 and report.duplicates == 0
    assert report.accepted + report.rejected + report.duplicates == report.read

    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    by_name = {Path(r["path"]).name: r["reason"] for r in rejects}
    assert set(by_name) == set(EXPECTED)
    for name, reason in EXPECTED.items():
        assert by_name[name].startswith(reason), (name, by_name[name])
        assert "\n" not in by_name[name] and len(by_name[name]) < 200
    assert "3600000000" in by_name["bomb.png"]  # says how big it claimed to be

    corpus = open_corpus(out)
    assert len(corpus) == 4 and corpus.images.shape == (4, 32, 32, 3)
    assert [Path(m["source"]).name for m in corpus.manifest] == ["good-0.png", "good-1.png", "good-2.png", "good-jpeg.jpg"]


def test_a_bomb_past_pils_own_limit_is_rejected_before_decoding(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    good(1).save(src / "ok.png")
    (src / "huge.png").write_bytes(png_claiming(1_000_000, 1_000_000))  # 10^12 pixels: PIL itself refuses
    (src / "over-my-limit.png").write_bytes(png_claiming(3000, 3000))
    report = build_corpus([src], tmp_path / "c", size=16, min_size=16, max_pixels=1_000_000, workers=1)
    reasons = {Path(r["path"]).name: r["reason"] for r in report.rejects}
    assert reasons["huge.png"].startswith("decompression bomb")
    assert reasons["over-my-limit.png"].startswith("decompression bomb")
    assert Image.MAX_IMAGE_PIXELS != 1_000_000  # the global guard is restored after the build


def test_summary_counts_reasons(broken_folder: Path, tmp_path: Path):
    from rich.console import Console

    report = build_corpus([broken_folder], tmp_path / "c", size=32, min_size=48, max_pixels=50_000_000, workers=1)
    assert report.reject_reasons["too small"] == 1
    assert report.reject_reasons["decompression bomb"] == 1
    console = Console(file=io.StringIO(), width=120)
    report.print_summary(console)
    text = console.file.getvalue()
    assert "accepted" in text and "rejected" in text and "too small" in text and "rejects.jsonl" in text


# --------------------------------------------------------------------------- the command line


def belamy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAMY_QUIET": "1"}
    env.pop("BELAMY_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "belamy", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_builds_a_corpus(broken_folder: Path, tmp_path: Path):
    run = belamy("corpus", "build", str(broken_folder), "--out", str(tmp_path / "c"), "--size", "16",
                 "--min-size", "48", "--workers", "1", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == str(tmp_path / "c")
    assert len(open_corpus(tmp_path / "c")) == 4


@pytest.mark.parametrize("args, message", [
    (["corpus", "build", "no-such-folder", "--out", "c"], "source not found"),
    (["corpus", "build", "src", "--out", "c", "--size", "4"], "--size"),
    (["corpus", "build", "empty", "--out", "c"], "no files found"),
    (["corpus", "build", "bad", "--out", "c"], "no usable images"),
    (["corpus", "build", "src", "--out", "blocker/c"], "cannot write"),
    (["corpus", "build", "src", "--out", "c", "--where", "genre"], "--where"),
])
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path, args, message):
    good(1).save((tmp_path / "src").mkdir() or tmp_path / "src" / "a.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"nope")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    run = belamy(*args, cwd=tmp_path)
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "c").exists()
