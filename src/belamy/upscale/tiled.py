"""Tiled inference: run an SR network over an image of any size in bounded memory, without seams.

Like Real-ESRGAN, the work is split into pre-process (any mode to RGB + separate alpha), tiles
(each tile run with some context around it, which is then cropped away), and post-process. Unlike
a plain crop-and-paste, neighbouring tiles overlap and are blended with a raised-cosine window,
so no tile edge can show. Weighted sums are accumulated in a strip only one tile row tall; each
finished row of output is written straight into a uint8 array (or memmap), so peak memory depends
on the tile size and the image width, never on the image height.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from belamy.errors import BelamyError
from belamy.utils.grid import check_finite
from belamy.utils.imageio import to_rgb
from belamy.utils.progress import make_progress

# A network callable: float tensor [1, 3, h, w] in [0, 1] -> [1, 3, h·s, w·s].
Network = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- pre / post-process


def split_alpha(img: Image.Image) -> tuple[np.ndarray, Image.Image | None, str]:
    """Any PIL image -> (RGB uint8 array for the network, alpha channel or None, mode to return in)."""
    mode = img.mode
    alpha = None
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = rgba.getchannel("A")
        rgb = rgba.convert("RGB")
        out_mode = "RGBA"
    else:
        rgb = to_rgb(img)
        out_mode = "L" if mode in ("L", "1", "I", "I;16", "I;16B", "I;16L", "F") else "RGB"
    return np.asarray(rgb, dtype=np.uint8), alpha, out_mode


def join_alpha(rgb: np.ndarray, alpha: Image.Image | None, out_mode: str) -> Image.Image:
    """The network's RGB output back in the input's mode; alpha is enlarged with Lanczos."""
    img = Image.fromarray(rgb, "RGB")
    if out_mode == "L":
        return img.convert("L")
    if alpha is not None:
        img.putalpha(alpha.resize(img.size, Image.Resampling.LANCZOS))
    return img


# ----------------------------------------------------------------------------- tiles


def tile_layout(length: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """Tile size and start offsets covering ``length`` with tiles of at most ``tile`` sharing >= ``overlap``.

    Tiles are balanced: the fewest that fit, all the same size, evenly spaced. (Fixed-size tiles with
    a last one pushed back to the edge would compute up to a whole extra row of mostly-overlap tiles:
    1024 px in 256 px tiles is 5 tiles of 256 that way, 5 of 218 this way.)
    """
    if length <= tile:
        return length, [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (n - 1) * overlap) / n)
    return size, [round(i * (length - size) / (n - 1)) for i in range(n)]


def ramp(length: int, fade: int, fade_start: bool, fade_end: bool) -> np.ndarray:
    """A 1-D blending window: 1 in the middle, a raised-cosine rise over ``fade`` px at faded ends.

    Ends on the image border are not faded (nothing to blend with); weights never reach zero.
    """
    w = np.ones(length, dtype=np.float32)
    fade = min(fade, length // 2)
    if fade > 0:
        t = (np.arange(fade, dtype=np.float32) + 0.5) / fade
        rise = 0.5 - 0.5 * np.cos(np.pi * t)
        if fade_start:
            w[:fade] = rise
        if fade_end:
            w[length - fade :] = rise[::-1]
    return w


def _run_tile(net: Network, image: np.ndarray, y0: int, y1: int, x0: int, x1: int, scale: int, pad: int,
              device: torch.device) -> np.ndarray:
    """Network output for image[y0:y1, x0:x1], computed with ``pad`` px of context, as float32 HWC in [0, 255]."""
    H, W = image.shape[:2]
    cy0, cy1, cx0, cx1 = max(0, y0 - pad), min(H, y1 + pad), max(0, x0 - pad), min(W, x1 + pad)
    patch = torch.from_numpy(np.array(image[cy0:cy1, cx0:cx1])).to(device)  # a copy: the input may be read-only
    with torch.inference_mode():
        x = patch.permute(2, 0, 1)[None].float().div_(255.0)
        y = net(x)
    expected = ((cy1 - cy0) * scale, (cx1 - cx0) * scale)
    if tuple(y.shape[-2:]) != expected:
        raise BelamyError(
            f"the SR model returned {tuple(y.shape[-2:])} for a {cy1 - cy0}×{cx1 - cx0} tile, expected {expected}",
            "is its scale what the model file says?",
        )
    oy, ox = (y0 - cy0) * scale, (x0 - cx0) * scale
    y = check_finite(y[0, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale])
    return y.float().clamp(0, 1).mul(255.0).permute(1, 2, 0).cpu().numpy()


def upscale_tiled(net: Network, image: np.ndarray, scale: int, tile: int = 256, overlap: int = 16, pad: int = 8,
                  out: np.ndarray | None = None, device: str | torch.device = "cpu", progress: bool = True,
                  description: str = "upscale") -> np.ndarray:
    """Upscale an RGB uint8 image [H, W, 3] by ``scale`` with ``net``, tile by tile.

    ``out`` (optional) is a uint8 [H·s, W·s, 3] array or memmap to write into. A tile larger than
    the image means one untiled pass, with identical arithmetic.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise BelamyError(f"expected an RGB uint8 image, got {image.shape} {image.dtype}", "convert it with open_rgb")
    if tile < 8 or not 0 <= overlap < tile // 2 or pad < 0:
        raise BelamyError(f"tile {tile} with overlap {overlap} is not valid", "use a tile of 8 px or more and overlap below half of it")
    device = torch.device(device)
    H, W = image.shape[:2]
    th, ys = tile_layout(H, tile, overlap)
    tw, xs = tile_layout(W, tile, overlap)
    if out is None:
        out = np.empty((H * scale, W * scale, 3), dtype=np.uint8)
    elif out.shape != (H * scale, W * scale, 3):
        raise BelamyError(f"output array has shape {out.shape}, expected {(H * scale, W * scale, 3)}", "allocate it to fit")
    fade = overlap * scale
    # The strip: one tile row of weighted sums. Rows above the next tile row are final and flushed.
    strip = np.zeros((th * scale, W * scale, 3), dtype=np.float32)
    weight = np.zeros((th * scale, W * scale), dtype=np.float32)
    top = 0  # output row held in strip[0]

    def flush(until: int) -> None:
        nonlocal top
        n = until - top
        if n <= 0:
            return
        out[top:until] = np.clip(strip[:n] / weight[:n, :, None] + 0.5, 0, 255).astype(np.uint8)
        strip[:-n] = strip[n:].copy() if n < len(strip) else strip[:0]
        strip[-n:] = 0.0
        weight[:-n] = weight[n:].copy() if n < len(weight) else weight[:0]
        weight[-n:] = 0.0
        top = until

    with make_progress("tile") if progress else _NoProgress() as bar:
        task = bar.add_task(description, total=len(ys) * len(xs))
        for iy, y in enumerate(ys):
            flush(y * scale)
            wy = ramp(th * scale, fade, iy > 0, iy < len(ys) - 1)
            for ix, x in enumerate(xs):
                result = _run_tile(net, image, y, y + th, x, x + tw, scale, pad, device)
                wx = ramp(tw * scale, fade, ix > 0, ix < len(xs) - 1)
                w2 = wy[:, None] * wx[None, :]
                x_lo, x_hi = x * scale, (x + tw) * scale
                strip[:, x_lo:x_hi] += result * w2[..., None]
                weight[:, x_lo:x_hi] += w2
                bar.advance(task)
        flush(H * scale)
    return out


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def advance(self, *args, **kwargs) -> None:
        pass
