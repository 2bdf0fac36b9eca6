"""A painter's signature: the GAN objective, written in a corner of the picture.

Edmond de Belamy (Obvious, 2018) is signed with the minimax loss of Goodfellow et al. (2014), in a
hand-lettered script. We do the same: by default (``script``) the formula is set by matplotlib's
mathtext in Dancing Script, a handwriting face shipped as a Python package (SIL Open Font License),
with a gentle waver in the line; ``typeset`` draws it in Computer Modern, the face of the paper,
slanted a little. Either is laid onto the picture as translucent paint, its colour taken from the
ground under each stroke: light paint over dark passages, dark paint over light ones, blending
from one to the other where the ground turns, so the signature sits in the paint, not on a patch.
"""

from __future__ import annotations

import contextlib
import functools
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageFilter

from belamy.errors import BelamyError
from belamy.provenance.embed import FORMATS, save_image
from belamy.provenance.record import derive
from belamy.utils.imageio import check_writable, open_rgb, to_rgb

FORMULA = r"$\min_{G}\,\max_{D}\,\mathbb{E}_{x}[\log(D(x))] + \mathbb{E}_{z}[\log(1-D(G(z)))]$"
# The same mathematics as a hand writes it: a plain E, as on the Belamy canvas (a script face has no double-struck E).
FORMULA_SCRIPT = r"$\min_{G}\,\max_{D}\,E_{x}[\log(D(x))] + E_{z}[\log(1-D(G(z)))]$"
FORMULA_TEXT = "min_G max_D E_x[log(D(x))] + E_z[log(1 − D(G(z)))]"
STYLES = ("script", "typeset")
SCRIPT_FONT_PACKAGE = "fontpkg_dancing_script"  # pip: fontpkg-dancing-script
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")
# Warm paint colours, as a painter would sign: ochre or cream on dark paint, umber or black on light.
LIGHT_PAINTS = ((222, 192, 128), (242, 230, 200))  # pale ochre, then cream if ochre is not bright enough
DARK_PAINTS = ((58, 36, 22), (18, 14, 12))  # raw umber, then ivory black
MIN_CONTRAST = 4.5  # WCAG "readable text" ratio: the preferred warm paint must reach it
SLANT = 0.16  # typeset: horizontal shift per unit height, so roman letters lean like handwriting
WAVER = 0.035  # script: the line rises and falls by this much of its height, as a hand's line does
STROKE_PT = {"typeset": 0.3, "script": 0.25}  # brush weight added round each glyph, in points at 12 pt
SWITCH = 10.0  # how sharply the paint turns from light to dark as the ground does (per unit of log contrast)
OPACITY = 0.9  # a little of the picture shows through, as through a thin layer of paint
MIN_SIDE = 16


# ----------------------------------------------------------------------------- rendering


@functools.cache
def script_font() -> str:
    """Register the script face with matplotlib once; its family name."""
    from matplotlib import font_manager

    try:
        folder = resources.files(SCRIPT_FONT_PACKAGE) / "files"
        path = next(p for p in folder.iterdir() if p.name.lower().endswith((".ttf", ".otf")))
    except (ModuleNotFoundError, StopIteration, OSError):
        raise BelamyError("the script signature needs the Dancing Script font",
                          "pip install fontpkg-dancing-script, or sign with style typeset") from None
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def _math_style(style: str):
    """The formula and the mathtext settings of a style (rc settings apply while it is laid out and drawn)."""
    import matplotlib as mpl

    if style == "script":
        face = script_font()
        rc = {"mathtext.fontset": "custom", **{f"mathtext.{k}": face for k in ("rm", "it", "bf", "sf", "cal")}}
        return FORMULA_SCRIPT, "custom", mpl.rc_context(rc)
    return FORMULA, "cm", contextlib.nullcontext()  # Computer Modern: the typeface of the paper


def check_style(style: str) -> None:
    if style not in STYLES:
        raise BelamyError(f"unknown signature style {style!r}", f"use one of {', '.join(STYLES)}")


