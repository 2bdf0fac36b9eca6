"""Opening a built corpus for training: one memory-mapped uint8 array plus its manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from belamy.errors import BelamyError
from belamy.utils import untrusted
from belamy.utils.aspect import aspect_of, size_of
from belamy.utils.atomic import read_jsonl

FORMAT = "belamy-corpus"


@dataclass
class Corpus:
    path: Path
    images: np.ndarray  # [N, height, width, 3] uint8, memory-mapped
    size: int  # the nominal size (--size): the side for a square corpus, see belamy.utils.aspect
    info: dict = field(default_factory=dict)
    _manifest: list[dict] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    @property
    def aspect(self) -> str:
        """``1:1``, ``4:5`` or ``3:4`` (width:height)."""
        return aspect_of(self.height, self.width) or "1:1"

    @property
    def manifest(self) -> list[dict]:
        if self._manifest is None:
            manifest = read_jsonl(self.path / "manifest.jsonl")
            if len(manifest) != len(self.images):
                raise BelamyError(
                    f"{self.path / 'manifest.jsonl'} lists {len(manifest)} images but images.npy holds {len(self.images)}",
                    "rebuild the corpus",
                )
            self._manifest = manifest
        return self._manifest


def open_corpus(path: str | Path) -> Corpus:
    """Open a corpus folder: ``images`` memory-mapped read-only, ``manifest`` read on first use.

    Raises :class:`BelamyError` for a missing folder, a folder that is not a corpus, an empty corpus
    or a damaged or mismatched ``images.npy``.
    """
    path = Path(path)
    hint = "build one with `belamy corpus build SOURCE --out CORPUS`"
    if not path.is_dir():
        raise BelamyError(f"no corpus at {path}", hint)
    try:
        info = untrusted.read_json(path / "corpus.json", str(path / "corpus.json"), finite=False)
    except FileNotFoundError:
        raise BelamyError(f"no corpus at {path} (corpus.json missing)", hint) from None
    except ValueError as exc:
        raise BelamyError(f"{path / 'corpus.json'} is damaged ({exc})", "rebuild the corpus") from None
    if info.get("format") != FORMAT:
        raise BelamyError(f"{path} is not a belamy corpus", hint)
    try:
        images = np.load(path / "images.npy", mmap_mode="r")
    except FileNotFoundError:
        raise BelamyError(f"{path / 'images.npy'} is missing", "rebuild the corpus") from None
    except (ValueError, OSError) as exc:
        raise BelamyError(f"{path / 'images.npy'} is damaged ({exc})", "rebuild the corpus") from None
    if (images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8
            or aspect_of(images.shape[1], images.shape[2]) is None):
        raise BelamyError(f"{path / 'images.npy'} has shape {images.shape} {images.dtype}", "rebuild the corpus")
    if len(images) == 0:
        raise BelamyError(f"the corpus at {path} is empty", "build it from a folder with readable paintings")
    height, width = int(images.shape[1]), int(images.shape[2])
    expected = (info.get("height", info.get("size")), info.get("width", info.get("size")))
    if expected != (None, None) and expected != (height, width):
        raise BelamyError(f"{path} says {expected[1]}×{expected[0]} images but holds {width}×{height}", "rebuild the corpus")
    if info.get("count") not in (None, len(images)):
        raise BelamyError(f"{path} says {info['count']} images but holds {len(images)}", "rebuild the corpus")
    return Corpus(path=path, images=images, size=size_of(height, width), info=info)


def write_subset(corpus: Corpus, indices, out: str | Path) -> Path:
    """A new corpus at ``out`` holding only the images at ``indices`` (in that order), with their manifest
    records: e.g. a training split whose held-out paintings a model never sees. Written atomically."""
    from belamy.utils.atomic import atomic_open, atomic_path, write_json

    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "corpus.json").is_file())):
        raise BelamyError(f"{out} holds files that are not a belamy corpus", "choose an empty or new folder")
    picked = np.asarray(indices, dtype=np.int64)
    if len(picked) == 0 or picked.min() < 0 or picked.max() >= len(corpus):
        raise BelamyError(f"a subset of {len(picked)} images must pick from the {len(corpus)} of {corpus.path}",
                          "give indices from 0 to the corpus size - 1")
    manifest = corpus.manifest
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "images.npy") as tmp:
        np.save(tmp, np.asarray(corpus.images[picked]))
    with atomic_open(out / "manifest.jsonl") as fh:
        for new, old in enumerate(picked.tolist()):
            fh.write(json.dumps({**manifest[old], "index": new, "subset_of": str(corpus.path), "subset_index": old},
                                ensure_ascii=False) + "\n")
    for name in ("rejects.jsonl", "duplicates.jsonl"):
        with atomic_open(out / name) as fh:
            fh.write("")
    write_json(out / "corpus.json", {**corpus.info, "count": len(picked), "subset_of": str(corpus.path)})
    return out
