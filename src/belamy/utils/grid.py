"""Images as uint8 arrays and grids of them."""

from __future__ import annotations

import math

import numpy as np
import torch


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] to [N, H, W, 3] uint8 (grayscale repeated to RGB)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    x = x.permute(0, 2, 3, 1).cpu().numpy()
    if x.shape[3] == 1:
        x = np.repeat(x, 3, axis=3)
    return x


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
