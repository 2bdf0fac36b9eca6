"""Who painted what in a corpus, and which of it is in the public domain.

Reads ``CORPUS/manifest.jsonl``; a work counts as public domain when its artist died more than 70
years before the current year (the common "life + 70" term: a painter who died in 1955 is free from
1 January 2026). Where the manifest does not carry ``artist_death_year``, a small offline table of
well-known painters fills it. Unknown death year → ``public_domain: null`` (we do not guess).

This is a help, not legal advice: terms differ by country, and a photograph of a painting may carry
rights of its own in some places.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from belamy.corpus.sources import display_name
from belamy.errors import BelamyError
from belamy.provenance.record import UNKNOWN_ARTIST  # the record's credits summary counts their works
from belamy.utils.atomic import read_jsonl, write_text

CREDITS_FILE = "credits.json"
PUBLIC_DOMAIN_YEARS = 70
FORMATS = {".md": "markdown", ".markdown": "markdown", ".json": "json", ".csv": "csv"}
WORK_FIELDS = ("source", "title", "year", "artist", "style", "genre", "source_url", "page_url",
               "artist_death_year", "public_domain")


def credits_path(corpus_dir: str | Path) -> Path:
    """Where a corpus keeps its credits; artwork provenance points here."""
    return Path(corpus_dir) / CREDITS_FILE


def normalize_name(name: str) -> str:
    """'Élisabeth Vigée-Le Brun' → 'elisabeth vigee le brun': case, accents, punctuation ignored."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_name.lower()).split())


@functools.cache
def _death_table() -> dict[str, int]:
    data = json.loads(resources.files("belamy.corpus").joinpath("death_years.json").read_text(encoding="utf-8"))
    table: dict[str, int] = {}
    for painter in data["painters"]:
        for name in [painter["name"], *painter.get("aliases", [])]:
            table[normalize_name(name)] = int(painter["died"])
    return table


def lookup_death_year(artist: str | None) -> int | None:
    """The death year of a well-known painter from the offline table, else None."""
    if not artist:
        return None
    return _death_table().get(normalize_name(str(artist)))


def is_public_domain(death_year: int | None, current_year: int) -> bool | None:
    if death_year is None:
        return None
    return current_year - int(death_year) > PUBLIC_DOMAIN_YEARS


@dataclass
class ArtistCredit:
    name: str
    works: int
    death_year: int | None
    public_domain: bool | None


@dataclass
class Credits:
    corpus: str
    current_year: int
    works: list[dict] = field(default_factory=list)  # one per manifest record, WORK_FIELDS
    artists: list[ArtistCredit] = field(default_factory=list)  # most works first

    @property
    def counts(self) -> dict[str, int]:
        flags = [w["public_domain"] for w in self.works]
        return {"works": len(self.works), "artists": len(self.artists),
                "public_domain": flags.count(True), "not_public_domain": flags.count(False),
                "unknown": flags.count(None)}

    def to_dict(self) -> dict:
        return {"format": "belamy-credits", "version": 1, "corpus": self.corpus, "current_year": self.current_year,
                "rule": f"public domain when the artist died more than {PUBLIC_DOMAIN_YEARS} years ago",
                "counts": self.counts, "artists": [asdict(a) for a in self.artists], "works": self.works}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(WORK_FIELDS), lineterminator="\n")
        writer.writeheader()
        for work in self.works:
            writer.writerow({k: _csv_value(work.get(k)) for k in WORK_FIELDS})
        return buf.getvalue()

    def to_markdown(self) -> str:
        counts = self.counts
        lines = [
            f"# Credits: {self.corpus}", "",
            f"{counts['works']} works by {counts['artists']} artists. Public domain (artist died more than "
            f"{PUBLIC_DOMAIN_YEARS} years before {self.current_year}): {counts['public_domain']}; "
            f"not yet: {counts['not_public_domain']}; unknown: {counts['unknown']}.", "",
            "## Artists", "",
            "| Artist | Works | Died | Public domain |",
            "|---|---:|---:|---|",
        ]
        for a in self.artists:
            died = str(a.death_year) if a.death_year is not None else "?"
            lines.append(f"| {_md(a.name)} | {a.works} | {died} | {_pd_word(a.public_domain)} |")
        lines += ["", "## Works", "", "| Title | Artist | Year | Public domain | Source |", "|---|---|---:|---|---|"]
        for w in self.works:
            link = w.get("page_url") or w.get("source_url")
            source = f"[{_md(w['source'])}]({link})" if link else _md(w["source"])
            year = str(w["year"]) if w.get("year") is not None else ""
            lines.append(f"| {_md(w.get('title') or 'Untitled')} | {_md(w.get('artist') or UNKNOWN_ARTIST)} | "
                         f"{year} | {_pd_word(w['public_domain'])} | {source} |")
        return "\n".join(lines) + "\n"

    def print_table(self, console) -> None:
        from rich.table import Table

        counts = self.counts
        table = Table(title=f"Credits: {self.corpus} ({counts['works']} works, {counts['artists']} artists)",
                      header_style="bold")
        table.add_column("artist")
        table.add_column("works", justify="right")
        table.add_column("died", justify="right")
        table.add_column("public domain")
        styles = {True: "green", False: "red", None: "yellow"}
        for a in self.artists:
            table.add_row(a.name, str(a.works), str(a.death_year) if a.death_year is not None else "?",
                          _pd_word(a.public_domain), style=styles[a.public_domain])
        console.print(table)
        console.print(f"public domain: {counts['public_domain']}, not yet: {counts['not_public_domain']}, "
                      f"unknown: {counts['unknown']} (rule: artist died more than {PUBLIC_DOMAIN_YEARS} years "
                      f"before {self.current_year}; not legal advice)")