@functools.lru_cache(maxsize=8)
def signature_mask(width_px: int, style: str = "script") -> np.ndarray:
    """The formula as coverage in [0, 1], about ``width_px`` wide (height follows), with a thin clear border."""
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    check_style(style)
    width_px = max(2, int(width_px))
    formula, fontset, settings = _math_style(style)
    with settings:
        prop = FontProperties(size=12, math_fontfamily=fontset)
        w_pt, h_pt, depth_pt, *_ = MathTextParser("path").parse(formula, dpi=72, prop=prop)
        # Small signatures are drawn large and reduced: mathtext hinting at 5 px tall is illegible.
        render_w = max(width_px, 256)
        dpi = 72.0 * render_w / w_pt
        pad = 0.25 * h_pt
        fig = Figure(figsize=((w_pt + 2 * pad) / 72.0, (h_pt + 2 * pad) / 72.0), dpi=dpi)
        fig.patch.set_alpha(0.0)
        canvas = FigureCanvasAgg(fig)
        text = fig.text(pad / (w_pt + 2 * pad), (depth_pt + pad) / (h_pt + 2 * pad), formula, fontproperties=prop,
                        color="black")
        # Hairlines vanish in paint: a thin stroke round every glyph gives the weight of a brush line.
        text.set_path_effects([patheffects.withStroke(linewidth=STROKE_PT[style], foreground="black")])
        canvas.draw()
    alpha = np.asarray(canvas.buffer_rgba())[..., 3].copy()
    ys, xs = np.nonzero(alpha)
    alpha = alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    mask = _waver(alpha) if style == "script" else _slant(Image.fromarray(alpha, "L"))
    if mask.width != width_px:
        height = max(1, round(mask.height * width_px / mask.width))
        mask = mask.resize((width_px, height), Image.Resampling.LANCZOS)
    coverage = np.asarray(mask, dtype=np.float32) / 255.0
    border = max(1, round(0.08 * coverage.shape[0]))
    return np.pad(coverage, border)


def _slant(mask: Image.Image) -> Image.Image:
    """The top row moves right by SLANT × height, like a right-handed line of writing."""
    h = mask.height
    shift = SLANT * h
    return mask.transform((mask.width + int(np.ceil(shift)), h), Image.Transform.AFFINE,
                          (1.0, SLANT, -shift, 0.0, 1.0, 0.0), resample=Image.Resampling.BICUBIC)


def _waver(alpha: np.ndarray) -> Image.Image:
    """A hand's line is never ruled: it rises and falls a little, slowly, along its length (same each time)."""
    h, w = alpha.shape
    amplitude = WAVER * h
    x = np.arange(w) / max(1, w)
    offset = amplitude * (np.sin(2 * np.pi * (0.9 * x + 0.15)) + 0.45 * np.sin(2 * np.pi * (2.3 * x + 0.6)))
    offset -= offset.mean()
    pad = int(np.ceil(np.abs(offset).max())) + 1
    out = np.zeros((h + 2 * pad, w), dtype=np.float32)
    rows = np.arange(h)[:, None]
    for whole in np.unique(np.floor(offset).astype(int)):  # columns shifted by whole rows, then blended
        cols = np.nonzero(np.floor(offset).astype(int) == whole)[0]
        frac = (offset[cols] - whole)[None, :]
        src = alpha[:, cols].astype(np.float32)
        out[rows + pad + whole, cols] += src * (1 - frac)
        out[rows + pad + whole + 1, cols] += src * frac
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "L")


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


def _log_contrast(lum: np.ndarray, paint) -> np.ndarray:
    lp = float(relative_luminance(paint))
    return np.log((np.maximum(lum, lp) + 0.05) / (np.minimum(lum, lp) + 0.05))


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


def signature_box(size: tuple[int, int], corner: str, width_fraction: float,
                  style: str = "script") -> tuple[int, int, np.ndarray]:
    """Where the signature goes on an image of ``size`` (W, H): top-left (x, y) and its coverage mask."""
    W, H = size
    margin = max(1, round(0.035 * min(W, H)))
    width = max(2, min(round(width_fraction * W), W - 2 * margin))
    mask = signature_mask(width, style)
    # A very wide, short image: keep the signature within a quarter of the height.
    if mask.shape[0] > 0.25 * H:
        width = max(2, int(width * 0.25 * H / mask.shape[0]))
        mask = signature_mask(width, style)
    h, w = mask.shape
    x = W - margin - w if corner.endswith("right") else margin
    y = H - margin - h if corner.startswith("bottom") else margin
    return x, y, mask


def sign_pil(img: Image.Image, corner: str = "bottom-right", color: str = "auto", width_fraction: float = 0.42,
             style: str = "script") -> Image.Image:
    """Return a signed RGB copy of ``img`` (any mode); only the pixels under the strokes change."""
    arr = np.array(to_rgb(img), dtype=np.uint8)
    sign_array(arr, corner=corner, color=color, width_fraction=width_fraction, style=style)
    return Image.fromarray(arr, "RGB")


