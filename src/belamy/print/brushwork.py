"""`print --finish brushwork`: the enlarged picture rendered in brush strokes at the print's own scale.

A 70 cm print of a 128² portrait holds 65 print pixels for each of the portrait's; no network enlarges
that far with detail of its own, so at 1:1 the print is soft fields of colour. This finish lays marks
where paint would show them: bristle grooves and stroke bodies that run along the picture's own
contours (the flow of its structure tensor) and, where the picture has no direction, one hatching
direction, as a painter's hand does. It is line-integral convolution (Cabral & Leedom 1993) of noise
along that flow, plus a short smear of the colour along the same lines; sizes are in millimetres of the
print, so a mark is as large on a 30 cm print as on a 70 cm one. It is a rendering, not paint: the print
records it in its provenance and says so on the wall label.

The print is done in tiles with a margin as wide as a stroke reaches, and the noise is drawn once for
the whole print, so the result does not depend on the tile size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from belamy.utils.progress import make_progress

LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Brushwork:
    """The marks, in millimetres of the print."""

    stroke_mm: float = 4.0  # how far a mark runs each way along the flow
    bristle_mm: float = 0.13  # the grooves a brush's hairs leave
    body_mm: float = 5.4  # patches of more and less paint along and across the strokes
    flow_mm: float = 2.0  # how far the picture's contours steer the strokes
    hatch_degrees: float = 60.0  # stroke direction where the picture has none (0: horizontal, 90: vertical)
    strength: float = 0.06  # how deep the marks are, as a fraction of the colour
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, C, H, W]."""
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _tensor(luma: torch.Tensor, sigma: float) -> torch.Tensor:
    """The structure tensor (Jxx, Jxy, Jyy) of [1, 1, H, W], averaged over ``sigma`` px: [1, 3, H, W]."""
    gy, gx = torch.gradient(luma[0, 0])
    return _gaussian(torch.stack([gx * gx, gx * gy, gy * gy])[None], sigma)


def _flow(tensor: torch.Tensor, hatch: torch.Tensor) -> torch.Tensor:
    """Unit vectors along the contours [1, 2, H, W]: across the gradient of ``tensor + hatch``."""
    jxx, jxy, jyy = (tensor + hatch).unbind(1)
    theta = 0.5 * torch.atan2(2 * jxy, jxx - jyy)  # the dominant gradient direction
    return torch.stack([-torch.sin(theta), torch.cos(theta)], 1)


