"""`belamy corpus report`: one HTML page for a person to judge a corpus by.

The page (``report.html``, with its PNGs beside it) shows the numbers, a contact sheet, histograms of
years, original sizes and aspect ratios, the near-duplicate groups that were merged (side by side),
the rejected files with their reasons (and a thumbnail when the file can be decoded), and counts per
label (style, genre, artist ...). It needs no server: open the file in a browser.
"""

from __future__ import annotations

import collections
import html
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from belamy.corpus.contact import contact_sheet, pick_evenly
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.provenance.embed import save_png
from belamy.utils.atomic import atomic_path, read_jsonl, write_text

LABEL_FIELDS = ("style", "genre", "artist", "label", "movement", "nationality", "source_site")
MAX_DUPLICATE_GROUPS = 60
MAX_REJECT_THUMBS = 120
THUMB = 96
# Thumbnails of rejected files are made only for pictures this small: a reject may be a bomb.
THUMB_MAX_PIXELS = 40_000_000


def write_report(corpus_path: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` (and its PNGs) for the corpus at ``corpus_path``; return the page's path."""
    corpus = open_corpus(corpus_path)
    out = Path(out) if out is not None else corpus.path / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BelamyError(f"cannot write the report to {out}: {exc.strerror or exc}", "choose a folder you can write to") from None
    manifest = corpus.manifest
    rejects = read_jsonl(corpus.path / "rejects.jsonl")
    groups = read_jsonl(corpus.path / "duplicates.jsonl")

    sections = [
        _summary(corpus, rejects, groups),
        _contact(corpus, out),
        _histograms(manifest, out),
        _labels(manifest),
        _duplicates(corpus, groups, out),
        _rejects(rejects, out),
    ]
    page = out / "report.html"
    write_text(page, _PAGE.format(title=html.escape(f"belamy corpus — {corpus.path.name}"), body="\n".join(sections)))
    return page


# --------------------------------------------------------------------------- sections


def _summary(corpus, rejects: list[dict], groups: list[dict]) -> str:
    info = corpus.info
    merged = sum(len(g.get("merged", [])) for g in groups)
    reasons = collections.Counter(r.get("reason", "?").split(":", 1)[0] for r in rejects)
    rows = [  # values are HTML (escaped here)
        ("images", f"{len(corpus)} at {corpus.width}×{corpus.height}"),
        ("files read", str(info.get("read", len(corpus) + len(rejects) + merged))),
        ("rejected", html.escape(", ".join(f"{n} {r}" for r, n in reasons.most_common()) or "none")),
        ("duplicates merged", f"{merged} in {_plural(len(groups), 'group')}"),
        ("sources", "<br>".join(html.escape(str(s)) for s in info.get("sources", []))),
        ("built", html.escape(str(info.get("created", "?")))),
        ("options", _options(info.get("options", {}))),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<section><h1>{html.escape(str(corpus.path))}</h1><table class="kv">{body}</table></section>'


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# How the build options read on the page (name, and how a value reads); the rest as they are named.
_OPTION_NAMES = {
    "min_size": ("smallest source side", lambda v: f"{v} px"),
    "max_pixels": ("largest source", lambda v: f"{v:,} pixels" if isinstance(v, int) else str(v)),
    "dedupe_distance": ("near-duplicate distance", lambda v: f"{v} bits of the perceptual hash"),
    "crop": ("crop", str),
    "face_scale": ("face box scale", lambda v: f"{v:g}×" if isinstance(v, int | float) else str(v)),
    "face_shift": ("face box shift", lambda v: f"{v:g} of its height down" if isinstance(v, int | float) else str(v)),
    "trim": ("trim borders", lambda v: "yes" if v else "no"),
    "where": ("only records where", lambda v: ", ".join(f"{k} = {x}" for k, x in v.items()) if v else "all records"),
    "folder_labels": ("labels from sub-folders", lambda v: "yes" if v else "no"),
}


def _options(options) -> str:
    """The build options as a small table a person reads (HTML, escaped here), not a JSON dump."""
    if not isinstance(options, dict) or not options:
        return "defaults"
    if options.get("crop") != "face":  # the face box settings only matter with --crop face
        options = {k: v for k, v in options.items() if k not in ("face_scale", "face_shift")}
    rows = []
    for key, value in options.items():
        name, shown = _OPTION_NAMES.get(key, (key.replace("_", " "), str))
        try:
            text = shown(value)
        except (TypeError, ValueError, AttributeError):
            text = str(value)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(text)}</td></tr>")
    return f'<table class="options">{"".join(rows)}</table>'


def _contact(corpus, out: Path) -> str:
    chosen = pick_evenly(len(corpus), 200)
    sheet = contact_sheet([corpus.images[i] for i in chosen], thumb=min(max(corpus.height, corpus.width), THUMB), cols=20)
    save_png(sheet, out / "contact.png")
    note = f"all {len(corpus)}" if len(chosen) == len(corpus) else f"{len(chosen)} of {len(corpus)}, evenly spread"
    return (f'<section><h2>Contact sheet <small>({note}, in corpus order)</small></h2>'
            f'<img class="wide" src="contact.png" alt="contact sheet"></section>')


def _histograms(manifest: list[dict], out: Path) -> str:
    years = [m["year"] for m in manifest if isinstance(m.get("year"), int | float)]
    # The picture's own size: the original less any letterbox bars or margins that were trimmed.
    dims = []
    for m in manifest:
        if m.get("width") and m.get("height"):
            left, top, right, bottom = m.get("trimmed") or (0, 0, 0, 0)
            dims.append((max(1, m["width"] - left - right), max(1, m["height"] - top - bottom)))
    sizes = [min(w, h) for w, h in dims]
    aspects = [w / h for w, h in dims]
    figs = []
    if years:
        _histogram(years, out / "hist_years.png", f"Year ({len(years)} of {len(manifest)} known)", "year",
                   bins=min(40, max(5, len(set(years)))))
        figs.append("hist_years.png")
    if sizes:
        _histogram(sizes, out / "hist_sizes.png", "Original short side (pixels, borders trimmed)", "pixels", log=True)
        figs.append("hist_sizes.png")
    if aspects:
        _histogram(aspects, out / "hist_aspect.png", "Aspect ratio (width / height, borders trimmed)", "width / height",
                   bins=30)
        figs.append("hist_aspect.png")
    imgs = "".join(f'<img src="{f}" alt="{f}">' for f in figs)
    return f'<section><h2>Distributions</h2><div class="row">{imgs or "<p>No sizes or years known.</p>"}</div></section>'


def _histogram(values: list[float], path: Path, title: str, xlabel: str, bins: int = 30, log: bool = False) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 3.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    data = np.asarray(values, dtype=float)
    if log and data.min() > 0 and data.max() / data.min() > 4:
        from matplotlib.ticker import NullFormatter

        edges = np.geomspace(data.min(), data.max() * 1.0001, bins + 1)
        ax.set_xscale("log")
        ticks = [2**k for k in range(3, 17) if data.min() <= 2**k <= data.max()]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        edges = bins
    ax.hist(data, bins=edges, color="#8a5a44", edgecolor="white", linewidth=0.5)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("images", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def _labels(manifest: list[dict]) -> str:
    tables = []
    for field in LABEL_FIELDS:
        values = [m[field] for m in manifest if m.get(field) not in (None, "")]
        if not values:
            continue
        counts = collections.Counter(str(v) for v in values).most_common()
        top = counts[0][1]
        rows = "".join(
            f'<tr><td>{html.escape(name)}</td><td class="n">{n}</td>'
            f'<td><div class="bar" style="width:{max(1, round(200 * n / top))}px"></div></td></tr>'
            for name, n in counts[:40]
        )
        more = f"<p>… and {len(counts) - 40} more</p>" if len(counts) > 40 else ""
        tables.append(f'<div><h3>{field} <small>({len(counts)} values, {len(values)} images)</small></h3>'
                      f'<table class="counts">{rows}</table>{more}</div>')
    if not tables:
        return "<section><h2>Labels</h2><p>No label fields (style, genre, artist, label) in the manifest.</p></section>"
    return f'<section><h2>Labels</h2><div class="row">{"".join(tables)}</div></section>'


def _duplicates(corpus, groups: list[dict], out: Path) -> str:
    if not groups:
        return "<section><h2>Near duplicates merged</h2><p>None.</p></section>"
    rows = []
    for n, group in enumerate(groups[:MAX_DUPLICATE_GROUPS]):
        kept_index = group.get("kept_index")
        # The originals side by side (the kept one first), so that a person can tell a true copy
        # from two different paintings; the corpus image stands in when the original is gone.
        kept = _source_thumb(group.get("kept", ""), placeholder=False)
        if kept is None and isinstance(kept_index, int) and 0 <= kept_index < len(corpus):
            kept = np.asarray(corpus.images[kept_index])
        tiles = [kept if kept is not None else _source_thumb("")]
        tiles += [_source_thumb(src) for src in group.get("merged", [])]
        name = f"dup_{n:03d}.png"
        save_png(contact_sheet(tiles, thumb=THUMB, cols=len(tiles)), out / name)
        merged = "".join(f"<li>{html.escape(_short(s))}</li>" for s in group.get("merged", []))
        dist = group.get("phash_distance", [])
        rows.append(f'<tr><td><img src="{name}" alt="group {n}"></td><td><b>kept</b> {html.escape(_short(group.get("kept", "")))}'
                    f'<ul>{merged}</ul><small>pHash distance {html.escape(str(dist))}</small></td></tr>')
    more = (f"<p>… and {_plural(len(groups) - MAX_DUPLICATE_GROUPS, 'more group')} in duplicates.jsonl</p>"
            if len(groups) > MAX_DUPLICATE_GROUPS else "")
    return (f'<section><h2>Near duplicates merged <small>({_plural(len(groups), "group")}; kept one first)</small></h2>'
            f'<table class="list">{"".join(rows)}</table>{more}</section>')


def _rejects(rejects: list[dict], out: Path) -> str:
    if not rejects:
        return "<section><h2>Rejected</h2><p>None.</p></section>"
    rows = []
    for n, r in enumerate(rejects):
        thumb = ""
        if n < MAX_REJECT_THUMBS:
            arr = _source_thumb(r.get("path", ""), placeholder=False)
            if arr is not None:
                name = f"reject_{n:03d}.png"
                save_png(Image.fromarray(arr), out / name)
                thumb = f'<img src="{name}" alt="">'
        rows.append(f'<tr><td class="thumb">{thumb or "<span class=none>no preview</span>"}</td>'
                    f'<td>{html.escape(_short(r.get("path", "")))}</td><td>{html.escape(r.get("reason", ""))}</td></tr>')
    return (f'<section><h2>Rejected <small>({len(rejects)})</small></h2>'
            f'<table class="list"><tr><th></th><th>file</th><th>reason</th></tr>{"".join(rows)}</table></section>')


# --------------------------------------------------------------------------- thumbnails


def _short(path: str, keep: int = 3) -> str:
    parts = Path(path).parts
    return str(Path(*parts[-keep:])) if len(parts) > keep else path


def _source_thumb(path: str, placeholder: bool = True) -> np.ndarray | None:
    """A THUMB-square thumbnail of a source file, or a grey tile (None without ``placeholder``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.width * im.height > THUMB_MAX_PIXELS:
                    raise ValueError("too big to preview")
                im.draft("RGB", (THUMB * 2, THUMB * 2))
                im.load()
                from belamy.corpus.prepare import to_srgb

                rgb = to_srgb(im)
        side = min(rgb.size)
        left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
        rgb = rgb.resize((THUMB, THUMB), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))
        return np.asarray(rgb)
    except Exception:  # a reject is often undecodable: that is why it was rejected
        if not placeholder:
            return None
        tile = np.full((THUMB, THUMB, 3), 90, np.uint8)
        tile[::8, :] = 110
        return tile


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; background: #faf8f5; color: #222; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 17px; margin-top: 32px; border-bottom: 1px solid #ddd; }}
h3 {{ font-size: 14px; }} small {{ color: #777; font-weight: normal; }}
table.kv th {{ text-align: left; padding-right: 16px; vertical-align: top; }}
table.options td {{ padding: 0 14px 2px 0; }} table.options td:first-child {{ color: #777; }}
table.list td {{ padding: 4px 8px; vertical-align: top; border-bottom: 1px solid #eee; }}
table.counts td {{ padding: 1px 6px; }} td.n {{ text-align: right; }}
.bar {{ height: 10px; background: #8a5a44; }}
.row {{ display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }}
img.wide {{ max-width: 100%; image-rendering: auto; }}
td.thumb img {{ width: 96px; }} .none {{ color: #999; font-size: 12px; }}
</style></head>
<body>
{body}
<footer><small>made by <code>belamy corpus report</code></small></footer>
</body></html>
"""
