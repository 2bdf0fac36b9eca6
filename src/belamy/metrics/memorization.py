"""Does the generator copy its training paintings? A nearest-neighbour memorisation score.

Each image becomes a small feature vector (area-downsampled to 16², per-image mean removed, so a
copy with a slight brightness change still counts as a copy). For each generated image we take the
distance to its nearest training image and divide it by the *typical* nearest-neighbour distance
between training images (the median, each training image against the others). A ratio near 0 is
a near-copy; around 1 or more, the image is as far from the corpus as the paintings are from each
other. We report the median ratio and the fraction below ``threshold`` (flagged as close copies).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from belamy.metrics.swd import as_float_nchw

FEATURE_SIZE = 16


@dataclass
class MemorizationReport:
    median_ratio: float
    fraction_copies: float
    threshold: float
    typical_train_distance: float
    ratios: list[float] = field(repr=False)
    nearest: list[int] = field(repr=False)  # index of each generated image's nearest training image

    def to_dict(self, with_lists: bool = False) -> dict:
        data = asdict(self)
        if not with_lists:
            data.pop("ratios"), data.pop("nearest")
        return data


def features(images, size: int = FEATURE_SIZE, batch: int = 256) -> torch.Tensor:
    """[N, 3·size·size]: area-downsampled pixels in [0, 1], each image's mean colour removed."""
    x = as_float_nchw(images)
    out = []
    for start in range(0, len(x), batch):
        block = x[start : start + batch] / 255.0
        h, w = block.shape[2:]
        small = F.adaptive_avg_pool2d(block, (size, max(1, round(size * w / h))))
        small = small - small.mean(dim=(2, 3), keepdim=True)
        out.append(small.flatten(1))
    return torch.cat(out)


def _nearest(query: torch.Tensor, bank: torch.Tensor, exclude_self: bool = False, chunk: int = 1024):
    dists, index = [], []
    for start in range(0, len(query), chunk):
        d = torch.cdist(query[start : start + chunk].double(), bank.double())
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + start] = float("inf")
        best = d.min(dim=1)
        dists.append(best.values)
        index.append(best.indices)
    return torch.cat(dists), torch.cat(index)


def memorization(generated, training, threshold: float = 0.5) -> MemorizationReport:
    """Nearest-training-image distances of ``generated``, relative to the corpus's own spacing.

    Images: uint8 [N, H, W, 3] arrays or float [N, 3, H, W] tensors in 0..255 (any shared shape).
    """
    gen_f, train_f = features(generated), features(training)
    if gen_f.shape[1] != train_f.shape[1]:
        raise ValueError("generated and training images must have the same aspect ratio")
    if len(train_f) < 2:
        raise ValueError("memorisation needs at least 2 training images")
    train_nn, _ = _nearest(train_f, train_f, exclude_self=True)
    typical = float(train_nn.median())
    gen_nn, nearest = _nearest(gen_f, train_f)
    ratios = (gen_nn / max(typical, 1e-12)).numpy()
    return MemorizationReport(
        median_ratio=float(np.median(ratios)), fraction_copies=float((ratios < threshold).mean()),
        threshold=threshold, typical_train_distance=typical, ratios=[float(r) for r in ratios],
        nearest=[int(i) for i in nearest],
    )