def _sample(img: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of [1, C, H, W] at pixel positions x, y [H', W']."""
    h, w = img.shape[-2:]
    grid = torch.stack([x * (2 / max(w - 1, 1)) - 1, y * (2 / max(h - 1, 1)) - 1], -1)[None]
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _convolve(flow: torch.Tensor, marks: torch.Tensor, colour: torch.Tensor, reach: float, smear: float,
              step: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Average ``marks`` along the streamlines of ``flow`` ``reach`` px each way, and ``colour`` ``smear`` px,
    with weights that taper to the stroke's ends."""
    h, w = flow.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    m, c = marks.shape[1], colour.shape[1]
    # One lookup per step reads the flow (for the next step) with what is averaged, where the last step ended.
    near, far = torch.cat([flow, marks, colour], 1), torch.cat([flow, marks], 1)
    marks_sum, colour_sum = marks.clone(), colour.clone()
    marks_w, colour_w = 1.0, 1.0
    steps = max(1, round(reach / step))
    for sign in (1.0, -1.0):
        x, y = xs.clone(), ys.clone()
        vx, vy = flow[0, 0] * sign, flow[0, 1] * sign
        for i in range(1, steps + 1):
            x, y = x + step * vx, y + step * vy
            weight = 1.0 - i / (steps + 1)
            smearing = i * step <= smear
            got = _sample(near if smearing else far, x, y)[0]
            marks_sum += weight * got[2 : 2 + m]
            marks_w += weight
            if smearing:
                colour_sum += weight * got[2 + m : 2 + m + c]
                colour_w += weight
            # A flow field's orientation has no sign: keep going the way the last step went.
            turn = torch.where(got[0] * vx + got[1] * vy < 0, -1.0, 1.0)
            vx, vy = got[0] * turn, got[1] * turn
    return marks_sum / marks_w, colour_sum / colour_w


def _noise_at(noise: torch.Tensor, cell: float, x0: int, y0: int, h: int, w: int) -> torch.Tensor:
    """The print-wide ``noise`` [1, 1, h', w'] (one value per ``cell`` px) over the print pixels of a tile."""
    ys, xs = torch.meshgrid(torch.arange(y0, y0 + h, dtype=torch.float32), torch.arange(x0, x0 + w, dtype=torch.float32),
                            indexing="ij")
    return _sample(noise, xs / cell, ys / cell)


def paint(rgb: np.ndarray, px_per_mm: float, brush: Brushwork = Brushwork(), tile: int = 1024) -> np.ndarray:
    """``rgb`` (uint8 [H, W, 3], the print's pixels) with brush marks laid on it; a new array."""
    H, W = rgb.shape[:2]
    reach, flow_px = brush.stroke_mm * px_per_mm, brush.flow_mm * px_per_mm
    bristle, body = max(brush.bristle_mm * px_per_mm, 1.0), max(brush.body_mm * px_per_mm, 2.0)
    step = max(1.0, reach / 24)
    margin = int(math.ceil(reach + 3 * flow_px + 0.6 * px_per_mm + 4))  # every blur's and stroke's reach
    gen = torch.Generator().manual_seed(brush.seed)
    fine = torch.rand(1, 1, int(H / bristle) + 2, int(W / bristle) + 2, generator=gen)
    coarse = torch.rand(1, 1, int(H / body) + 2, int(W / body) + 2, generator=gen)
    # Centred on the print's own draw: marks darken as much as they lighten, so the colour stays.
    fine, coarse = fine - fine.mean() + 0.5, coarse - coarse.mean() + 0.5
    phi = math.radians(brush.hatch_degrees + 90.0)  # the gradient that hatches run across (image y points down)
    hatch_dir = torch.tensor([math.cos(phi) ** 2, -math.cos(phi) * math.sin(phi), math.sin(phi) ** 2]).view(1, 3, 1, 1)
    hatch = hatch_dir * _hatch_level(rgb, flow_px, px_per_mm)
    out = np.empty_like(rgb)
    tiles = [(y, x) for y in range(0, H, tile) for x in range(0, W, tile)]
    with torch.inference_mode(), make_progress("tile") as bar:
        spread = _spread(fine, coarse, bristle, body, hatch_dir, reach, step)
        task = bar.add_task("brushwork", total=len(tiles))
        for y, x in tiles:
            y0, x0, y1, x1 = max(0, y - margin), max(0, x - margin), min(H, y + tile + margin), min(W, x + tile + margin)
            colour = torch.from_numpy(np.array(rgb[y0:y1, x0:x1])).permute(2, 0, 1)[None].float() / 255
            luma = (colour * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
            flow = _flow(_tensor(_gaussian(luma, 0.2 * px_per_mm), flow_px), hatch)
            marks = torch.cat([_noise_at(fine, bristle, x0, y0, y1 - y0, x1 - x0),
                               _noise_at(coarse, body, x0, y0, y1 - y0, x1 - x0)], 1)
            marks, colour = _convolve(flow, marks, colour, reach, reach / 4, step)
            grooves, bodies = ((marks[:, i] - 0.5) / spread[i] for i in range(2))
            painted = colour * (1 + brush.strength * (grooves + 0.3 * bodies))[:, None]
            core = painted[0, :, y - y0 : min(H, y + tile) - y0, x - x0 : min(W, x + tile) - x0]
            out[y : y + tile, x : x + tile] = (core.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy()
            bar.advance(task)
    return out


def _spread(fine: torch.Tensor, coarse: torch.Tensor, bristle: float, body: float, hatch_dir: torch.Tensor,
            reach: float, step: float) -> tuple[float, float]:
    """The standard deviation of the grooves and of the bodies once averaged along strokes, measured on a
    flat patch: noise averaged along a line varies less than the noise, by an amount set by the marks'
    sizes, and a print-wide figure (not each tile's) keeps the strength the same on every tile."""
    side = int(min(256 + 2 * reach, fine.shape[-1] * bristle, coarse.shape[-1] * body, 1024))
    flow = _flow(torch.zeros(1, 3, side, side), hatch_dir)
    marks = torch.cat([_noise_at(fine, bristle, 0, 0, side, side), _noise_at(coarse, body, 0, 0, side, side)], 1)
    marks, _ = _convolve(flow, marks, marks[:, :1], reach, 0, step)
    edge = min(int(reach), side // 4)  # away from the border, where strokes run into the edge (a tiny print: less)
    inner = marks[0, :, edge : side - edge, edge : side - edge]
    return float(inner[0].std()) + 1e-6, float(inner[1].std()) + 1e-6


def _hatch_level(rgb: np.ndarray, flow_px: float, px_per_mm: float) -> float:
    """How strong the hatching direction is: about the picture's median contour strength, measured once on
    a small copy (so every tile hatches alike), in the print's pixels, and at least that of a contour of 2%
    of the full brightness per millimetre (so a flat picture hatches too)."""
    H, W = rgb.shape[:2]
    shrink = max(1, max(H, W) // 512)
    small = np.asarray(Image.fromarray(rgb).reduce(shrink), dtype=np.float32) / 255 if shrink > 1 else rgb / 255.0
    luma = torch.from_numpy((small @ np.array(LUMA, dtype=np.float32)).astype(np.float32))[None, None]
    tensor = _tensor(luma, max(1.0, flow_px / shrink))
    median = float((tensor[0, 0] + tensor[0, 2]).median()) / shrink**2
    return 1.5 * max(median, (0.02 / px_per_mm) ** 2)
