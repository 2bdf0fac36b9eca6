"""Images as uint8 arrays and grids of them."""

from __future__ import annotations

import math

import numpy as np
import torch

from belamy.errors import BelamyError

# What a generator that draws NaN, infinity or one flat colour most likely has: weights finite enough to
# load but absurd (1e30 overflows to infinity), or a BatchNorm variance below zero (its square root is NaN).
BROKEN_WEIGHTS = ("its weights are probably broken (absurd values, or a negative BatchNorm variance): use another "
                  "checkpoint (--checkpoint), or train again")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] to [N, H, W, 3] uint8 (grayscale repeated to RGB)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    x = x.permute(0, 2, 3, 1).cpu().numpy()
    if x.shape[3] == 1:
        x = np.repeat(x, 3, axis=3)
    return x


def to_pictures(images: torch.Tensor) -> np.ndarray:
    """:func:`to_uint8` for pictures someone will see: NaN, infinity or a flat colour is refused, not written."""
    return check_pictures(to_uint8(check_finite(images)))


def check_finite(images: torch.Tensor) -> torch.Tensor:
    """``images`` unless they hold NaN or infinity (which :func:`to_uint8` would draw as black)."""
    if not bool(torch.isfinite(images).all()):
        raise BelamyError("the model drew NaN or infinite values", BROKEN_WEIGHTS)
    return images


def check_pictures(pictures: np.ndarray) -> np.ndarray:
    """``pictures`` (uint8 [N, H, W, 3]) unless one is a single flat colour, which no working model draws."""
    rows = pictures.reshape(len(pictures), -1)
    flat = np.flatnonzero(rows.max(axis=1) == rows.min(axis=1)) if rows.size else []
    if len(flat):
        raise BelamyError(f"the model drew a flat picture (every pixel {int(rows[flat[0], 0])})", BROKEN_WEIGHTS)
    return pictures


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) close to square for n tiles."""
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    rows = max(1, math.ceil(n / cols))
    return rows, cols


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2, fill: int = 16) -> np.ndarray:
    """Tile [N, H, W, 3] uint8 images into one image, with a thin dark gutter."""
    n, h, w, c = images.shape
    rows, auto_cols = grid_shape(n)
    cols = cols or auto_cols
    rows = math.ceil(n / cols)
    canvas = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        canvas[y : y + h, x : x + w] = images[i]
    return canvas