def _pd_word(flag: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[flag]


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _as_year(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        match = re.search(r"\d{3,4}", str(value))
        return int(match.group(0)) if match else None


def build_credits(corpus_dir: str | Path, current_year: int | None = None) -> Credits:
    """Credits for every work in ``corpus_dir/manifest.jsonl``, with public-domain flags."""
    corpus_dir = Path(corpus_dir)
    hint = "give a corpus folder made by `belamy corpus build`"
    if not corpus_dir.is_dir():
        raise BelamyError(f"no corpus at {corpus_dir}", hint)
    manifest = corpus_dir / "manifest.jsonl"
    if not manifest.is_file():
        raise BelamyError(f"{corpus_dir} has no manifest.jsonl", hint)
    year_now = current_year if current_year is not None else datetime.now(UTC).year
    works = []
    for record in read_jsonl(manifest):
        if not isinstance(record, dict):
            continue
        artist = record.get("artist") or None
        death = _as_year(record.get("artist_death_year"))
        if death is None:
            death = lookup_death_year(artist)
        work = {k: record.get(k) for k in WORK_FIELDS}
        # Credits are for people to read: bytes of a file name that are not UTF-8 show as U+FFFD.
        work["source"] = display_name(str(record.get("source") or record.get("file") or ""))
        work["artist"] = artist
        work["artist_death_year"] = death
        work["public_domain"] = is_public_domain(death, year_now)
        works.append(work)

    by_artist: dict[str, list[dict]] = {}
    for work in works:
        by_artist.setdefault(work["artist"] or UNKNOWN_ARTIST, []).append(work)
    artists = []
    for name, items in by_artist.items():
        deaths = [w["artist_death_year"] for w in items if w["artist_death_year"] is not None]
        death = max(set(deaths), key=deaths.count) if deaths else None
        artists.append(ArtistCredit(name, len(items), death, is_public_domain(death, year_now)))
    artists.sort(key=lambda a: (-a.works, normalize_name(a.name)))
    return Credits(corpus=corpus_dir.name, current_year=year_now, works=works, artists=artists)


def render(credits: Credits, fmt: str) -> str:
    return {"markdown": credits.to_markdown, "json": credits.to_json, "csv": credits.to_csv}[fmt]()


def write_credits(corpus_dir: str | Path, out: str | Path | None = None, current_year: int | None = None) -> Credits:
    """Write ``CORPUS/credits.json`` and, if ``out`` is given, Markdown/JSON/CSV there (by extension)."""
    fmt = None
    if out is not None:
        fmt = FORMATS.get(Path(out).suffix.lower())
        if fmt is None:
            raise BelamyError(f"cannot tell the format of {out}", "end --out with .md, .json or .csv")
    credits = build_credits(corpus_dir, current_year)
    write_text(credits_path(corpus_dir), credits.to_json())
    if out is not None:
        write_text(out, render(credits, fmt))
    return credits


__all__ = ["ArtistCredit", "Credits", "build_credits", "credits_path", "is_public_domain", "lookup_death_year",
           "normalize_name", "write_credits"]
