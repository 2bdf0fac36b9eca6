"""`belamy print`: from a small sample to a file a lab prints at, say, 70 × 70 cm and 300 dpi.

The picture is cropped (``cover``) or fitted (``contain``) to the print's proportions, enlarged to
the exact pixel count (a network, tile by tile, then Lanczos for the last stretch), signed, and
written as a lossless LZW TIFF (or a PDF) with its DPI, an sRGB ICC profile and its provenance.
Beside it: a framed mock-up (``<stem>.mockup.png``) and a wall label (``<stem>.label.png``).
Every file is written atomically: an interrupted print leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from belamy.errors import BelamyError
from belamy.print.brushwork import Brushwork, paint
from belamy.print.label import LabelText, label_record, render_label
from belamy.print.mockup import render_mockup
from belamy.print.signature import CORNERS, FORMULA_TEXT, check_style, parse_color, sign_array
from belamy.provenance.c2pa import seal
from belamy.provenance.credit import credit_line
from belamy.provenance.embed import save_png
from belamy.provenance.record import Record, derive, upscaler_fields
from belamy.upscale.upscaler import Upscaler, check_tiling, choose_upscaler, detail_scale, upscale_rgb
from belamy.utils.atomic import atomic_path
from belamy.utils.imageio import check_writable, open_rgb
from belamy.utils.progress import console

UNITS_PER_INCH = {"cm": 2.54, "mm": 25.4, "in": 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*(cm|mm|in)\s*$", re.IGNORECASE)
PRINT_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".pdf": "PDF"}
MAX_SIDE_PX = 40_000
MAX_PIXELS = 600_000_000  # 600 MP: 2 m × 2 m at 300 dpi is 556 MP
PAPER_WHITE = (255, 255, 255)
FINISHES = ("none", "brushwork")
BRUSHWORK_LABEL = "Brushwork rendered by belamy along the picture's contours at the print's scale (seed {seed})"
# Lanczos (and the Lanczos stretch after a network) only interpolates: beyond about 2× it shows as blur.
INTERPOLATION_LIMIT = 2.0


@dataclass(frozen=True)
class PrintSize:
    width: float  # in ``unit``
    height: float
    unit: str

    @property
    def inches(self) -> tuple[float, float]:
        per = UNITS_PER_INCH[self.unit]
        return self.width / per, self.height / per

    def pixels(self, dpi: int) -> tuple[int, int]:
        """Pixel size at ``dpi``: 70 cm at 300 dpi is round(70 / 2.54 × 300) = 8268."""
        w_in, h_in = self.inches
        return round(w_in * dpi), round(h_in * dpi)

    @property
    def cm(self) -> tuple[float, float]:
        per_cm = UNITS_PER_INCH["cm"] / UNITS_PER_INCH[self.unit]  # 1 for cm: no round trip through inches
        return self.width * per_cm, self.height * per_cm

    def describe(self) -> str:
        text = f"{self.width:g} × {self.height:g} {self.unit}"
        if self.unit == "in":
            w, h = self.cm
            text += f" ({w:.1f} × {h:.1f} cm)"
        return text


def parse_size(text: str) -> PrintSize:
    """``70x70cm``, ``500x700mm``, ``20x24in`` (width × height) -> PrintSize, or a one-line error."""
    m = _SIZE.match(text or "")
    if not m:
        raise BelamyError(f"print size {text!r} is not valid", "write WIDTHxHEIGHT with a unit: 70x70cm, 500x700mm, 20x24in")
    w, h, unit = float(m.group(1)), float(m.group(2)), m.group(3).lower()
    size = PrintSize(w, h, unit)
    w_cm, h_cm = size.cm
    if not (1.0 <= w_cm <= 1000.0 and 1.0 <= h_cm <= 1000.0):
        raise BelamyError(f"print size {text!r} is out of range", "give 1 cm to 10 m per side")
    return size


@dataclass
class PrintOptions:
    image: Path
    out: Path
    size: str = "70x70cm"
    dpi: int = 300
    fit: str = "cover"  # cover: crop to the print's proportions; contain: fit inside, white margins
    model: Path | None = None
    weights: Path | None = None
    method: str = "auto"
    finish: str = "none"  # none, or brushwork: brush marks laid on at the print's scale (belamy.print.brushwork)
    device: str = "auto"
    tile: int = 256
    overlap: int = 16
    sign: bool = True
    corner: str = "bottom-right"
    color: str = "auto"
    signature_size: float = 0.42
    signature_style: str = "script"  # script (hand-lettered) or typeset (Computer Modern)
    title: str | None = None
    artist: str = "belamy"
    medium: str = "Generative adversarial network; pigment print on canvas"
    date: str | None = None
    credit: str | None = None
    mockup: bool = True
    label: bool = True


@dataclass
class PrintResult:
    print_path: Path
    pixels: tuple[int, int]
    mockup_path: Path | None = None
    label_path: Path | None = None
    provenance: dict = field(default_factory=dict)


def side_paths(out: Path) -> tuple[Path, Path]:
    """Where the mock-up and the label go: beside the print, named after it."""
    return out.with_name(f"{out.stem}.mockup.png"), out.with_name(f"{out.stem}.label.png")


def crop_to_aspect(img: Image.Image, aspect: float) -> Image.Image:
    """The largest centred crop of ``img`` with width / height = ``aspect``."""
    w, h = img.size
    if w / h > aspect:
        new_w = max(1, round(h * aspect))
        left = (w - new_w) // 2
        return img.crop((left, 0, left + new_w, h))
    new_h = max(1, round(w / aspect))
    top = (h - new_h) // 2
    return img.crop((0, top, w, top + new_h))


def _validate(opts: PrintOptions) -> tuple[PrintSize, tuple[int, int]]:
    size = parse_size(opts.size)
    if not 50 <= opts.dpi <= 1200:
        raise BelamyError(f"--dpi {opts.dpi} is not valid", "use 50 to 1200 (300 is the usual print resolution)")
    if opts.fit not in ("cover", "contain"):
        raise BelamyError(f"--fit {opts.fit!r} is not valid", "use cover (crop to fill) or contain (fit with margins)")
    W, H = size.pixels(opts.dpi)
    if max(W, H) > MAX_SIDE_PX or W * H > MAX_PIXELS:
        raise BelamyError(f"{opts.size} at {opts.dpi} dpi is {W}×{H} px: too large",
                          f"lower --dpi (at most {MAX_SIDE_PX} px a side, {MAX_PIXELS // 1_000_000} MP)")
    out = Path(opts.out)
    if out.suffix.lower() not in PRINT_FORMATS:
        raise BelamyError(f"cannot write a print to {out.name}", "use .tif (lossless, recommended) or .pdf")
    if opts.corner not in CORNERS:
        raise BelamyError(f"unknown corner {opts.corner!r}", f"use one of {', '.join(CORNERS)}")
    parse_color(opts.color)
    if not 0.0 < opts.signature_size <= 1.0:
        raise BelamyError(f"signature size {opts.signature_size} is not in (0, 1]", "give a fraction of the width, e.g. 0.42")
    check_style(opts.signature_style)
    check_tiling(opts.tile, opts.overlap)
    if opts.finish not in FINISHES:
        raise BelamyError(f"unknown finish {opts.finish!r}",
                          "use none (the enlarged picture as it is) or brushwork (brush marks at the print's scale)")
    check_writable(out)
    return size, (W, H)


@dataclass(frozen=True)
class Enlargement:
    """How far a picture is enlarged for a print, and how much of that the chosen method draws."""

    source: tuple[int, int]  # pixels of the picture that fill the print (after a cover crop)
    content: tuple[int, int]  # pixels they become
    content_cm: tuple[float, float]
    ratio: float  # content / source
    drawn: int  # the network's share of the ratio (1 for Lanczos alone)

    @property
    def px_per_cm(self) -> float:
        return self.source[0] / self.content_cm[0]

    @property
    def scaled(self) -> str:
        """'enlarged 18×', 'enlarged 2.5×' or 'reduced to 0.39×': whole numbers only where the fraction is lost in them."""
        if self.ratio < 1:
            return f"reduced to {self.ratio:.2g}×"
        return f"enlarged {self.ratio:.0f}×" if self.ratio >= 10 else f"enlarged {self.ratio:.2g}×"

    @property
    def interpolated(self) -> float:
        """The part no method draws detail for: Lanczos interpolation."""
        return self.ratio / self.drawn

    def label_line(self, method: str) -> str:
        """The effective resolution, for the wall label."""
        return (f"From {self.source[0]} × {self.source[1]} px: {self.px_per_cm:.1f} px per cm "
                f"({self.px_per_cm * 2.54:.1f} ppi), {self.scaled} ({method})")

    def warning(self, upscaler: Upscaler, finish: str = "none") -> str | None:
        """Said when the enlargement goes past what the method can fill, with the routes that do better."""
        if self.interpolated <= INTERPOLATION_LIMIT:
            return None
        if upscaler.net is None:
            what = "Lanczos draws no new detail"
            routes = ("enlarge with a super-resolution model: belamy's own painting weights (--method painting), one "
                      "trained on your corpus (`belamy sr train CORPUS --out SRRUN`, then --model SRRUN) or third-party "
                      "weights (--weights 4x-model.pth); or print smaller")
        else:
            what = (f"{upscaler.name} draws {self.drawn}× of it, the other {self.interpolated:.1f}× is Lanczos "
                    "interpolation")
            routes = "print smaller, or give a model of a larger scale"
        marks = "" if finish != "none" else " Or lay brush marks over it at the print's scale: --finish brushwork."
        return (f"{self.source[0]}×{self.source[1]} px {self.scaled} to {self.content[0]}×{self.content[1]}: "
                f"{what}, so at 1:1 the print is soft ({self.px_per_cm:.1f} source px per cm). For detail, {routes}.{marks}")


def enlargement(picture: tuple[int, int], content: tuple[int, int], size: PrintSize, pixels: tuple[int, int],
                upscaler: Upscaler) -> Enlargement:
    """``picture`` px become ``content`` px of a print of ``size`` that is ``pixels`` px in all."""
    ratio = max(content[0] / picture[0], content[1] / picture[1])
    w_cm, h_cm = size.cm
    cm = (w_cm * content[0] / pixels[0], h_cm * content[1] / pixels[1])
    return Enlargement(picture, content, cm, ratio, detail_scale(upscaler, ratio))


def _write_print(img: Image.Image, out: Path, dpi: int, provenance: dict, source: Path | None = None,
                 actions: list[dict] | None = None) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    fmt = PRINT_FORMATS[out.suffix.lower()]
    try:
        with atomic_path(out) as tmp:
            if fmt == "TIFF":
                img.save(tmp, format="TIFF", compression="tiff_lzw", dpi=(dpi, dpi), icc_profile=icc,
                         description=json.dumps(provenance, sort_keys=True), software="belamy")
                seal(tmp, out, provenance, parent=source, actions=actions)
            else:
                # PIL embeds RGB pages in a PDF as JPEG: at quality 95 with no chroma subsampling.
                img.save(tmp, format="PDF", resolution=float(dpi), quality=95, subsampling=0,
                         title=(provenance.get("work") or {}).get("title", ""),
                         author=(provenance.get("work") or {}).get("artist", ""), creator="belamy")
    except OSError as exc:
        raise BelamyError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out (is the disk full?)") from None


def make_print(opts: PrintOptions) -> PrintResult:
    size, (W, H) = _validate(opts)
    out = Path(opts.out)
    src = open_rgb(opts.image)
    record = derive(opts.image, "print")
    source_prov = Record.from_dict(record.to_dict())
    source_prov.steps.pop()
    upscaler = choose_upscaler(opts.model, opts.weights, opts.method, opts.device)

    aspect = W / H
    if opts.fit == "cover":
        picture, content = crop_to_aspect(src, aspect), (W, H)
    else:
        scale = min(W / src.width, H / src.height)
        picture, content = src, (max(1, round(src.width * scale)), max(1, round(src.height * scale)))
    console.print(f"print {size.describe()} at {opts.dpi} dpi = {W}×{H} px from a {src.width}×{src.height} image "
                  f"({upscaler.name})")
    grown = enlargement(picture.size, content, size, (W, H), upscaler)
    advice = grown.warning(upscaler, opts.finish)
    if advice:
        console.print(f"[yellow]warning:[/yellow] {advice}", markup=True)
    rgb = upscale_rgb(np.asarray(picture), content, upscaler, tile=opts.tile, overlap=opts.overlap)
    brush = Brushwork(seed=source_prov.seed or 0) if opts.finish == "brushwork" else None
    if brush is not None:
        rgb = paint(rgb, opts.dpi / 25.4, brush)
    if not rgb.flags.writeable:
        rgb = rgb.copy()
    if opts.sign:
        sign_array(rgb, corner=opts.corner, color=opts.color, width_fraction=opts.signature_size,
                   style=opts.signature_style)
    img = Image.fromarray(rgb, "RGB")
    del rgb
    if content != (W, H):
        canvas = Image.new("RGB", (W, H), PAPER_WHITE)
        canvas.paste(img, ((W - content[0]) // 2, (H - content[1]) // 2))
        img = canvas

    seed = source_prov.seed
    title = opts.title or (f"Untitled (seed {seed})" if seed is not None else f"Untitled ({Path(opts.image).stem})")
    date = opts.date or str(dt.date.today().year)
    record.steps[-1].update(size=opts.size, dpi=opts.dpi, pixels=[W, H], fit=opts.fit, signed=bool(opts.sign),
                            upscale=upscaler_fields(upscaler.provenance), source_pixels=list(grown.source),
                            source_px_per_cm=round(grown.px_per_cm, 3), enlargement=round(grown.ratio, 2),
                            network_enlargement=grown.drawn)
    if brush is not None:
        record.steps[-1].update(finish={"name": opts.finish, **brush.to_dict()})
    if opts.sign:
        record.steps[-1].update(signature=FORMULA_TEXT, signature_style=opts.signature_style)
    record.work.update(title=title, artist=opts.artist)
    provenance = record.to_dict()
    _write_print(img, out, opts.dpi, provenance, source=Path(opts.image), actions=record.c2pa_actions())
    result = PrintResult(out, (W, H), provenance=provenance)
    mockup_path, label_path = side_paths(out)
    label_img = None
    if opts.label:
        text = LabelText(
            title=title, artist=opts.artist, date=date, medium=opts.medium,
            dimensions=f"{size.describe()} ({W} × {H} px at {opts.dpi} dpi)",
            credit=credit_line(label_record(source_prov.to_dict()), upscaler=upscaler.provenance, extra=opts.credit),
            extra=[grown.label_line(upscaler.name)]
            + ([BRUSHWORK_LABEL.format(seed=brush.seed)] if brush is not None else []),
        )
        render_label(text, label_path)
        result.label_path = label_path
        with Image.open(label_path) as im:
            label_img = im.convert("RGB")
    if opts.mockup:
        w_cm, h_cm = size.cm
        mockup = Record.from_dict(provenance).add_step("mockup", of=out.name)
        save_png(render_mockup(img, w_cm, h_cm, label=label_img), mockup_path, mockup.to_dict(), parent=out,
                 actions=mockup.c2pa_actions())
        result.mockup_path = mockup_path
    console.print(f"wrote {out}" + (f", {mockup_path.name}" if opts.mockup else "") + (f", {label_path.name}" if opts.label else ""))
    return result
