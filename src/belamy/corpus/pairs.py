"""`belamy corpus pairs`: aligned (condition, painting) pairs for image-to-image training (pix2pix).

A pair corpus is a corpus (``images.npy`` holds the paintings, so every corpus tool reads it) with
one more array, ``conditions.npy``: uint8 [N, height, width, 3], row i the condition of painting i.
``corpus.json`` says ``"kind": "pairs"`` and where the conditions came from (``"from"``):

- ``edges``: a line drawing of each painting (see :mod:`belamy.corpus.edges`), black on white;
- ``landmarks`` / ``pose``: face markers or an OpenPose-style stick figure (see
  :mod:`belamy.corpus.skeleton`) of the keypoints a local ONNX model finds (see
  :mod:`belamy.corpus.keypoints`); paintings where it finds too few points are rejected;
- ``folders``: two folders of images paired by file name (``--a`` conditions, ``--b`` paintings),
  e.g. an artist's own sketches and the paintings made from them.

The manifest keeps each painting's record and adds what its condition is (the keypoints, for
poses). ``contact_sheet.png`` shows pairs side by side. It is built in a staging folder and swapped
in whole, as ``corpus build`` does.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from belamy.corpus.contact import pick_evenly
from belamy.corpus.store import FORMAT, Corpus, open_corpus
from belamy.errors import BelamyError
from belamy.provenance.embed import save_png
from belamy.utils.aspect import shape_for, size_of
from belamy.utils.atomic import atomic_open, atomic_path, write_json
from belamy.utils.grid import make_grid
from belamy.utils.imageio import to_rgb
from belamy.utils.progress import make_progress

VERSION = 1
SOURCES = ("edges", "landmarks", "pose")
FITS = ("pad", "crop")
CONTACT_PAIRS = 40
# The background of each kind of condition: what padding and transparency become.
BACKGROUNDS = {"edges": (255, 255, 255), "folders": (255, 255, 255), "landmarks": (0, 0, 0), "pose": (0, 0, 0)}
MIN_POINTS = {"landmarks": 5, "pose": 4}  # fewer visible points than this: nothing to learn from


@dataclass
class PairCorpus:
    """A pair corpus opened for training: paintings (``corpus.images``) and their ``conditions``."""

    corpus: Corpus
    conditions: np.ndarray  # [N, height, width, 3] uint8, memory-mapped

    @property
    def source(self) -> str:
        return str(self.corpus.info.get("from", "edges"))

    def __len__(self) -> int:
        return len(self.corpus)


@dataclass
class PairsReport:
    out: Path
    source: str
    shape: tuple[int, int]
    read: int = 0
    accepted: int = 0
    rejects: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def print_summary(self, console) -> None:
        height, width = self.shape
        console.print(f"pairs {self.out}: {self.accepted} of {self.read} ({self.source}, {width}×{height}); "
                      f"{len(self.rejects)} rejected; {self.seconds:.1f} s")
        for reason, count in _reasons(self.rejects).items():
            console.print(f"  rejected: {reason} × {count}")


def _reasons(rejects: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rejects:
        key = r["reason"].split(":", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    return counts


def open_pairs(path: str | os.PathLike) -> PairCorpus:
    """Open a pair corpus; a plain corpus, a missing or mismatched ``conditions.npy`` is one clear error."""
    corpus = open_corpus(path)
    if corpus.info.get("kind") != "pairs":
        raise BelamyError(f"{corpus.path} holds paintings without conditions",
                          f"make pairs from it first: belamy corpus pairs {corpus.path} --out PAIRS")
    try:
        conditions = np.load(corpus.path / "conditions.npy", mmap_mode="r")
    except FileNotFoundError:
        raise BelamyError(f"{corpus.path / 'conditions.npy'} is missing", "rebuild the pairs") from None
    except (ValueError, OSError) as exc:
        raise BelamyError(f"{corpus.path / 'conditions.npy'} is damaged ({exc})", "rebuild the pairs") from None
    if conditions.shape != corpus.images.shape or conditions.dtype != np.uint8:
        raise BelamyError(f"{corpus.path}: conditions {conditions.shape} do not match paintings {corpus.images.shape}",
                          "rebuild the pairs")
    return PairCorpus(corpus=corpus, conditions=conditions)


# --------------------------------------------------------------------------- preparing one condition


def fit_image(image: Image.Image | np.ndarray, height: int, width: int, fit: str = "pad",
              background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Any picture (any size, any mode) as uint8 [height, width, 3], the way conditions are prepared.

    ``pad``: scaled to fit inside, centred, the rest filled with ``background`` (nothing is lost);
    ``crop``: scaled to cover, the middle kept. Transparency is composited over ``background``.
    """
    if fit not in FITS:
        raise BelamyError(f"unknown fit {fit!r}", f"use one of {', '.join(FITS)}")
    im = Image.fromarray(np.asarray(image, dtype=np.uint8)) if isinstance(image, np.ndarray) else image
    im = to_rgb(im, background=background)
    if im.size == (width, height):
        return np.asarray(im, dtype=np.uint8).copy()
    scale = (min if fit == "pad" else max)(width / im.width, height / im.height)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    resized = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = Image.new("RGB", (width, height), background)
    canvas.paste(resized, ((width - size[0]) // 2, (height - size[1]) // 2))
    return np.asarray(canvas, dtype=np.uint8).copy()


class ConditionMaker:
    """Derives the condition of one painting: a line drawing, or keypoints drawn as a figure."""

    def __init__(self, source: str = "edges", model: str | os.PathLike | None = None, edge_method: str = "xdog",
                 threshold: float = 0.3):
        if source not in SOURCES:
            raise BelamyError(f"--from {source} is not known", f"use one of {', '.join(SOURCES)}")
        self.source, self.edge_method, self.threshold = source, edge_method, threshold
        self.detector = None
        if source == "edges":
            from belamy.corpus.edges import EDGE_METHODS

            if edge_method not in EDGE_METHODS:
                raise BelamyError(f"--edges {edge_method} is not known", f"use one of {', '.join(EDGE_METHODS)}")
            if model is not None:
                raise BelamyError("--model is for --from landmarks or pose", "line drawings need no model: drop --model")
        else:
            if model is None:
                raise BelamyError(f"--from {source} needs a keypoint model file",
                                  "pass --model PATH to a local .onnx model (see `belamy corpus pairs --help`)")
            from belamy.corpus.keypoints import open_keypoint_model

            self.detector = open_keypoint_model(model)
        if not 0.0 <= threshold <= 1.0:
            raise BelamyError(f"--threshold {threshold} is out of range", "use a confidence from 0 to 1")

    def describe(self) -> dict:
        if self.detector is None:
            return {"from": self.source, "method": self.edge_method}
        return {"from": self.source, "model": self.detector.path.name, "model_sha256": self.detector.sha256,
                "threshold": self.threshold}

    def make(self, rgb: np.ndarray) -> tuple[np.ndarray | None, dict]:
        """(condition, what to record) for a uint8 RGB painting; condition None when no figure is found."""
        if self.detector is None:
            from belamy.corpus.edges import line_drawing

            return line_drawing(rgb, self.edge_method), {}
        from belamy.corpus.skeleton import draw_skeleton

        points = self.detector.detect(rgb)
        visible = int((points[:, 2] >= self.threshold).sum())
        record = {"keypoints": [[round(float(x), 2), round(float(y), 2), round(float(c), 3)] for x, y, c in points]}
        if visible < MIN_POINTS[self.source]:
            return None, {**record, "reason": f"no {'face' if self.source == 'landmarks' else 'figure'} found: "
                                              f"{visible} of {len(points)} points above {self.threshold}"}
        h, w = rgb.shape[:2]
        return draw_skeleton(self.source, points, h, w, self.threshold), record


# --------------------------------------------------------------------------- building


def build_pairs(
    corpus: str | os.PathLike, out: str | os.PathLike, *, source: str = "edges", model: str | os.PathLike | None = None,
    edge_method: str = "xdog", threshold: float = 0.3,
) -> PairsReport:
    """Derive a condition from every painting of ``corpus`` and write the pairs to ``out``."""
    started = time.perf_counter()
    src = open_corpus(corpus)
    maker = ConditionMaker(source, model, edge_method, threshold)
    out = Path(out).expanduser().resolve()
    if out == src.path.resolve():
        raise BelamyError("--out is the corpus itself", "write the pairs to a new folder")
    height, width = src.height, src.width
    report = PairsReport(out=out, source=source, shape=(height, width))
    manifest = src.manifest

    def items():
        for i in range(len(src)):
            painting = np.asarray(src.images[i])
            condition, record = maker.make(painting)
            entry = {**{k: v for k, v in manifest[i].items() if k != "index"}, "corpus_index": i}
            if condition is None:
                yield None, None, {"path": manifest[i].get("source", f"#{i}"), "index": i, **record}
            else:
                yield condition, painting, {**entry, "condition": {**maker.describe(), **record}}

    info = {"from": source, "source_corpus": str(src.path.resolve()), "options": maker.describe(),
            "sources": src.info.get("sources", [str(src.path)])}
    _write_pairs(out, items(), len(src), (height, width), src.info.get("aspect", src.aspect), info, report)
    report.seconds = time.perf_counter() - started
    return report


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


def _images_by_stem(folder: Path, flag: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise BelamyError(f"{flag} {folder} is not a folder", "give a folder of images")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            found.setdefault(p.stem, p)  # a.png and a.jpg: the first one by name
    return found


def _read_rgb(path: Path, background: tuple[int, int, int]) -> Image.Image:
    from PIL import ImageOps

    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        return to_rgb(im, background=background)


def build_pairs_from_folders(
    a: str | os.PathLike, b: str | os.PathLike, out: str | os.PathLike, *, size: int = 256, aspect: str = "1:1",
    fit: str = "crop",
) -> PairsReport:
    """Pair ``a/NAME.*`` (conditions) with ``b/NAME.*`` (paintings), both fitted to one shape the same way.

    A condition of another size than its painting is first scaled to the painting's size, so that a
    sketch drawn at half size still lies on the painting. Unmatched names and unreadable files go to
    ``rejects.jsonl``.
    """
    started = time.perf_counter()
    if fit not in FITS:
        raise BelamyError(f"--fit {fit} is not known", f"use one of {', '.join(FITS)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 4096:
        raise BelamyError(f"--size {size!r} is out of range", "use 8 to 4096 pixels, e.g. --size 256")
    height, width = shape_for(size, aspect)
    a, b = Path(a).expanduser(), Path(b).expanduser()
    conds, paints = _images_by_stem(a, "--a"), _images_by_stem(b, "--b")
    names = sorted(set(conds) & set(paints))
    report = PairsReport(out=Path(out).expanduser().resolve(), source="folders", shape=(height, width))
    for name in sorted(set(conds) ^ set(paints)):
        path, other = (conds[name], "--b") if name in conds else (paints[name], "--a")
        report.rejects.append({"path": str(path), "reason": f"unmatched: no {name}.* in {other}"})
    if not names:
        raise BelamyError(f"no file name is in both {a} and {b}",
                          "the condition and the painting of a pair need the same name (any image suffix)")
    background = BACKGROUNDS["folders"]

    def items():
        for name in names:
            try:
                painting = _read_rgb(paints[name], (255, 255, 255))
                condition = _read_rgb(conds[name], background)
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                yield None, None, {"path": name, "reason": f"unreadable: {str(exc).splitlines()[0][:160]}"}
                continue
            if condition.size != painting.size:
                condition = condition.resize(painting.size, Image.Resampling.LANCZOS)
            entry = {"source": str(paints[name].resolve()), "sha256": _sha256(paints[name]),
                     "width": painting.width, "height": painting.height, "title": name, "year": None,
                     "condition": {"from": "folders", "source": str(conds[name].resolve()),
                                   "sha256": _sha256(conds[name])}}
            yield (fit_image(condition, height, width, fit, background),
                   fit_image(painting, height, width, fit, (255, 255, 255)), entry)

    info = {"from": "folders", "sources": [str(a.resolve()), str(b.resolve())], "options": {"fit": fit}}
    _write_pairs(report.out, items(), len(names), (height, width), aspect, info, report)
    report.read += sum(1 for r in report.rejects if r["reason"].startswith("unmatched"))
    report.seconds = time.perf_counter() - started
    return report


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_pairs(out: Path, items: Iterator[tuple], total: int, shape: tuple[int, int], aspect: str, info: dict,
                 report: PairsReport) -> None:
    """Stream (condition, painting, record) items into a staged pair corpus and swap it in at ``out``;
    an item whose condition is None is a reject (its record has the reason)."""
    from belamy.corpus.build import _prepare_out, _swap_in

    height, width = shape
    staging = _prepare_out(out)
    try:
        raw_cond, raw_img = staging / ".conditions.raw", staging / ".images.raw"
        entries: list[dict] = []
        with open(raw_cond, "wb") as fc, open(raw_img, "wb") as fi, make_progress("img") as progress:
            task = progress.add_task(f"pairs ({info['from']})", total=total)
            for condition, painting, record in items:
                report.read += 1
                progress.advance(task)
                if condition is None:
                    report.rejects.append(record)
                    continue
                fc.write(np.ascontiguousarray(condition, dtype=np.uint8).tobytes())
                fi.write(np.ascontiguousarray(painting, dtype=np.uint8).tobytes())
                entries.append({"index": len(entries), **record})
        report.accepted = len(entries)
        if not entries:
            reasons = ", ".join(f"{n} {r}" for r, n in _reasons(report.rejects).items()) or "nothing to read"
            raise BelamyError(f"no pairs could be made ({reasons})",
                              "see the reasons; a lower --threshold accepts less certain keypoints")
        n = len(entries)
        for raw, name in ((raw_cond, "conditions.npy"), (raw_img, "images.npy")):
            source = np.memmap(raw, dtype=np.uint8, mode="r", shape=(n, height, width, 3))
            with atomic_path(staging / name) as tmp:
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, height, width, 3))
                for start in range(0, n, 512):
                    arr[start : start + 512] = source[start : start + 512]
                arr.flush()
                del arr
            del source
        with atomic_open(staging / "manifest.jsonl") as fh:
            for entry in entries:
                fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        with atomic_open(staging / "rejects.jsonl") as fh:
            for r in report.rejects:
                fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        (staging / "duplicates.jsonl").write_text("", encoding="utf-8")
        conditions = np.load(staging / "conditions.npy", mmap_mode="r")
        images = np.load(staging / "images.npy", mmap_mode="r")
        chosen = pick_evenly(n, CONTACT_PAIRS)
        save_png(pair_sheet(conditions[chosen], images[chosen]), staging / "contact_sheet.png",
                 provenance={"corpus": str(out), "indices": chosen, "kind": "pairs"})
        del conditions, images
        raw_cond.unlink()
        raw_img.unlink()
        write_json(staging / "corpus.json", {
            "format": FORMAT, "version": VERSION, "kind": "pairs", "size": size_of(height, width), "aspect": aspect,
            "height": height, "width": width, "count": n,
            "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "read": report.read, "rejected": len(report.rejects), **info,
        })
        _swap_in(staging, out)
    except OSError as exc:
        raise BelamyError(f"cannot write the pairs to {out}: {exc.strerror or exc}",
                          "check free disk space and permissions") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def pair_sheet(conditions: np.ndarray, images: np.ndarray, tile: int = 96, cols: int = 4) -> Image.Image:
    """Pairs side by side (condition | painting), ``cols`` pairs a row, each picture ``tile`` px on its long side."""
    tiles = []
    for cond, img in zip(conditions, images, strict=True):
        h, w = cond.shape[:2]
        scale = tile / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        a = np.asarray(Image.fromarray(np.asarray(cond)).resize(size, Image.Resampling.LANCZOS))
        b = np.asarray(Image.fromarray(np.asarray(img)).resize(size, Image.Resampling.LANCZOS))
        tiles.append(np.concatenate([a, np.full((size[1], 2, 3), 16, np.uint8), b], axis=1))
    return Image.fromarray(make_grid(np.stack(tiles), cols=min(cols, len(tiles)), pad=8))
