"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A reader (or a crash, or ``kill -9``) never sees a half-written file: it sees the
old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over the target on success.

    Use when a library insists on writing to a path itself (safetensors, PIL, TIFF writers).
    The temporary name keeps the target's suffix so format sniffing by extension still works.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes owner-only files; a finished file gets the usual permissions (0666 minus umask).
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a file for writing that only appears at ``target`` once closed without error."""
    if "b" in mode:
        encoding = None
    with atomic_path(target) as tmp, open(tmp, mode, encoding=encoding) as fh:
        yield fh


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_open(target, "wb") as fh:
        fh.write(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_open(target, "w") as fh:
        fh.write(text)


def write_json(target: str | os.PathLike, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_jsonl(target: str | os.PathLike, record: dict) -> None:
    """Append one JSON line. A single small ``write`` + fsync: a crash leaves at most a torn last line,
    which :func:`read_jsonl` skips."""
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file, ignoring a torn final line left by a crash."""
    records = []
    p = Path(path)
    if not p.exists():
        return records
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def fresh_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new, uniquely named folder in ``parent`` with the permissions ``mkdir`` would give (0777 minus
    umask): ``tempfile.mkdtemp`` makes it owner-only, which a folder renamed into place must not keep."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(folder, 0o777 & ~_umask())
    return folder


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
