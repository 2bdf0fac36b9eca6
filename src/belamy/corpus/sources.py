"""Finding the files a corpus is built from, and what their names and sidecars say about them."""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from belamy.errors import BelamyError
from belamy.utils import untrusted

SIDECAR = "metadata.jsonl"

# Years a painting's file name may plausibly carry; anything else is a catalogue number.
_MIN_YEAR, _MAX_YEAR = 1000, 2099
_CIRCA = {"c", "ca", "circa"}


@dataclass
class SourceFile:
    """One file to read, with the metadata known about it before it is decoded."""

    path: Path
    root: Path  # the source folder it was found under
    meta: dict = field(default_factory=dict)


def parse_name(filename: str) -> dict:
    """Title and year from a file name like ``portrait-of-a-young-man-1502.jpg``.

    Returns ``{"title": ..., "year": ...}`` with None where the name does not say. WikiArt-style
    suffixes (``name.jpg!HalfHD.jpg``), a trailing copy counter (``-2``) and "ca" before a year are
    understood. A bare number (``1010.jpg``) is a catalogue number, not a year or a title.
    """
    name = filename.split("!", 1)[0]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    tokens = [t for t in re.split(r"[-_\s]+", stem) if t]
    year = None
    # The last plausible year that follows at least one word is the date; what follows it
    # ("google-art-project", a copy counter) is not part of the title.
    for i in range(len(tokens) - 1, 0, -1):
        tok = tokens[i]
        if len(tok) == 4 and tok.isdigit() and _MIN_YEAR <= int(tok) <= _MAX_YEAR:
            year = int(tok)
            tokens = tokens[:i]
            while len(tokens) > 1 and tokens[-1].lower() in _CIRCA:
                tokens = tokens[:-1]
            break
    if year is None:
        while len(tokens) > 1 and tokens[-1].isdigit() and len(tokens[-1]) <= 2:
            tokens = tokens[:-1]
    words = " ".join(tokens).strip()
    if not words or words.replace(" ", "").isdigit():
        return {"title": None, "year": year}
    return {"title": words[0].upper() + words[1:], "year": year}


def _read_sidecar(folder: Path) -> dict[Path, dict]:
    """``metadata.jsonl`` in ``folder``: absolute file path -> its fields (``file`` is relative to the folder)."""
    entries: dict[Path, dict] = {}
    try:
        text = (folder / SIDECAR).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return entries
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = untrusted.loads_json(line, f"a line of {folder / SIDECAR}", finite=False)
        except json.JSONDecodeError:
            continue  # a torn or hand-edited line: the image is still read, without its metadata
        if not isinstance(record, dict) or not isinstance(record.get("file"), str):
            continue
        fields = {k: v for k, v in record.items() if k != "file"}
        entries[Path(os.path.normpath(folder / record["file"]))] = fields
    return entries


SCRAPE_STATE = "scrape.sqlite"  # `belamy corpus scrape` keeps its state beside the images


def _skip(name: str) -> bool:
    # Hidden files (.DS_Store, AppleDouble ._x.jpg), sidecars, the scraper's state database (and its
    # -wal/-shm files) and our own partial writes are not paintings.
    return name.startswith(".") or name == SIDECAR or name.startswith(SCRAPE_STATE)


def display_name(name: str) -> str:
    """A file name fit to show or parse: bytes that are not UTF-8 become U+FFFD (the path itself is kept
    exactly, with Python's surrogate escapes, so the file can still be opened)."""
    return os.fsencode(name).decode("utf-8", "replace")


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def not_regular_reason(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not read (None for a regular file): reading a FIFO or a
    device can block forever or never end."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"not a regular file: {kind}"


def find_sources(
    sources: list[str | os.PathLike], exclude: list[Path] | None = None, folder_labels: bool = False,
    rejects: list[dict] | None = None,
) -> list[SourceFile]:
    """Every regular file under the given folders (recursively) or the given files, sorted, once each.

    Paths are kept as the user gave them (made absolute, symbolic links not resolved), so the manifest
    names a painting by the path that was passed; a file reached twice (a link beside its target) is
    read once. Metadata from ``metadata.jsonl`` sidecars (in any folder walked; ``file`` relative to the
    sidecar's folder) and from file names is attached; sidecar fields win over what the name says. With
    ``folder_labels``, a file in a sub-folder of a source gets ``label`` = that sub-folder's name
    (``wikiart-styles/baroque/1.jpg`` -> "baroque" when ``wikiart-styles`` is the source). Folders in
    ``exclude`` (the output corpus) are not entered.

    Nothing is skipped silently: a folder that cannot be listed, a link to a folder (not followed), a
    FIFO, socket or device, or a file that cannot be looked at is added to ``rejects`` with a reason.
    """
    excluded = {p.resolve() for p in (exclude or [])}
    rejects = rejects if rejects is not None else []
    found: dict[Path, Path] = {}  # file -> the source root it came from
    seen: set[tuple[int, int]] = set()  # (device, inode) of every file taken
    sidecars: dict[Path, dict] = {}

    def consider(path: Path, root: Path) -> None:
        try:
            info = path.stat()
        except OSError as exc:
            rejects.append({"path": str(path), "reason": f"cannot read file: {exc.strerror or exc}"})
            return
        reason = not_regular_reason(info.st_mode)
        if reason:
            rejects.append({"path": str(path), "reason": reason})
        elif (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            found.setdefault(path, root)

    def unreadable(exc: OSError) -> None:
        rejects.append({"path": str(exc.filename), "reason": f"cannot read folder: {exc.strerror or exc}"})

    for src in sources:
        root = Path(os.path.abspath(Path(src).expanduser()))
        if not root.exists():
            raise BelamyError(f"source not found: {root}", "pass folders (or files) of paintings that exist")
        if not root.is_dir():
            consider(root, root.parent)
            if (root.parent / SIDECAR).is_file():
                sidecars.update(_read_sidecar(root.parent))
            continue
        for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=False):
            here = Path(dirpath)
            keep = []
            for d in sorted(dirnames):
                if d.startswith(".") or (here / d).resolve() in excluded:
                    continue
                if (here / d).is_symlink():
                    rejects.append({"path": str(here / d), "reason": "not followed: a symbolic link to a folder "
                                                                     "(pass the folder itself as a source)"})
                    continue
                keep.append(d)
            dirnames[:] = keep
            if SIDECAR in filenames:
                sidecars.update(_read_sidecar(here))
            for name in sorted(filenames):
                if not _skip(name):
                    consider(here / name, root)
    out = []
    for path in sorted(found, key=lambda p: p.as_posix()):
        meta = parse_name(display_name(path.name))
        if folder_labels:
            parts = path.relative_to(found[path]).parts
            if len(parts) > 1:
                meta["label"] = display_name(parts[0])
        meta.update(sidecars.get(path, {}))
        out.append(SourceFile(path, found[path], meta))
    return out
