"""Atomic writes: a failed write leaves the old file; a finished one has ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from belamy.utils.atomic import append_jsonl, atomic_open, read_jsonl, write_text


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path):
    target = tmp_path / "result.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]


def test_finished_file_follows_the_umask(tmp_path: Path):
    previous = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_a_safetensors_checkpoint_follows_the_umask_too(tmp_path: Path):
    # safetensors makes its file anew, with owner-only permissions: a run folder shared with a group
    # (or served by the studio under another user) must still be readable like its JSON beside it.
    import torch

    from belamy.trainer.checkpoint import save_checkpoint

    previous = os.umask(0o022)
    try:
        json_path = save_checkpoint(tmp_path, 1, {"w": torch.zeros(2)}, {"kind": "test"})
    finally:
        os.umask(previous)
    files = sorted(tmp_path.iterdir())
    assert [p.suffix for p in files] == [".json", ".safetensors"] and json_path in files
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in files)


def test_jsonl_reader_skips_a_torn_last_line(tmp_path: Path):
    path = tmp_path / "m.jsonl"
    append_jsonl(path, {"a": 1})
    with open(path, "a") as fh:
        fh.write('{"a": 2, "b"')  # a crash in the middle of a line
    assert read_jsonl(path) == [{"a": 1}]
