"""Finding the files a corpus is built from, and what their names and sidecars say about them."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from belamy.errors import BelamyError

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
            record = json.loads(line)
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


def find_sources(
    sources: list[str | os.PathLike], exclude: list[Path] | None = None, folder_labels: bool = False
) -> list[SourceFile]:
    """Every file under the given folders (recursively) or the given files, sorted, once each.

    Metadata from ``metadata.jsonl`` sidecars (in any folder walked; ``file`` relative to the sidecar's
    folder) and from file names is attached; sidecar fields win over what the name says. With
    ``folder_labels``, a file in a sub-folder of a source gets ``label`` = that sub-folder's name
    (``wikiart-styles/baroque/1.jpg`` -> "baroque" when ``wikiart-styles`` is the source). Folders in
    ``exclude`` (the output corpus) are not entered.
    """
    excluded = {p.resolve() for p in (exclude or [])}
    found: dict[Path, Path] = {}  # file -> the source root it came from
    sidecars: dict[Path, dict] = {}
    for src in sources:
        root = Path(src).expanduser()
        if not root.exists():
            raise BelamyError(f"source not found: {root}", "pass folders (or files) of paintings that exist")
        root = root.resolve()
        if root.is_file():
            found.setdefault(root, root.parent)
            if (root.parent / SIDECAR).is_file():
                sidecars.update(_read_sidecar(root.parent))
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in excluded)
            if SIDECAR in filenames:
                sidecars.update(_read_sidecar(here))
            for name in filenames:
                if not _skip(name):
                    found.setdefault(here / name, root)
    out = []
    for path in sorted(found, key=lambda p: p.as_posix()):
        meta = parse_name(path.name)
        if folder_labels:
            parts = path.relative_to(found[path]).parts
            if len(parts) > 1:
                meta["label"] = parts[0]
        meta.update(sidecars.get(path, {}))
        out.append(SourceFile(path, found[path], meta))
    return out
