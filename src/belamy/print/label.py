"""A museum wall label: artist, title and date, medium, dimensions, and where the picture came from.

The credit line names the model (run, checkpoint hash, seed), the code and the training corpus (how
many paintings, by whom, and their public-domain status, from ``CORPUS/credits.json`` or the corpus
manifest), read from the provenance the picture carries; the label is drawn with matplotlib (the formula as
real mathematics) and written as a 300 dpi PNG, or a PDF when the file name ends in .pdf.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from belamy import __version__
from belamy.corpus.credits import CREDITS_FILE, UNKNOWN_ARTIST, build_credits
from belamy.errors import BelamyError
from belamy.print.signature import FORMULA
from belamy.provenance.c2pa import seal
from belamy.provenance.record import DESIGNS, Record
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


def run_name(run: str | Path) -> str:
    """A run as a person names it: its folder with the one above (``demo-output/run``, ``runs/belamy``)."""
    parts = [p for p in Path(run).parts if p not in ("/", ".")]
    return "/".join(parts[-2:]) if parts else str(run)


def _run_corpus(provenance: dict) -> dict | None:
    """The training corpus named in the picture's provenance, or in its run's run.json when that run is here."""
    corpus = provenance.get("corpus")
    if isinstance(corpus, dict) and corpus.get("path"):
        return corpus
    run = provenance.get("run")
    if not run:
        return None
    try:
        info = untrusted.read_json(Path(run) / "run.json", "run.json", finite=False)
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


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def corpus_credit(provenance: dict) -> str | None:
    """One sentence on the paintings the model learned from: how many, by whom, and their public-domain status."""
    corpus = _run_corpus(provenance)
    if corpus is None:
        return None
    name = Path(corpus["path"]).name
    folder = _find_corpus(corpus["path"], provenance.get("run"))
    credits = _corpus_credits(folder) if folder is not None else None
    if credits is None:
        count = corpus.get("count")
        many = f"{count:,} paintings" if isinstance(count, int) else "paintings"
        return f"Trained on {many} from the corpus “{name}” (its credits are not on this machine)."
    counts = credits["counts"]
    works = counts.get("works", 0)
    known = [a for a in credits.get("artists", []) if a.get("name") and a["name"] != UNKNOWN_ARTIST]
    if known:
        top = [a["name"] for a in known[:3]]
        who = (f"by {len(known)} artist{'s' if len(known) != 1 else ''}"
               + (f", chiefly {_and(top)}" if len(known) > 3 else f": {_and(top)}"))
        unattributed = works - sum(a.get("works", 0) for a in known)
        if unattributed > 0:
            who += f" ({unattributed:,} unattributed)"
    else:
        who = "their artists not recorded"
    pd, not_pd, unknown = counts.get("public_domain", 0), counts.get("not_public_domain", 0), counts.get("unknown", 0)
    if works and pd == works:
        status = "all in the public domain"
    elif works and unknown == works:
        status = "public-domain status unknown"
    else:
        status = f"{pd:,} in the public domain, {not_pd:,} not yet, {unknown:,} unknown"
    return f"Trained on {works:,} paintings from the corpus “{name}”, {who}; {status}."


def flat_provenance(provenance: dict | None) -> dict:
    """The keys this label reads (arch, res, kimg, run, checkpoint_sha256, seed, corpus), from a record of any version."""
    rec = Record.from_dict(provenance)
    flat = {k: rec.model.get(k) for k in ("arch", "res", "run", "kimg", "checkpoint_sha256")}
    flat.update(seed=rec.seed, corpus=rec.corpus or None, generator="belamy" if rec.is_generated else None,
                after=rec.code.get("after") or DESIGNS.get(rec.model.get("arch") or "", {}).get("after"))
    return {k: v for k, v in flat.items() if v is not None}


def credit_line(provenance: dict | None, upscaler: dict | None = None, extra: str | None = None) -> str:
    """Model, corpus, network design and code, in one paragraph, from whatever provenance is known."""
    prov = flat_provenance(provenance)
    parts = []
    if prov.get("generator") == "belamy" or prov.get("checkpoint_sha256"):
        model = f"{prov.get('arch', 'GAN')} at {prov['res']}²" if prov.get("res") else prov.get("arch", "GAN")
        bits = [f"Model: belamy {model}"]
        if isinstance(prov.get("kimg"), int | float):
            images = round(prov["kimg"] * 1000)
            bits.append(f"trained {prov['kimg']:.3g} kimg ({images:,} images shown)")
        if prov.get("run"):
            bits.append(f"run “{run_name(prov['run'])}”")
        if prov.get("checkpoint_sha256"):
            bits.append(f"checkpoint sha256 {prov['checkpoint_sha256'][:12]}")
        if prov.get("seed") is not None:
            bits.append(f"seed {prov['seed']}")
        parts.append(", ".join(bits) + ".")
        corpus = corpus_credit(prov)
        if corpus:
            parts.append(corpus)
        if prov.get("after"):
            parts.append(f"Network design after {prov['after']}.")
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
