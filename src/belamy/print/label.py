"""A museum wall label: artist, title and date, medium, dimensions, and where the picture came from.

The credit line names the model (run, checkpoint hash, seed), the code and the training corpus,
read from the provenance the picture carries; the label is drawn with matplotlib (the formula as
real mathematics) and written as a 300 dpi PNG, or a PDF when the file name ends in .pdf.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from belamy import __version__
from belamy.errors import BelamyError
from belamy.print.signature import FORMULA
from belamy.provenance.credit import credit_line as provenance_credit
from belamy.provenance.record import Record
from belamy.utils.atomic import atomic_path
from belamy.utils.imageio import seal

LABEL_CM = (12.0, 8.0)  # a common size for a museum label


@dataclass
class LabelText:
    title: str
    artist: str
    date: str
    medium: str
    dimensions: str
    credit: str
    formula: bool = True  # print the GAN objective under the artist's name, as the painting is signed
    extra: list[str] = field(default_factory=list)


def corpus_from_run(provenance: dict) -> dict | None:
    """The training corpus named in the generating run's run.json, when that run is on this machine."""
    run = Record.from_dict(provenance).run
    if not run:
        return None
    try:
        info = json.loads((Path(run) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    corpus = info.get("corpus") or {}
    return corpus if corpus.get("path") else None


def credit_line(provenance: dict | None, upscaler: dict | None = None, extra: str | None = None) -> str:
    """Model, corpus and design (belamy.provenance.credit_line), then the enlarger and the code, in one paragraph."""
    rec = Record.from_dict(provenance)
    parts = []
    if rec.is_generated:
        if not rec.corpus:  # an older record: the run folder may still say what it was trained on
            rec.corpus = corpus_from_run(provenance or {}) or {}
        arch, res = rec.model.get("arch", "GAN"), rec.model.get("res")
        text = provenance_credit(rec)
        parts.append(f"Model: belamy {arch}{f' at {res}²' if res else ''}, {text[0].lower()}{text[1:]}.")
    else:
        parts.append("Source image without belamy provenance.")
    if upscaler:
        name = upscaler.get("architecture") or upscaler.get("upscaler")
        parts.append(f"Enlarged with {name}.")
    parts.append(f"Code: belamy {__version__} (Apache-2.0).")
    if extra:
        parts.append(extra.strip())
    return " ".join(parts)


def render_label(text: LabelText, out: Path, dpi: int = 300) -> Path:
    """Draw the label and write it atomically (PNG, or PDF by extension)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    out = Path(out)
    fmt = {".png": "png", ".pdf": "pdf"}.get(out.suffix.lower())
    if fmt is None:
        raise BelamyError(f"cannot write a label to {out.name}", "use .png or .pdf")
    w_in, h_in = LABEL_CM[0] / 2.54, LABEL_CM[1] / 2.54
    fig = Figure(figsize=(w_in, h_in), dpi=dpi, facecolor="#fbf9f4")
    FigureCanvasAgg(fig)
    ink, grey = "#1d1a16", "#5b554c"
    serif = {"family": "DejaVu Serif"}
    x, y = 0.07, 0.88
    fig.text(x, y, text.artist, fontsize=13, fontweight="bold", color=ink, va="top", **serif)
    y -= 0.095
    if text.formula:
        fig.text(x, y, FORMULA, fontproperties=FontProperties(size=8.5, math_fontfamily="cm"), color=grey, va="top")
        y -= 0.11
    title = textwrap.fill(text.title, 38)
    fig.text(x, y, title, fontsize=12, fontstyle="italic", color=ink, va="top", **serif)
    fig.text(x + 0.0, y - 0.075 * (title.count("\n") + 1), text.date, fontsize=10, color=ink, va="top", **serif)
    y -= 0.075 * (title.count("\n") + 2) + 0.04
    for line in (text.medium, text.dimensions, *text.extra):
        if line:
            fig.text(x, y, line, fontsize=8.5, color=ink, va="top", **serif)
            y -= 0.06
    y -= 0.03
    fig.text(x, y, textwrap.fill(text.credit, 78), fontsize=6.3, color=grey, va="top", linespacing=1.35, **serif)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, facecolor=fig.get_facecolor())
            seal(tmp, out)  # content credentials, like every picture belamy writes
    except OSError as exc:
        raise BelamyError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out") from None
    return out
