"""Contact sheets: a grid of thumbnails to see a corpus (or part of it) at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image


def pick_evenly(count: int, limit: int) -> list[int]:
    """Up to ``limit`` indices spread evenly over ``range(count)`` (all of them when few)."""
    if count <= limit:
        return list(range(count))
    return sorted({int(round(i * (count - 1) / (limit - 1))) for i in range(limit)})


def contact_sheet(
    images: Sequence[np.ndarray] | np.ndarray, thumb: int = 96, cols: int | None = None, gap: int = 2,
    background: tuple[int, int, int] = (24, 24, 24),
) -> Image.Image:
    """Thumbnails (each HxWx3 uint8, any size) on a grid, in order, ``gap`` pixels apart."""
    n = len(images)
    if n == 0:
        return Image.new("RGB", (thumb, thumb), background)
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    sheet = Image.new("RGB", (cols * (thumb + gap) + gap, rows * (thumb + gap) + gap), background)
    for i, arr in enumerate(images):
        im = Image.fromarray(np.asarray(arr, dtype=np.uint8))
        if im.size != (thumb, thumb):
            im.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
        r, c = divmod(i, cols)
        x = gap + c * (thumb + gap) + (thumb - im.width) // 2
        y = gap + r * (thumb + gap) + (thumb - im.height) // 2
        sheet.paste(im, (x, y))
    return sheet
