"""A museum wall label: artist, title and date, medium, dimensions, and where the picture came from.

The credit line is provenance's (belamy.provenance.credit_line): model, corpus, design, code. The label
first brings the record's corpus up to date with this machine (how many paintings, by whom, and their
public-domain status, from ``CORPUS/credits.json`` or the corpus manifest); it is drawn with matplotlib
(the formula as real mathematics) and written as a 300 dpi PNG, or a PDF when the file name ends in .pdf.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from belamy.corpus.credits import CREDITS_FILE, build_credits
from belamy.errors import BelamyError
from belamy.print.signature import FORMULA
from belamy.provenance.c2pa import seal
from belamy.provenance.record import Record, corpus_section
from belamy.utils import untrusted
from belamy.utils.atomic import atomic_path

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


def _run_corpus(rec: Record) -> dict | None:
    """The training corpus named in the picture's provenance, or in its run's run.json when that run is here."""
    if rec.corpus.get("path"):
        return dict(rec.corpus)
    if not rec.run:
        return None
    try:
        info = untrusted.read_json(Path(rec.run) / "run.json", "run.json", finite=False)
    except (OSError, ValueError):
        return None
    corpus = info.get("corpus") if isinstance(info, dict) else None
    return corpus if isinstance(corpus, dict) and corpus.get("path") else None


def _find_corpus(path: str, run: str | None) -> Path | None:
    """The corpus folder: as recorded (relative to where training ran), else beside the run."""
    recorded = Path(path)
    candidates = [recorded]
    if run and not recorded.is_absolute():
        candidates += [Path(run).parent / recorded.name, Path(run).parent.parent / recorded]
    return next((c for c in candidates if (c / "manifest.jsonl").is_file() or (c / CREDITS_FILE).is_file()), None)


def _corpus_credits(folder: Path) -> dict | None:
    """``CORPUS/credits.json`` (from `belamy corpus credits`), else the same worked out from the manifest."""
    try:
        data = untrusted.read_json(folder / CREDITS_FILE, str(folder / CREDITS_FILE), untrusted.CORPUS_WIDE, finite=False)
        if isinstance(data, dict) and isinstance(data.get("counts"), dict):
            return data
    except (OSError, ValueError):
        pass
    try:
        return build_credits(folder).to_dict()
    except BelamyError:
        return None


def label_record(provenance: dict | None) -> Record:
    """The picture's record with its training corpus as it is on this machine, for the label's credit line.

    The corpus is the one the record names, else the one its run's run.json names; when its folder is here
    (where it was recorded, or beside the run), its credits are read now: ``CORPUS/credits.json``, else
    worked out from the manifest. A corpus that is not here keeps what the record says of it."""
    rec = Record.from_dict(provenance)
    corpus = _run_corpus(rec)
    if corpus is None:
        return rec
    folder = _find_corpus(str(corpus["path"]), rec.run)
    rec.corpus = corpus if folder is None else corpus_section({**corpus, "path": str(folder)}, _corpus_credits(folder))
    return rec


def render_label(text: LabelText, out: Path, dpi: int = 300) -> Path:
    """Draw the label and write it atomically (PNG, or PDF by extension)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    out = Path(out)
    fmt = {".png": "png", ".pdf": "pdf"}.get(out.suffix.lower())
    if fmt is None:
        raise BelamyError(f"cannot write a label to {out.name}", "use .png or .pdf")
    unit = LABEL_CM[1] / 2.54  # the layout's vertical steps are fractions of the standard label's height
    ink, grey = "#1d1a16", "#5b554c"
    serif = {"family": "DejaVu Serif", "color": ink}
    title = textwrap.fill(text.title, 38)
    credit = textwrap.fill(text.credit, 78)
    # (top in inches, text, style, the step below it). The credit line may run long (a whole chain of
    # steps), so the label grows taller to hold it rather than cutting its last lines off.
    pieces = [(text.artist, {**serif, "fontsize": 13, "fontweight": "bold"}, 0.095 * unit)]
    if text.formula:
        pieces.append((FORMULA, {"fontproperties": FontProperties(size=8.5, math_fontfamily="cm"), "color": grey},
                       0.11 * unit))
    pieces.append((title, {**serif, "fontsize": 12, "fontstyle": "italic"}, 0.075 * unit * (title.count("\n") + 1)))
    pieces.append((text.date, {**serif, "fontsize": 10}, 0.115 * unit))
    # Medium, size and the extra lines (resolution, finish) wrap as the credit does, at their larger type.
    lines = [textwrap.fill(line, 58) for line in (text.medium, text.dimensions, *text.extra) if line]
    pieces += [(line, {**serif, "fontsize": 8.5}, 0.06 * unit * (line.count("\n") + 1)) for line in lines]
    pieces[-1] = (*pieces[-1][:2], pieces[-1][2] + 0.03 * unit)
    credit_height = (credit.count("\n") + 1) * 6.3 * 1.35 * 1.2 / 72  # its lines, in inches
    pieces.append((credit, {**serif, "color": grey, "fontsize": 6.3, "linespacing": 1.35}, credit_height))
    h_in = max(unit, 0.12 * unit + sum(step for *_, step in pieces) + 0.07 * unit)
    fig = Figure(figsize=(LABEL_CM[0] / 2.54, h_in), dpi=dpi, facecolor="#fbf9f4")
    FigureCanvasAgg(fig)
    top = 0.12 * unit
    for words, style, step in pieces:
        fig.text(0.07, 1 - top / h_in, words, va="top", **style)
        top += step
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, facecolor=fig.get_facecolor())
            seal(tmp, out)  # content credentials, like every picture belamy writes
    except OSError as exc:
        raise BelamyError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out") from None
    return out
