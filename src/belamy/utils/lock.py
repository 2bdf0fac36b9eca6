"""One writer per folder: a run folder, or a corpus being built.

The lock is an ``flock`` on a lock file (``RUN/.lock``): the kernel drops it when the holder exits,
``kill -9`` included, so a stale lock never blocks a resume. The file names the holder's PID for the
message a second writer gets. With the lock held, anything half-written there belongs to a dead writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from belamy.errors import BelamyError

LOCK_NAME = ".lock"


class RunLock:
    """An exclusive lock on ``root/name`` (the run folder's own ``.lock`` by default)."""

    def __init__(self, root: Path, what: str = "run", name: str = LOCK_NAME, remove_on_release: bool = False):
        self.root, self.what, self.name = Path(root), what, name
        self.remove_on_release = remove_on_release  # for a lock file beside the user's folders, not inside a run
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / self.name, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BelamyError(f"cannot write to {self.root}: {exc.strerror or exc}", "choose another --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            target = self.root if self.name == LOCK_NAME else self.root / self.name.removeprefix(".").removesuffix(".lock")
            raise BelamyError(f"{target} is being written by {who} (another belamy {self.what})",
                              "wait for it to finish or stop it, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            if self.remove_on_release:
                with contextlib.suppress(OSError):
                    (self.root / self.name).unlink()
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