def sign_array(arr: np.ndarray, corner: str = "bottom-right", color: str = "auto", width_fraction: float = 0.42,
               style: str = "script") -> None:
    """Sign an RGB uint8 array [H, W, 3] in place (a print-sized image need not be copied)."""
    _check_options(corner, width_fraction)
    check_style(style)
    rgb = parse_color(color)
    H, W = arr.shape[:2]
    if min(W, H) < MIN_SIDE:
        raise BelamyError(f"the image is {W}×{H}: too small to sign", f"sign images of {MIN_SIDE} px or more")
    x, y, mask = signature_box((W, H), corner, width_fraction, style)
    h, w = mask.shape
    under = arr[y : y + h, x : x + w]
    paint = np.asarray(rgb, dtype=np.float32) if rgb is not None else ground_paint(under, mask)
    _lay_paint(arr, x, y, mask * _paint_texture(mask.shape), paint, OPACITY)


def ground_paint(under: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The paint for each pixel of a signature over ``under`` (uint8 RGB): [h, w, 3] floats.

    A light paint where the ground is dark and a dark one where it is light, judged on the ground
    as a letter sees it (blurred over about a quarter of the signature's height), and mixed only
    where the ground turns from one to the other. On an even ground it is a single colour; on a
    busy one every letter keeps its contrast, and no underlayer lightens or darkens the picture
    between the letters.
    """
    h = mask.shape[0]
    lum = relative_luminance(under.reshape(-1, 3)).reshape(under.shape[:2])
    encoded = Image.fromarray(np.clip(lum ** (1 / 2.4) * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    ground = (np.asarray(encoded.filter(ImageFilter.GaussianBlur(max(1.0, 0.15 * h))), dtype=np.float64) / 255) ** 2.4
    light, dark = _strongest(ground, LIGHT_PAINTS), _strongest(ground, DARK_PAINTS)
    t = np.clip(0.5 + SWITCH * (_log_contrast_map(ground, dark) - _log_contrast_map(ground, light)), 0.0, 1.0)[..., None]
    return (light * (1 - t) + dark * t).astype(np.float32)


def _strongest(ground: np.ndarray, paints) -> np.ndarray:
    """Per pixel, the warm paint (the first) where it reads well; toward the stronger one (the second,
    cream or black) where the ground is too close to it in tone. [h, w, 3]."""
    weak = np.log(MIN_CONTRAST) - _log_contrast(ground, paints[0])
    u = np.clip(weak / np.log(MIN_CONTRAST / 2.5), 0.0, 1.0)[..., None]
    return np.asarray(paints[0], np.float64) * (1 - u) + np.asarray(paints[1], np.float64) * u


def _log_contrast_map(lum: np.ndarray, paint: np.ndarray) -> np.ndarray:
    """Log contrast ratio between each ground value and its own paint colour ([h, w, 3])."""
    lp = relative_luminance(paint.reshape(-1, 3)).reshape(lum.shape)
    return np.log((np.maximum(lum, lp) + 0.05) / (np.minimum(lum, lp) + 0.05))


def _lay_paint(arr: np.ndarray, x: int, y: int, coverage: np.ndarray, paint: np.ndarray, opacity: float) -> None:
    """Paint (one colour [3] or one per pixel [h, w, 3]) laid over ``arr`` with the given coverage."""
    h, w = coverage.shape
    region = arr[y : y + h, x : x + w].astype(np.float32)
    alpha = (coverage * opacity)[..., None]
    arr[y : y + h, x : x + w] = np.clip(region * (1.0 - alpha) + paint * alpha + 0.5, 0, 255).astype(np.uint8)


def sign_image(image_path, out_path, corner: str = "bottom-right", color: str = "auto",
               width_fraction: float = 0.42, style: str = "script") -> Path:
    """Sign the image at ``image_path`` and write it to ``out_path`` (format from its extension).

    The picture's provenance record is carried over with a ``sign`` step added (and, with a signing
    identity, the content credentials name the source file as the signed picture's parent).
    """
    image_path, out = Path(image_path), Path(out_path)
    _check_options(corner, width_fraction)
    check_style(style)
    parse_color(color)
    if out.suffix.lower() not in FORMATS:
        raise BelamyError(f"cannot write {out.name}: unknown format {out.suffix or '(no extension)'}", "use .png, .jpg or .tif")
    check_writable(out)
    img = open_rgb(image_path)
    record = derive(image_path, "sign", signature=FORMULA_TEXT, corner=corner)
    with Image.open(image_path) as src:
        dpi = src.info.get("dpi")
    record.steps[-1]["style"] = style
    signed = sign_pil(img, corner=corner, color=color, width_fraction=width_fraction, style=style)
    return save_image(signed, out, record.to_dict(), dpi=dpi, parent=image_path, actions=record.c2pa_actions())
