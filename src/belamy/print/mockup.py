"""A preview of the print as it will hang: in a carved, gilded frame on a gallery wall.

Everything is drawn procedurally with numpy (no stock photographs): the frame is a height field
(a moulding profile swept round the picture, mitred at the corners, with gadrooned and beaded
ornament), lit by a picture light above it with diffuse and specular shading through a gold
colour ramp; it casts a soft shadow onto a textured plaster wall and onto the top of the picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

# Gold, from the shadow in a carved recess to a burnished highlight.
GOLD_RAMP = (
    (0.00, (34, 22, 8)),
    (0.25, (96, 66, 22)),
    (0.50, (152, 114, 50)),
    (0.72, (200, 162, 86)),
    (0.88, (230, 200, 128)),
    (1.00, (252, 238, 196)),
)
WALL = (176, 165, 148)
LINEN = (224, 216, 196)


def _ramp(value: np.ndarray, stops=GOLD_RAMP) -> np.ndarray:
    xs = np.array([s[0] for s in stops])
    cols = np.array([s[1] for s in stops], dtype=np.float32)
    v = np.clip(value, 0.0, 1.0)
    return np.stack([np.interp(v, xs, cols[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def value_noise(shape: tuple[int, int], rng: np.random.Generator, octaves: int = 5, base: int = 4) -> np.ndarray:
    """Smooth multi-octave noise in about [-1, 1]: plaster, wear and grain."""
    h, w = shape
    total = np.zeros(shape, dtype=np.float32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        cells = base * 2**o
        grid = rng.uniform(0, 255, (max(2, cells * h // max(h, w) + 2), cells + 2)).astype(np.uint8)
        layer = np.asarray(Image.fromarray(grid, "L").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
        total += amp * (layer / 127.5 - 1.0)
        norm += amp
        amp *= 0.55
    return total / norm


def gaussian_blur(arr: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D float array (PIL cannot blur float images)."""
    radius = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(arr, radius, mode="edge")
    rows = np.apply_along_axis(lambda r: np.convolve(r, k, mode="valid"), 1, padded)
    return np.apply_along_axis(lambda c: np.convolve(c, k, mode="valid"), 0, rows).astype(np.float32)


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _bump(t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A rounded ridge (half a sine) between ``lo`` and ``hi``, zero outside."""
    inside = (t >= lo) & (t <= hi)
    return np.where(inside, np.sin(np.pi * np.clip((t - lo) / (hi - lo), 0, 1)), 0.0)


def moulding_height(t: np.ndarray, s: np.ndarray, width_px: float, rng: np.random.Generator) -> np.ndarray:
    """Height (in px) of the moulding at fraction ``t`` of its width (0 outer edge, 1 sight edge), ``s`` px along it."""
    # The swept profile: outer fillet, big torus, a cove, a bead row, a sloping inner sight with a lip.
    base = (
        0.35 * _smoothstep(0.0, 0.05, t)
        + 0.65 * _bump(t, 0.04, 0.46) ** 0.7
        - 0.12 * _bump(t, 0.46, 0.56)
        + 0.25 * _bump(t, 0.56, 0.66)
        + 0.35 * (1 - np.clip((t - 0.66) / 0.34, 0, 1)) ** 1.8 * (t >= 0.66)
        + 0.08 * _bump(t, 0.93, 1.0)
    )
    # Gadrooning: diagonal reeds carved round the torus, as on Louis XIV frames.
    period = max(6.0, width_px * 0.16)
    torus = _bump(t, 0.08, 0.42)
    reeds = np.cos(2 * np.pi * (s + t * width_px * 0.9) / period)
    carved = 0.10 * torus * (0.5 + 0.5 * reeds) ** 1.5
    # Pearls on the bead row.
    bead_period = max(4.0, width_px * 0.10)
    pearls = 0.10 * _bump(t, 0.565, 0.655) * np.abs(np.cos(np.pi * s / bead_period)) ** 0.8
    # Stippled (punched) ground in the cove.
    stipple = 0.02 * _bump(t, 0.46, 0.56) * rng.standard_normal(t.shape).astype(np.float32)
    return (base + carved + pearls + stipple) * width_px * 0.28


def render_frame(inner_w: int, inner_h: int, moulding: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An RGB float frame image and its coverage mask, ``moulding`` px wide round an ``inner_w × inner_h`` opening."""
    rng = np.random.default_rng(seed)
    W, H = inner_w + 2 * moulding, inner_h + 2 * moulding
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    dl, dr, dt, db = xx, W - 1 - xx, yy, H - 1 - yy
    d = np.minimum(np.minimum(dl, dr), np.minimum(dt, db))
    frame = d < moulding
    horizontal = np.minimum(dt, db) <= np.minimum(dl, dr)  # top or bottom rail (mitred at the diagonals)
    s = np.where(horizontal, xx, yy)
    t = d / moulding
    height = moulding_height(t, s, moulding, rng)
    height = np.where(frame, height, 0.0).astype(np.float32)
    gy, gx = np.gradient(height)
    normal = np.stack([-gx, -gy, np.ones_like(gx)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    # Light from a picture lamp above and in front; the viewer straight ahead.
    light = np.array([0.12, -0.62, 0.78], dtype=np.float32)
    light /= np.linalg.norm(light)
    half = light + np.array([0, 0, 1], dtype=np.float32)
    half /= np.linalg.norm(half)
    diffuse = np.clip(normal @ light, 0.0, 1.0)
    specular = np.clip(normal @ half, 0.0, 1.0) ** 36
    # Recesses (lower than their surroundings) collect shadow and dirt.
    blurred = gaussian_blur(height, max(1.0, moulding * 0.06))
    occlusion = np.clip(1.0 - (blurred - height) / (moulding * 0.05), 0.45, 1.0)
    # Light falls off down the frame, away from the lamp.
    falloff = 1.0 - 0.25 * (yy / H)
    grain = value_noise((H, W), rng, octaves=4, base=max(4, W // 40))
    value = (0.12 + 0.78 * diffuse * occlusion) * falloff + 0.04 * grain
    rgb = _ramp(value) + 255.0 * 0.55 * specular[..., None] * occlusion[..., None]
    # Worn gilding shows the red bole beneath on a few high points.
    rub = np.clip((value_noise((H, W), rng, octaves=5, base=max(4, W // 30)) - 0.2) * 2.0, 0.0, 1.0)
    rub *= np.clip(height / (moulding * 0.25) - 0.6, 0.0, 1.0) * 0.3
    rgb = rgb * (1 - rub[..., None]) + np.array([128, 60, 38], dtype=np.float32) * rub[..., None]
    return np.clip(rgb, 0, 255), frame


def _linen(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    weave = 0.5 + 0.25 * np.sin(xx * 2.1) + 0.25 * np.sin(yy * 2.1)
    tone = np.array(LINEN, dtype=np.float32) * (0.96 + 0.05 * weave[..., None])
    return tone + 3.0 * rng.standard_normal((h, w, 1)).astype(np.float32)


def render_mockup(picture: Image.Image, width_cm: float, height_cm: float, scene: tuple[int, int] = (1600, 1200),
                  seed: int = 0, label: Image.Image | None = None, label_cm: tuple[float, float] = (12.0, 8.0)) -> Image.Image:
    """The picture framed and hung: an RGB image of ``scene`` size, with its wall label beside it if given."""
    rng = np.random.default_rng(seed)
    SW, SH = scene
    moulding_cm = float(np.clip(0.13 * max(width_cm, height_cm), 4.0, 16.0))
    liner_cm = moulding_cm * 0.28
    outer_w_cm = width_cm + 2 * (moulding_cm + liner_cm)
    outer_h_cm = height_cm + 2 * (moulding_cm + liner_cm)
    px_per_cm = min(0.48 * SW / outer_w_cm, 0.64 * SH / outer_h_cm)
    pw, ph = max(8, round(width_cm * px_per_cm)), max(8, round(height_cm * px_per_cm))
    liner = max(2, round(liner_cm * px_per_cm))
    moulding = max(6, round(moulding_cm * px_per_cm))
    fw, fh = pw + 2 * (liner + moulding), ph + 2 * (liner + moulding)
    fx, fy = (SW - fw) // 2, round(SH * 0.56 - fh / 2)

    # The wall: warm plaster, lit from above by the picture light, darker towards the floor and sides.
    yy, xx = np.mgrid[0:SH, 0:SW].astype(np.float32)
    plaster = value_noise((SH, SW), rng, octaves=6, base=6)
    cx, top = SW / 2, fy - 0.09 * fh
    # The lamp's pool of light: widening downwards from the lamp, a faint spill above it.
    below = np.clip((yy - top) / fh, 0.0, None)
    spread = fw * (0.45 + 0.45 * np.minimum(below, 1.2))
    pool = np.exp(-((xx - cx) / spread) ** 2) * np.exp(-((below / 1.35) ** 2))
    pool *= np.where(yy < top, np.exp(-((top - yy) / (0.10 * fh)) ** 2), 1.0)
    vignette = 1.0 - 0.28 * (((xx - cx) / SW) ** 2 * 2 + ((yy - SH * 0.5) / SH) ** 2 * 1.5)
    wall = np.array(WALL, dtype=np.float32) * (0.72 * vignette + 0.42 * pool)[..., None] * (1 + 0.035 * plaster[..., None])

    # The frame's shadow on the wall: cast downward by the lamp above, soft.
    shadow = Image.new("L", (SW, SH), 0)
    offset = round(0.035 * fh)
    shadow.paste(255, (fx + round(0.01 * fw), fy + offset, fx + fw - round(0.01 * fw), fy + fh + offset))
    shadow = np.asarray(shadow.filter(ImageFilter.GaussianBlur(0.035 * fh)), dtype=np.float32) / 255.0
    scene_rgb = wall * (1.0 - 0.55 * shadow[..., None])

    # Frame, liner and picture.
    frame_rgb, frame_mask = render_frame(pw + 2 * liner, ph + 2 * liner, moulding, seed)
    region = scene_rgb[fy : fy + fh, fx : fx + fw]
    region[frame_mask] = frame_rgb[frame_mask]
    inner = region[moulding : moulding + ph + 2 * liner, moulding : moulding + pw + 2 * liner]
    inner[:] = _linen(*inner.shape[:2], rng)
    art = np.asarray(picture.convert("RGB").resize((pw, ph), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float32)
    # The lamp lights the top of the picture more than the bottom.
    art *= (1.06 - 0.12 * np.linspace(0, 1, ph, dtype=np.float32))[:, None, None]
    inner[liner : liner + ph, liner : liner + pw] = art
    # The moulding's inner lip shades the top and left of the opening.
    ih, iw = inner.shape[:2]
    depth = max(2.0, moulding * 0.18)
    top_shade = np.exp(-np.arange(ih, dtype=np.float32) / depth)[:, None]
    side_shade = np.exp(-np.arange(iw, dtype=np.float32) / (depth * 0.6))[None, :]
    inner *= (1.0 - 0.45 * top_shade - 0.15 * side_shade)[..., None]

    _draw_lamp(scene_rgb, fx, fy, fw, fh)
    if label is not None:
        _hang_label(scene_rgb, label, px_per_cm, label_cm, x=fx + fw + round(0.06 * fw), y=fy + round(0.62 * fh))
    return Image.fromarray(np.clip(scene_rgb + 0.5, 0, 255).astype(np.uint8), "RGB")


def _hang_label(rgb: np.ndarray, label: Image.Image, px_per_cm: float, label_cm: tuple[float, float], x: int, y: int) -> None:
    """The wall label at its true size, to the right of the frame, with a faint shadow below it."""
    w, h = max(4, round(label_cm[0] * px_per_cm)), max(3, round(label_cm[1] * px_per_cm))
    SH, SW = rgb.shape[:2]
    x, y = min(x, SW - w - 4), min(y, SH - h - 4)
    if x < 0 or y < 0:
        return
    card = np.asarray(label.convert("RGB").resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float32)
    d = max(1, round(0.08 * h))
    rgb[y + d : y + h + d, x + d // 2 : x + w + d // 2] *= 0.8
    rgb[y : y + h, x : x + w] = card * 0.97


def _draw_lamp(rgb: np.ndarray, fx: int, fy: int, fw: int, fh: int) -> None:
    """A brass picture light: a shaded bar above the frame on a short arm."""
    lw, lh = round(fw * 0.38), max(4, round(fh * 0.035))
    lx, ly = fx + (fw - lw) // 2, fy - round(fh * 0.085)
    arm_w = max(2, lh // 3)
    ax = fx + fw // 2 - arm_w // 2
    brass = ((0.0, (40, 28, 12)), (0.45, (120, 88, 40)), (0.75, (196, 160, 90)), (1.0, (250, 230, 170)))
    # Arm from the top of the frame to the lamp, with its small shadow.
    arm = _ramp(np.linspace(0.3, 0.8, arm_w)[None, :].repeat(max(1, fy - ly), 0), brass)
    rgb[ly : fy, ax : ax + arm_w] = arm
    rgb[ly : fy, ax + arm_w : ax + 2 * arm_w] *= 0.8
    # The bar: a cylinder, lit from the front-top, with a bright rim underneath where the bulb is.
    v = np.linspace(0, 1, lh, dtype=np.float32)
    profile = 0.35 + 0.6 * np.clip(np.sin(np.pi * v), 0.0, 1.0) ** 0.6 - 0.25 * v
    bar = _ramp(profile[:, None].repeat(lw, 1), brass)
    ends = np.minimum(np.arange(lw), np.arange(lw)[::-1]).astype(np.float32)
    bar *= np.clip(ends / max(1.0, lh * 0.5), 0.55, 1.0)[None, :, None]
    rgb[ly : ly + lh, lx : lx + lw] = bar
