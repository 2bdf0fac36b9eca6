"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A reader (or a crash, or ``kill -9``) never sees a half-written file: it sees the
old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from belamy.utils import untrusted


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
    try:
        yield tmp
        # mkstemp makes owner-only files, and some writers (safetensors) make the file anew: a finished
        # file gets the usual permissions (0666 minus umask) once written.
        os.chmod(tmp, 0o666 & ~_umask())
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if is_disk_full(exc):
            raise disk_full(target) from None
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
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(Path(target)) from None
        raise


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
            records.append(untrusted.loads_json(line, f"a line of {p.name}", finite=False))
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


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file, or a folder's entries (a rename into it), to disk; a file system that cannot is let be."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC or a quota, however the writing library reports it (safetensors wraps the OS error in text)."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text or "Disk quota exceeded" in text


def disk_full(target: Path):
    """One clear line: what could not be written, where the space ran out, and what to do."""
    from belamy.errors import BelamyError

    mount = Path(target).resolve().parent
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    try:
        free = f"{shutil.disk_usage(mount).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    return BelamyError(f"the disk is full: could not write {target} ({free} on {mount})",
                       "free space there, or choose another --out, then run it again (nothing already written was lost)")
