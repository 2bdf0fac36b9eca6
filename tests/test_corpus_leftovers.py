"""A killed `corpus build` leaves nothing running and nothing half-built; one build at a time per folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_portraits
from PIL import Image

from belamy.corpus.build import build_corpus
from belamy.errors import BelamyError
from belamy.utils.lock import RunLock


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def many_paintings(tmp_path: Path) -> Path:
    folder = tmp_path / "paintings"
    folder.mkdir()
    for i, pixels in enumerate(synthetic_portraits(300, 256, seed=4)):
        Image.fromarray(pixels).save(folder / f"p{i:03d}.png")
    return folder


@pytest.mark.slow
def test_kill_9_of_a_build_kills_its_workers_and_the_next_build_cleans_up(many_paintings: Path, tmp_path: Path):
    out = tmp_path / "corpus"
    build_corpus([many_paintings], out, size=32, workers=1)  # an existing corpus, to be replaced
    proc = subprocess.Popen([sys.executable, "-m", "belamy", "corpus", "build", str(many_paintings), "--out", str(out),
                             "--size", "64", "--workers", "2", "--dedupe-distance", "-1"],
                            env=dict(os.environ, BELAMY_QUIET="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while len(workers) < 3 and time.monotonic() < deadline:  # the fork server and its decoders
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        workers = _descendants(proc.pid)
        time.sleep(0.05)
    assert workers, "no worker processes appeared"
    assert list(tmp_path.glob(".corpus.building-*"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived the killed build"
    assert (out / "corpus.json").is_file()  # the old corpus is intact
    assert np.load(out / "images.npy", mmap_mode="r").shape[1] == 32

    build_corpus([many_paintings], out, size=16, workers=1)
    assert not list(tmp_path.glob(".corpus.building-*")) and not list(tmp_path.glob(".corpus.old-*"))


def test_a_corpus_moved_aside_by_a_killed_build_is_put_back(many_paintings: Path, tmp_path: Path):
    out = tmp_path / "corpus"
    build_corpus([many_paintings], out, size=16, workers=1, limit=8)
    aside = tmp_path / ".corpus.old-abc123"
    aside.mkdir()
    os.replace(out, aside / "corpus")  # as if killed between moving the old corpus out and the new one in
    with RunLock(tmp_path, name=".elsewhere.lock"):
        pass
    from belamy.corpus.build import _recover_after_a_killed_build

    _recover_after_a_killed_build(out)
    assert (out / "corpus.json").is_file() and not aside.exists()


def test_a_second_build_into_the_same_folder_is_refused(many_paintings: Path, tmp_path: Path):
    out = tmp_path / "corpus"
    with RunLock(tmp_path, what="corpus build", name=".corpus.lock"):
        with pytest.raises(BelamyError, match=f"corpus is being written by process {os.getpid()}"):
            build_corpus([many_paintings], out, size=16, workers=1, limit=4)
    assert not out.exists()
