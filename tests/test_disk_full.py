"""A full disk: one line naming what could not be written and where, exit 2, no half-written files."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from belamy.errors import BelamyError
from belamy.provenance.embed import save_png
from belamy.utils import atomic


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_clear_error_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "out" / "picture.png"
    target.parent.mkdir()
    monkeypatch.setattr(atomic, "fsync_path", _no_space)
    with pytest.raises(BelamyError, match=r"the disk is full: could not write .*picture\.png \(.* MB free on .*\).*free space"):
        save_png(np.zeros((8, 8, 3), np.uint8), target)
    assert list(target.parent.iterdir()) == []


def test_a_library_that_reports_the_full_disk_in_words_is_understood_too(tmp_path: Path):
    class SafetensorLikeError(Exception):
        pass

    with pytest.raises(BelamyError, match="the disk is full"):
        with atomic.atomic_path(tmp_path / "w.safetensors") as tmp:
            tmp.write_bytes(b"x")
            raise SafetensorLikeError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 96 KB file system (tmpfs), where the machine lets us mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small file system here (the in-process tests above cover the class)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_generate_into_a_full_disk_exits_2_with_one_line_and_keeps_what_fitted(tiny_run: Path, tiny_disk: Path):
    out = tiny_disk / "pictures"
    result = subprocess.run([sys.executable, "-m", "belamy", "generate", str(tiny_run), "--n", "256", "--out", str(out),
                             "--device", "cpu"], capture_output=True, text=True, env=dict(os.environ, BELAMY_QUIET="1"))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "the disk is full" in lines[-1] and "Traceback" not in result.stderr
    leftovers = [p for p in out.rglob("*") if ".tmp" in p.name]
    assert leftovers == []
    written = sorted(out.glob("seed-*.png"))
    assert written  # what fitted is still there, whole
    from PIL import Image

    for path in written:
        Image.open(path).load()
