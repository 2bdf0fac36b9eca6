"""What WikiArt's public listing pages look like, and how a painting becomes a file name and a record.

Facts used (as other open-source scrapers use them): a listing such as
``/en/paintings-by-genre/portrait``, ``/en/paintings-by-style/baroque`` or
``/en/<artist-url>/mode/all-paintings`` answers ``?json=2&page=N`` with
``{"Paintings": [{"id", "title", "year", "width", "height", "artistName", "artistUrl", "image",
"paintingUrl", ...}], "AllPaintingsCount": ..., "PageSize": ...}``; an empty ``Paintings`` ends the
list. ``image`` points at a resized rendition (``...jpg!Large.jpg``); the original is the same URL
without the ``!...`` suffix. ``/en/<artist-url>?json=2`` describes the artist.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from belamy.errors import BelamyError

DEFAULT_BASE_URL = "https://www.wikiart.org"
LANG = "en"
KINDS = ("genre", "style", "artist")


def slugify(text: str, max_len: int = 80) -> str:
    """ASCII, lower case, words joined by '-': safe as a file or folder name on every OS."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-")


@dataclass(frozen=True)
class Query:
    """One listing to scrape: all paintings of a genre, a style, or an artist."""

    kind: str
    name: str  # WikiArt's URL slug: "portrait", "baroque", "rembrandt"

    @classmethod
    def from_options(cls, genre: str | None = None, style: str | None = None, artist: str | None = None) -> Query:
        given = [(kind, value) for kind, value in zip(KINDS, (genre, style, artist), strict=True) if value]
        if len(given) != 1:
            raise BelamyError(
                "give exactly one of --genre, --style or --artist",
                "e.g. `belamy corpus scrape wikiart --genre portrait --out raw/`",
            )
        kind, value = given[0]
        slug = slugify(value.strip("/").split("/")[-1])
        if not slug:
            raise BelamyError(f"--{kind} {value!r} is not a WikiArt name", "use the name as in its URL, e.g. 'portrait'")
        return cls(kind, slug)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def path(self) -> str:
        if self.kind == "genre":
            return f"/{LANG}/paintings-by-genre/{self.name}"
        if self.kind == "style":
            return f"/{LANG}/paintings-by-style/{self.name}"
        return f"/{LANG}/{self.name}/mode/all-paintings"

    def url(self, base_url: str) -> str:
        return urljoin(base_url.rstrip("/") + "/", self.path.lstrip("/"))


def listing_params(page: int) -> dict[str, str]:
    return {"json": "2", "layout": "new", "page": str(page), "resultType": "masonry"}


def listing_headers(url: str) -> dict[str, str]:
    # The site serves these JSON pages to its own page scripts, which send these.
    return {"X-Requested-With": "XMLHttpRequest", "Referer": url, "Accept": "application/json"}


def artist_info_url(base_url: str, artist_slug: str) -> str:
    return urljoin(base_url.rstrip("/") + "/", f"{LANG}/{artist_slug}")


@dataclass
class ListingPage:
    paintings: list[dict]
    total: int | None  # AllPaintingsCount, when the page says


def parse_listing(data: Any) -> ListingPage:
    """Accept the ``json=2`` object or a bare list (the older ``json=1`` shape).

    Anything else raises ValueError: a page of another shape must not pass for the end of the list.
    """
    if isinstance(data, list):
        return ListingPage([p for p in data if isinstance(p, dict)], None)
    if not isinstance(data, dict) or "Paintings" not in data:
        shape = f"an object with keys {sorted(data)[:5]}" if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"is JSON but not a listing (no 'Paintings': {shape})")
    paintings = data.get("Paintings") or []
    total = data.get("AllPaintingsCount")
    try:
        total = int(total) if total is not None else None
    except (TypeError, ValueError):
        total = None
    return ListingPage([p for p in paintings if isinstance(p, dict)], total)


def parse_year(value: Any) -> int | None:
    """WikiArt years are strings like "1503", "c.1665", "1503 - 1519" or ""; take the first year."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None:
        return None
    match = re.search(r"(?<!\d)(\d{3,4})(?!\d)", str(value))
    return int(match.group(1)) if match else None


def death_year_from_artist_info(info: Any) -> int | None:
    """The artist JSON gives dates in a few forms; any of them with a year will do."""
    if not isinstance(info, dict):
        return None
    for key in ("deathDayAsString", "deathDay", "deathYear"):
        value = info.get(key)
        if not value:
            continue
        text = str(value)
        ms = re.fullmatch(r"/Date\((-?\d+)\)/", text)
        if ms:  # .NET JSON date: milliseconds since 1970
            from datetime import UTC, datetime, timedelta

            return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms.group(1)))).year
        years = re.findall(r"(?<!\d)(\d{3,4})(?!\d)", text)
        if years:
            return int(years[-1])
    return None


def original_image_url(url: str) -> str:
    """``.../mona-lisa.jpg!Large.jpg`` → ``.../mona-lisa.jpg`` (the full-size original)."""
    return url.split("!", 1)[0]


def _image_extension(url: str) -> str:
    suffix = urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in urlsplit(url).path else ""
    return {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg"}.get(suffix, ".jpg")


def painting_id(painting: dict, image_url: str) -> str:
    raw = str(painting.get("id") or painting.get("contentId") or "")
    clean = re.sub(r"[^A-Za-z0-9]", "", raw)
    return clean or hashlib.sha1(image_url.encode()).hexdigest()[:16]


def painting_record(painting: dict, query: Query, base_url: str, artist_death_year: int | None = None) -> dict | None:
    """The sidecar record for one listed painting (``None`` when it has no image to fetch)."""
    image = painting.get("image")
    if not image or not isinstance(image, str):
        return None
    base = base_url.rstrip("/") + "/"
    source_url = urljoin(base, original_image_url(image))
    wikiart_id = painting_id(painting, source_url)
    artist = painting.get("artistName") or None
    artist_url = painting.get("artistUrl") or ""
    artist_slug = slugify(str(artist_url).strip("/").split("/")[-1]) if artist_url else ""
    if not artist_slug:
        artist_slug = slugify(artist or "") or (query.name if query.kind == "artist" else "unknown-artist")
    title = painting.get("title") or None
    year = parse_year(painting.get("year"))
    title_slug = slugify(title or "", max_len=60) or "untitled"
    file = f"{artist_slug}/{title_slug}-{year if year is not None else 'nd'}-{wikiart_id}{_image_extension(source_url)}"
    page_url = painting.get("paintingUrl")
    return {
        "file": file,
        "artist": artist,
        "title": title,
        "year": year,
        "style": painting.get("style") or (query.name if query.kind == "style" else None),
        "genre": painting.get("genre") or (query.name if query.kind == "genre" else None),
        "source_url": source_url,
        "page_url": urljoin(base, page_url) if page_url else None,
        "wikiart_id": wikiart_id,
        "artist_death_year": artist_death_year,
    }
