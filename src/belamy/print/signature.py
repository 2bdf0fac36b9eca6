"""A painter's signature: the GAN objective, written in a corner of the picture.

Edmond de Belamy (Obvious, 2018) is signed with the minimax loss of Goodfellow et al. (2014).
We do the same, rendered as real mathematics with matplotlib's mathtext (no LaTeX install
needed), slanted a little like a hand-written line, then laid onto the picture as translucent
paint in a colour that stands out against what lies beneath it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageFilter

from belamy.errors import BelamyError
from belamy.provenance.record import derive
from belamy.utils.imageio import FORMATS, check_writable, open_rgb, save_image, to_rgb

FORMULA = r"$\min_{G}\,\max_{D}\,\mathbb{E}_{x}[\log(D(x))] + \mathbb{E}_{z}[\log(1-D(G(z)))]$"
FORMULA_TEXT = "min_G max_D E_x[log(D(x))] + E_z[log(1 − D(G(z)))]"
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")
# Warm paint colours, as a painter would sign: ochre or cream on dark paint, umber or black on light.
LIGHT_PAINTS = ((222, 192, 128), (242, 230, 200))  # pale ochre, then cream if ochre is not bright enough
DARK_PAINTS = ((58, 36, 22), (18, 14, 12))  # raw umber, then ivory black
MIN_CONTRAST = 4.5  # WCAG "readable text" ratio: the preferred warm paint must reach it
SLANT = 0.16  # horizontal shift per unit height: roman letters lean like handwriting
STROKE_PT = 0.3  # brush weight added round each glyph, in points at a 12 pt formula
HALO_OPACITY = 0.45  # at most, on the busiest ground
OPACITY = 0.9  # a little of the picture shows through, as through a thin layer of paint
MIN_SIDE = 16


# ----------------------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=8)
def signature_mask(width_px: int) -> np.ndarray:
    """The formula as coverage in [0, 1], about ``width_px`` wide (height follows), slanted, with a thin clear border."""
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    width_px = max(2, int(width_px))
    # Computer Modern: the typeface of the paper the formula comes from.
    prop = FontProperties(size=12, math_fontfamily="cm")
    w_pt, h_pt, depth_pt, *_ = MathTextParser("path").parse(FORMULA, dpi=72, prop=prop)
    # Small signatures are drawn large and reduced: mathtext hinting at 5 px tall is illegible.
    render_w = max(width_px, 256)
    dpi = 72.0 * render_w / w_pt
    pad = 0.25 * h_pt
    fig = Figure(figsize=((w_pt + 2 * pad) / 72.0, (h_pt + 2 * pad) / 72.0), dpi=dpi)
    fig.patch.set_alpha(0.0)
    canvas = FigureCanvasAgg(fig)
    text = fig.text(pad / (w_pt + 2 * pad), (depth_pt + pad) / (h_pt + 2 * pad), FORMULA, fontproperties=prop, color="black")
    # Hairline serifs vanish in paint: a thin stroke round every glyph gives the weight of a brush line.
    text.set_path_effects([patheffects.withStroke(linewidth=STROKE_PT, foreground="black")])
    canvas.draw()
    alpha = np.asarray(canvas.buffer_rgba())[..., 3].copy()
    ys, xs = np.nonzero(alpha)
    alpha = alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    mask = Image.fromarray(alpha, "L")
    # Slant: the top row moves right by SLANT × height, like a right-handed line of writing.
    h = mask.height
    shift = SLANT * h
    mask = mask.transform(
        (mask.width + int(np.ceil(shift)), h), Image.Transform.AFFINE,
        (1.0, SLANT, -shift, 0.0, 1.0, 0.0), resample=Image.Resampling.BICUBIC,
    )
    if mask.width != width_px:
        height = max(1, round(mask.height * width_px / mask.width))
        mask = mask.resize((width_px, height), Image.Resampling.LANCZOS)
    coverage = np.asarray(mask, dtype=np.float32) / 255.0
    # A thin clear border, so that the soft underlayer drawn on busy grounds is never cut off.
    border = max(1, round(0.08 * coverage.shape[0]))
    return np.pad(coverage, border)


def _paint_texture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Slow variation in paint thickness (0.8 to 1.0): a brush does not lay paint down evenly."""
    h, w = shape
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.0, 1.0, (max(2, h // 6 + 2), max(2, w // 24 + 2))).astype(np.float32)
    smooth = Image.fromarray((coarse * 255).astype(np.uint8), "L").resize((w, h), Image.Resampling.BICUBIC)
    return 0.8 + 0.2 * np.asarray(smooth, dtype=np.float32) / 255.0


# ----------------------------------------------------------------------------- colour


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB colours (last axis RGB, 0-255)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def contrast_ratio(a, b) -> float:
    la, lb = float(relative_luminance(a)), float(relative_luminance(b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _log_contrast(lum: np.ndarray, paint) -> np.ndarray:
    lp = float(relative_luminance(paint))
    return np.log((np.maximum(lum, lp) + 0.05) / (np.minimum(lum, lp) + 0.05))


def auto_color(region: np.ndarray, weights: np.ndarray | None = None) -> tuple[int, int, int]:
    """A paint colour for a signature over ``region`` (uint8 RGB): light on dark, dark on light.

    Contrast is averaged (in log ratio) over the pixels the glyphs will cover (``weights``), not
    over the region's mean colour: a signature half over a white collar and half over a black coat
    must be judged where its letters actually fall.
    """
    lum = relative_luminance(region.reshape(-1, 3))
    w = np.ones_like(lum) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1) + 1e-6

    def score(paint) -> float:
        return float(np.average(_log_contrast(lum, paint), weights=w))

    threshold = np.log(MIN_CONTRAST)
    light = LIGHT_PAINTS[0] if score(LIGHT_PAINTS[0]) >= threshold else LIGHT_PAINTS[1]
    dark = DARK_PAINTS[0] if score(DARK_PAINTS[0]) >= threshold else DARK_PAINTS[1]
    return light if score(light) >= score(dark) else dark


def _weak_fraction(region: np.ndarray, weights: np.ndarray, paint) -> float:
    """Share of the glyph coverage where ``paint`` would stand out less than 3:1 from the picture."""
    lum = relative_luminance(region.reshape(-1, 3))
    weak = _log_contrast(lum, paint) < np.log(3.0)
    return float(np.average(weak, weights=weights.reshape(-1) + 1e-6))


def parse_color(color: str) -> tuple[int, int, int] | None:
    """None for ``auto``; else an RGB triple from a CSS name or hex code, with a one-line error."""
    if not isinstance(color, str) or not color.strip():
        raise BelamyError(f"colour {color!r} is not valid", "use auto, a name such as gold, or a hex code like '#1a1a1a'")
    if color.strip().lower() == "auto":
        return None
    try:
        rgb = ImageColor.getrgb(color.strip())
    except ValueError:
        raise BelamyError(f"unknown colour {color!r}", "use auto, a name such as gold, or a hex code like '#1a1a1a'") from None
    return tuple(int(v) for v in rgb[:3])


# ----------------------------------------------------------------------------- placing


def _check_options(corner: str, width_fraction: float) -> None:
    if corner not in CORNERS:
        raise BelamyError(f"unknown corner {corner!r}", f"use one of {', '.join(CORNERS)}")
    try:
        ok = 0.0 < float(width_fraction) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise BelamyError(f"signature size {width_fraction!r} is not in (0, 1]", "give a fraction of the image width, e.g. 0.42")


def signature_box(size: tuple[int, int], corner: str, width_fraction: float) -> tuple[int, int, np.ndarray]:
    """Where the signature goes on an image of ``size`` (W, H): top-left (x, y) and its coverage mask."""
    W, H = size
    margin = max(1, round(0.035 * min(W, H)))
    width = max(2, min(round(width_fraction * W), W - 2 * margin))
    mask = signature_mask(width)
    # A very wide, short image: keep the signature within a quarter of the height.
    if mask.shape[0] > 0.25 * H:
        width = max(2, int(width * 0.25 * H / mask.shape[0]))
        mask = signature_mask(width)
    h, w = mask.shape
    x = W - margin - w if corner.endswith("right") else margin
    y = H - margin - h if corner.startswith("bottom") else margin
    return x, y, mask


def sign_pil(img: Image.Image, corner: str = "bottom-right", color: str = "auto", width_fraction: float = 0.42) -> Image.Image:
    """Return a signed RGB copy of ``img`` (any mode); pixels change only near the signature."""
    arr = np.array(to_rgb(img), dtype=np.uint8)
    sign_array(arr, corner=corner, color=color, width_fraction=width_fraction)
    return Image.fromarray(arr, "RGB")


def sign_array(arr: np.ndarray, corner: str = "bottom-right", color: str = "auto", width_fraction: float = 0.42) -> None:
    """Sign an RGB uint8 array [H, W, 3] in place (a print-sized image need not be copied)."""
    _check_options(corner, width_fraction)
    rgb = parse_color(color)
    H, W = arr.shape[:2]
    if min(W, H) < MIN_SIDE:
        raise BelamyError(f"the image is {W}×{H}: too small to sign", f"sign images of {MIN_SIDE} px or more")
    x, y, mask = signature_box((W, H), corner, width_fraction)
    h, w = mask.shape
    under = arr[y : y + h, x : x + w]
    paint = rgb if rgb is not None else auto_color(under, mask)
    if rgb is None:
        # On a busy ground (letters crossing light and dark), a faint underlayer of the opposite
        # tone keeps the line readable; on an even ground it is not drawn at all.
        weak = _weak_fraction(under, mask, paint)
        strength = HALO_OPACITY * float(np.clip((weak - 0.1) / 0.4, 0.0, 1.0))
        if strength > 0:
            ground = LIGHT_PAINTS[1] if paint in DARK_PAINTS else DARK_PAINTS[1]
            _lay_paint(arr, x, y, _halo(mask), ground, strength)
    _lay_paint(arr, x, y, mask * _paint_texture(mask.shape), paint, OPACITY)


def _halo(mask: np.ndarray) -> np.ndarray:
    """The glyph coverage spread softly by about a stroke's width, same shape as ``mask``."""
    radius = max(0.6, 0.07 * mask.shape[0])
    spread = Image.fromarray((mask * 255).astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(radius))
    return np.clip(np.asarray(spread, dtype=np.float32) / 255.0 * 2.5, 0.0, 1.0)


def _lay_paint(arr: np.ndarray, x: int, y: int, coverage: np.ndarray, paint, opacity: float) -> None:
    h, w = coverage.shape
    region = arr[y : y + h, x : x + w].astype(np.float32)
    alpha = (coverage * opacity)[..., None]
    colour = np.asarray(paint, dtype=np.float32)
    arr[y : y + h, x : x + w] = np.clip(region * (1.0 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)


def sign_image(image_path, out_path, corner: str = "bottom-right", color: str = "auto",
               width_fraction: float = 0.42) -> Path:
    """Sign the image at ``image_path`` and write it to ``out_path`` (format from its extension).

    The picture's provenance record is carried over with a ``sign`` step added (and, with a signing
    identity, the content credentials name the source file as the signed picture's parent).
    """
    image_path, out = Path(image_path), Path(out_path)
    _check_options(corner, width_fraction)
    parse_color(color)
    if out.suffix.lower() not in FORMATS:
        raise BelamyError(f"cannot write {out.name}: unknown format {out.suffix or '(no extension)'}", "use .png, .jpg or .tif")
    check_writable(out)
    img = open_rgb(image_path)
    record = derive(image_path, "sign", signature=FORMULA_TEXT, corner=corner)
    with Image.open(image_path) as src:
        dpi = src.info.get("dpi")
    signed = sign_pil(img, corner=corner, color=color, width_fraction=width_fraction)
    return save_image(signed, out, record.to_dict(), dpi=dpi, parent=image_path, actions=record.c2pa_actions())
