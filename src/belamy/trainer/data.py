"""Real images for training: a resumable, deterministic stream of batches from a corpus.

The order is a fresh permutation per epoch, seeded by (seed, epoch), and the position in it is
part of the checkpoint, so a resumed run sees exactly the batches the uninterrupted one would.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from belamy.errors import BelamyError
from belamy.utils.progress import console


def fit_shape(images: np.ndarray, height: int, width: int, chunk: int = 256) -> np.ndarray:
    """Images at ``height``×``width``: the corpus array itself when it matches, else a copy that is
    centre-cropped to the target's aspect (when the corpus has another) and area-downsampled.

    A portrait target from a square corpus keeps the full height and crops the sides; a square
    target from a portrait corpus keeps the full width and crops top and bottom.
    """
    rows, cols = int(images.shape[1]), int(images.shape[2])
    if (rows, cols) == (height, width):
        return images
    # The largest centred crop with the target's aspect.
    crop_h, crop_w = (rows, round(rows * width / height)) if rows * width <= cols * height else (round(cols * height / width), cols)
    if crop_h < height or crop_w < width:
        lower = f"train at --res {min(rows, cols)} or smaller" if height == width else \
            f"the corpus gives at most {crop_w}×{crop_h} in that shape: lower --res"
        raise BelamyError(f"the corpus is {cols}×{rows}, too small for {width}×{height} training images",
                          f"{lower}, or rebuild the corpus with a larger --size")
    top, left = (rows - crop_h) // 2, (cols - crop_w) // 2
    if (crop_h, crop_w) == (rows, cols):
        console.print(f"downsampling the corpus from {cols}×{rows} to {width}×{height} for training")
    else:
        console.print(f"cropping the corpus from {cols}×{rows} to the shape of {width}×{height} for training")
    out = np.empty((len(images), height, width, images.shape[3]), dtype=np.uint8)
    for start in range(0, len(images), chunk):
        # a writable copy of the memmap rows, as torch wants
        block = np.array(images[start : start + chunk, top : top + crop_h, left : left + crop_w], order="C")
        block = torch.from_numpy(block).permute(0, 3, 1, 2).float()
        small = F.interpolate(block, size=(height, width), mode="area")
        out[start : start + chunk] = small.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return out


def corpus_labels(manifest: list[dict], field: str, one_class_hint: str | None = None) -> tuple[list[str], np.ndarray]:
    """Class names (sorted) and one class index per image, from a manifest field.

    ``field`` is a manifest key (``style``, ``label``, ...) or ``folder``: the name of the folder the
    source file was in, which is how ``wikiart-styles/<style>/`` is labelled. A field with one value
    is refused (with ``one_class_hint`` as the hint, when given).
    """
    values = []
    for i, record in enumerate(manifest):
        if field == "folder":
            source = str(record.get("source", ""))
            value = source.replace("\\", "/").rstrip("/").rsplit("/", 2)[-2] if "/" in source else None
        else:
            value = record.get(field)
        if value is None or value == "":
            raise BelamyError(
                f"image {i} of the corpus has no {field!r} label",
                "use --labels with a field every manifest record has (or --labels folder)",
            )
        values.append(str(value))
    names = sorted(set(values))
    if len(names) < 2:
        raise BelamyError(f"--labels {field} gives only one class ({names[0]!r})",
                          one_class_hint or "choose a field that varies, or drop --labels")
    if len(names) > 1000:
        raise BelamyError(f"--labels {field} gives {len(names)} classes", "choose a field with at most 1000 values")
    index = {n: i for i, n in enumerate(names)}
    return names, np.array([index[v] for v in values], dtype=np.int64)


class RealBatches:
    """Batches of real images in [-1, 1], NCHW, with optional horizontal mirroring."""

    def __init__(self, images: np.ndarray, batch: int, seed: int, mirror: bool, device: torch.device,
                 channels_last: bool = True, shard: tuple[int, int] = (0, 1), labels: np.ndarray | None = None):
        if len(images) == 0:
            raise BelamyError("the corpus holds no images", "build it from a folder with paintings in it")
        self.images = images
        self.labels = labels
        self.last_labels: torch.Tensor | None = None
        self.batch = batch
        self.seed = seed
        self.mirror = mirror
        self.device = device
        self.channels_last = channels_last
        self.rank, self.world = shard
        self.epoch = 0
        self.cursor = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.images), generator=g).numpy()
        return order[self.rank :: self.world] if self.world > 1 else order

    def state(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def restore(self, state: dict) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._order = self._permutation(self.epoch)

    def _next_indices(self) -> np.ndarray:
        picked = []
        need = self.batch
        while need:
            take = self._order[self.cursor : self.cursor + need]
            picked.append(take)
            need -= len(take)
            self.cursor += len(take)
            if self.cursor >= len(self._order):
                self.epoch += 1
                self.cursor = 0
                self._order = self._permutation(self.epoch)
        return np.concatenate(picked)

    def next(self, generator: torch.Generator) -> torch.Tensor:
        idx = np.sort(self._next_indices())  # sorted reads are kinder to a memory-mapped file
        if self.labels is not None:
            self.last_labels = torch.from_numpy(self.labels[idx]).to(self.device)
        batch = torch.from_numpy(self.images[idx])  # [B, H, W, C] uint8
        if self.mirror:
            flip = torch.rand(len(idx), generator=generator) < 0.5
            batch[flip] = batch[flip].flip(2)
        batch = batch.to(self.device, non_blocking=True)
        # NHWC storage viewed as NCHW is already channels-last: no copy, and the float cast keeps it.
        x = batch.permute(0, 3, 1, 2)
        if not self.channels_last:
            x = x.contiguous()
        return x.float().div_(127.5).sub_(1.0)
