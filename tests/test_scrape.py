"""The WikiArt scraper against a local fake of the site (127.0.0.1 only): paging, the end of a list,
failures and retries, truncated downloads, robots.txt, and resume after kill -9."""

from __future__ import annotations

import collections
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from belamy.corpus.scrape import SIDECAR_FIELDS, HttpPolicy, PoliteClient, scrape_wikiart
from belamy.corpus.scrape.client import FetchError
from belamy.corpus.scrape.wikiart import slugify
from belamy.errors import BelamyError

ARTISTS = [("Rembrandt", "rembrandt"), ("Frans Hals", "frans-hals"), ("Élisabeth Vigée-Lebrun", "elisabeth-vigee-lebrun")]


def jpeg_bytes(seed: int, size: int = 24) -> bytes:
    img = Image.new("RGB", (size, size), ((seed * 53) % 256, (seed * 97) % 256, (seed * 31) % 256))
    img.putpixel((seed % size, 0), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@dataclass
class Painting:
    id: str
    title: str
    year: str
    artist: str
    artist_slug: str
    data: bytes

    @property
    def image_path(self) -> str:
        return f"/images/{self.artist_slug}/{slugify(self.title)}.jpg"

    def expected_file(self) -> str:
        from belamy.corpus.scrape.wikiart import parse_year

        year = parse_year(self.year)
        return f"{self.artist_slug}/{slugify(self.title, 60)}-{year if year is not None else 'nd'}-{self.id}.jpg"


def make_paintings(n: int) -> list[Painting]:
    out = []
    for i in range(n):
        artist, slug = ARTISTS[i % len(ARTISTS)]
        year = "" if i == 4 else (f"c.{1500 + 25 * i}" if i % 2 else str(1500 + 25 * i))
        out.append(Painting(id=f"5772{i:020x}", title=f"Portrait of a Sitter No. {i}", year=year, artist=artist,
                            artist_slug=slug, data=jpeg_bytes(i)))
    return out


@dataclass
class FakeWikiArt:
    """Serves WikiArt-shaped listing JSON, robots.txt and images; scripts misbehaviour per image path."""

    paintings: list[Painting]
    page_size: int = 3
    report_total: bool = True
    robots: str | None = "User-agent: *\nAllow: /\n"
    delay_s: float = 0.0  # before each image body, to widen the window for kill -9
    artist_info: dict[str, dict] = field(default_factory=dict)  # artist slug -> /en/<slug>?json=2
    # image path -> scripted answers, one per request ("404", "429:<Retry-After>", "503", "truncate",
    # "truncate-always", "endless", "trickle", "huge-length"); an empty script means "serve it".
    script: dict[str, list[str]] = field(default_factory=dict)
    pages: dict[int, tuple[bytes, str]] = field(default_factory=dict)  # listing page -> (body, type) instead
    requests: collections.Counter = field(default_factory=collections.Counter)
    user_agents: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 (the stdlib's name)
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.base

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, path: str) -> int:
        with self.lock:
            return self.requests[path]

    def image_requests(self) -> dict[str, int]:
        with self.lock:
            return {p.image_path: self.requests[p.image_path] for p in self.paintings}

    def page_requests(self, listing: str) -> dict[int, int]:
        with self.lock:
            return {int(k.split("page=")[1]): v for k, v in self.requests.items() if k.startswith(listing + "?page=")}

    # ------------------------------------------------------------------ responses

    def send(self, h, status: int, body: bytes, ctype: str, headers: dict | None = None, length: int | None = None):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        if length is not None:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        try:
            h.wfile.write(body)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def stream_without_length(self, h, head: bytes, trickle: bool) -> None:
        """A 200 with no Content-Length whose body goes on until the client hangs up (or 64 MB / 10 s:
        so the test server always stops by itself)."""
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Connection", "close")
        h.close_connection = True
        h.end_headers()
        block = b"x" if trickle else head + b"\0" * (1 << 16)
        sent, deadline = 0, time.monotonic() + 10
        try:
            while sent < 64 * 2**20 and time.monotonic() < deadline:
                h.wfile.write(block)
                h.wfile.flush()
                sent += len(block)
                if trickle:
                    time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def listing(self, page: int) -> dict:
        start = (page - 1) * self.page_size
        chunk = self.paintings[start:start + self.page_size]
        rows = [{"id": p.id, "title": p.title, "year": p.year, "width": 24, "height": 24, "artistName": p.artist,
                 "artistUrl": f"/en/{p.artist_slug}", "image": f"{self.base}{p.image_path}!Large.jpg",
                 "paintingUrl": f"/en/{p.artist_slug}/{slugify(p.title)}"} for p in chunk]
        return {"Paintings": rows or None, "AllPaintingsCount": len(self.paintings) if self.report_total else None,
                "PageSize": self.page_size}

    def handle(self, h) -> None:
        url = urlsplit(h.path)
        with self.lock:
            self.user_agents.add(h.headers.get("User-Agent", ""))
            if url.path.startswith("/en/"):
                page = parse_qs(url.query).get("page", ["?"])[0]
                self.requests[f"{url.path}?page={page}"] += 1
            else:
                self.requests[url.path] += 1
            script = self.script.get(url.path)
            action = (script.pop(0) if script and script[0] != "truncate-always" else
                      (script[0] if script else "ok"))
        if url.path == "/robots.txt":
            if self.robots is None:
                return self.send(h, 404, b"no", "text/plain")
            return self.send(h, 200, self.robots.encode(), "text/plain")
        if url.path.startswith("/en/") and "/paintings-by-" in url.path:
            if url.path != LISTING:
                return self.send(h, 404, b"no such listing", "text/html")
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            if page in self.pages:
                return self.send(h, 200, *self.pages[page])
            return self.send(h, 200, json.dumps(self.listing(page)).encode(), "application/json")
        if url.path.startswith("/en/") and url.path.endswith("/mode/all-paintings"):
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            return self.send(h, 200, json.dumps(self.listing(page)).encode(), "application/json")
        if url.path.startswith("/en/") and url.path.count("/") == 2:  # an artist's own page
            info = self.artist_info.get(url.path.split("/")[2])
            if info is None:
                return self.send(h, 404, b"no such artist", "text/html")
            return self.send(h, 200, json.dumps(info).encode(), "application/json")
        painting = next((p for p in self.paintings if p.image_path == url.path), None)
        if painting is None:
            return self.send(h, 404, b"not found", "text/plain")
        if action == "404":
            return self.send(h, 404, b"gone", "text/html")
        if action.startswith("429:"):
            return self.send(h, 429, b"slow down", "text/plain", {"Retry-After": action[4:]})
        if action == "503":
            return self.send(h, 503, b"busy", "text/plain")
        if action in ("endless", "trickle"):
            return self.stream_without_length(h, painting.data, trickle=action == "trickle")
        if action == "huge-length":
            return self.send(h, 200, painting.data, "image/jpeg", length=10**11)
        if action.startswith("truncate"):
            return self.send(h, 200, painting.data[: len(painting.data) // 2], "image/jpeg",
                             length=len(painting.data))
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.send(h, 200, painting.data, "image/jpeg")


@pytest.fixture
def site():
    fakes = []

    def make(n: int = 7, **kwargs) -> FakeWikiArt:
        fake = FakeWikiArt(make_paintings(n), **kwargs)
        fake.start()
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        fake.stop()


FAST = dict(rate=100.0, concurrency=2, max_retries=3, backoff_base=0.01, max_backoff=0.05, timeout=10.0)
LISTING = "/en/paintings-by-genre/portrait"


def raw_images(raw: Path) -> set[str]:
    return {p.relative_to(raw).as_posix() for p in raw.rglob("*.jpg") if ".partial" not in p.parts}


def sidecar(raw: Path) -> list[dict]:
    return [json.loads(line) for line in (raw / "metadata.jsonl").read_text().splitlines() if line.strip()]


def db_rows(raw: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(raw / "scrape.sqlite") as db:
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT source_url, status, reason FROM items")}


# ---------------------------------------------------------------------------------------------- tests


def test_pages_through_the_listing_and_writes_images_with_metadata(site, tmp_path):
    fake = site(7, page_size=3)
    raw = tmp_path / "raw"
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)

    expected = {p.expected_file() for p in fake.paintings}
    assert raw_images(raw) == expected
    assert len(report.fetched) == 7 and not report.failed
    # Three pages of 3, 3 and 1; AllPaintingsCount says the list ends there, so no page 4.
    assert fake.page_requests(LISTING) == {1: 1, 2: 1, 3: 1}
    assert all(n == 1 for n in fake.image_requests().values())
    for p in fake.paintings:  # the originals, byte for byte (not the "!Large" rendition)
        assert (raw / p.expected_file()).read_bytes() == p.data
    assert all(ua.startswith("belamy/") and "http" in ua for ua in fake.user_agents)

    records = {r["file"]: r for r in sidecar(raw)}
    assert set(records) == expected
    first = records[fake.paintings[0].expected_file()]
    assert set(first) == set(SIDECAR_FIELDS)
    assert first["artist"] == "Rembrandt" and first["title"] == "Portrait of a Sitter No. 0"
    assert first["year"] == 1500 and first["genre"] == "portrait" and first["style"] is None
    assert first["source_url"] == fake.base + fake.paintings[0].image_path
    assert first["page_url"] == f"{fake.base}/en/rembrandt/portrait-of-a-sitter-no-0"
    assert first["wikiart_id"] == fake.paintings[0].id
    assert first["artist_death_year"] == 1669  # from the offline table of painters
    assert records[fake.paintings[1].expected_file()]["year"] == 1525  # "c.1525"
    assert records[fake.paintings[4].expected_file()]["year"] is None
    assert not (raw / ".partial").exists()


def test_an_empty_page_ends_the_list_when_no_total_is_given(site, tmp_path):
    fake = site(6, page_size=3, report_total=False)
    report = scrape_wikiart(tmp_path / "raw", genre="portrait", base_url=fake.base, **FAST)
    assert len(report.fetched) == 6
    assert fake.page_requests(LISTING) == {1: 1, 2: 1, 3: 1}  # page 3 is empty: the end


def test_a_rerun_downloads_nothing_again(site, tmp_path):
    fake = site(5)
    raw = tmp_path / "raw"
    scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)
    before = fake.image_requests()
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)
    assert report.fetched == [] and report.already_had == 5
    assert fake.image_requests() == before
    assert len(sidecar(raw)) == 5


def test_404_is_recorded_and_429_is_retried_after_retry_after(site, tmp_path):
    fake = site(6)
    gone, busy, flaky = fake.paintings[1], fake.paintings[2], fake.paintings[3]
    fake.script = {gone.image_path: ["404"] * 10, busy.image_path: ["429:0", "429:1"], flaky.image_path: ["503"]}
    raw = tmp_path / "raw"
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)

    assert raw_images(raw) == {p.expected_file() for p in fake.paintings if p is not gone}
    assert report.failed == {fake.base + gone.image_path: "HTTP 404"}
    assert fake.count(gone.image_path) == 1  # a 404 is final: not hammered
    assert fake.count(busy.image_path) == 3 and fake.count(flaky.image_path) == 2
    assert report.retries == 3
    assert db_rows(raw)[fake.base + gone.image_path] == ("failed", "HTTP 404")
    assert gone.expected_file() not in {r["file"] for r in sidecar(raw)}


def test_retry_after_sets_the_wait(site):
    fake = site(3)
    path = fake.paintings[0].image_path
    fake.script = {path: ["429:1", "429:0", "429:0", "429:0"]}
    with PoliteClient(HttpPolicy(rate=100, max_retries=2, backoff_base=0.01, max_backoff=0.05)) as client:
        with pytest.raises(FetchError, match="HTTP 429"):
            client.get_json(fake.base + path)
        assert client.waits == [1.0, 0.0]  # what the server asked for, not our own backoff
    assert fake.count(path) == 3


def test_truncated_downloads_are_retried_or_failed_never_kept(site, tmp_path):
    fake = site(4)
    once, always = fake.paintings[0], fake.paintings[1]
    fake.script = {once.image_path: ["truncate"], always.image_path: ["truncate-always"]}
    raw = tmp_path / "raw"
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)

    assert (raw / once.expected_file()).read_bytes() == once.data
    assert fake.count(once.image_path) == 2
    assert not (raw / always.expected_file()).exists()
    assert fake.count(always.image_path) == FAST["max_retries"] + 1
    reason = report.failed[fake.base + always.image_path]
    assert "cut short" in reason or "truncated" in reason
    assert raw_images(raw) == {p.expected_file() for p in fake.paintings if p is not always}
    for file in raw_images(raw):  # everything left in RAW decodes
        with Image.open(raw / file) as img:
            img.load()
    assert not (raw / ".partial").exists()


def test_robots_txt_disallowed_images_are_skipped_and_reported(site, tmp_path):
    fake = site(6, robots="User-agent: *\nDisallow: /images/frans-hals/\n")
    raw = tmp_path / "raw"
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)
    hals = [p for p in fake.paintings if p.artist_slug == "frans-hals"]
    assert hals and sorted(report.disallowed) == sorted(fake.base + p.image_path for p in hals)
    assert all(fake.count(p.image_path) == 0 for p in hals)
    assert raw_images(raw) == {p.expected_file() for p in fake.paintings if p not in hals}
    assert fake.count("/robots.txt") == 1


@pytest.mark.parametrize("rule", ["Disallow: /en/", "Disallow: /*?json="])
def test_robots_txt_disallowing_the_listing_fetches_nothing(site, tmp_path, rule):
    fake = site(3, robots=f"User-agent: belamy\n{rule}\n\nUser-agent: *\nAllow: /\n")
    report = scrape_wikiart(tmp_path / "raw", genre="portrait", base_url=fake.base, **FAST)
    assert report.fetched == [] and report.listing_errors and report.disallowed
    assert fake.page_requests(LISTING) == {}
    assert sum(fake.image_requests().values()) == 0


def test_years_filter_and_limit_over_runs(site, tmp_path):
    fake = site(9, page_size=4)
    raw = tmp_path / "raw"
    # Years 1500..1700 keep paintings 0-8 except the undated no. 4: 1500, 1525, ..., 1700.
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, years="1550-1650", **FAST)
    in_range = [p for i, p in enumerate(fake.paintings) if i != 4 and 1550 <= 1500 + 25 * i <= 1650]
    assert raw_images(raw) == {p.expected_file() for p in in_range}
    assert report.filtered_year == 9 - len(in_range)

    raw2 = tmp_path / "raw2"
    first = scrape_wikiart(raw2, genre="portrait", base_url=fake.base, limit=2, **FAST)
    assert len(first.fetched) == 2 and len(raw_images(raw2)) == 2
    kept = raw_images(raw2)
    second = scrape_wikiart(raw2, genre="portrait", base_url=fake.base, limit=5, **FAST)
    assert len(second.fetched) == 3 and len(raw_images(raw2)) == 5 and kept <= raw_images(raw2)
    assert max(fake.image_requests().values()) == 2  # once for raw, at most once more for raw2


def test_an_artist_listing_takes_the_death_year_from_the_artist_page(site, tmp_path):
    fake = site(3)
    for p in fake.paintings:
        p.artist, p.artist_slug = "Jan Unknown", "jan-unknown"
    fake.artist_info = {"jan-unknown": {"artistName": "Jan Unknown", "deathDayAsString": "March 3, 1801"}}
    raw = tmp_path / "raw"
    report = scrape_wikiart(raw, artist="jan-unknown", base_url=fake.base, **FAST)
    assert len(report.fetched) == 3
    assert fake.page_requests("/en/jan-unknown/mode/all-paintings") == {1: 1}
    assert {r["artist_death_year"] for r in sidecar(raw)} == {1801}
    assert {r["genre"] for r in sidecar(raw)} == {None}


def test_a_crash_between_rename_and_record_is_recovered_without_refetching(site, tmp_path):
    fake = site(4)
    raw = tmp_path / "raw"
    scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)
    # Rewind the state of one download to "pending", as if killed after the rename; and tear the sidecar.
    victim = fake.paintings[2]
    with sqlite3.connect(raw / "scrape.sqlite") as db:
        db.execute("UPDATE items SET status='pending' WHERE source_url=?", (fake.base + victim.image_path,))
    (raw / "metadata.jsonl").write_text((raw / "metadata.jsonl").read_text()[:-30])
    (raw / ".partial").mkdir()
    (raw / ".partial" / "deadbeef.part").write_bytes(b"half an image")
    before = fake.image_requests()

    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)
    assert report.recovered == 1 and report.fetched == []
    assert fake.image_requests() == before
    assert {r["file"] for r in sidecar(raw)} == {p.expected_file() for p in fake.paintings}
    assert not (raw / ".partial").exists()


def test_an_unknown_listing_or_an_unreachable_site_is_one_clear_error(site, tmp_path):
    fake = site(3)
    with pytest.raises(BelamyError, match="WikiArt has no genre 'portraits'"):
        scrape_wikiart(tmp_path / "raw", genre="portraits", base_url=fake.base, **FAST)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(BelamyError, match="cannot reach"):
        scrape_wikiart(tmp_path / "raw2", genre="portrait", base_url=closed, **FAST)


@pytest.mark.parametrize("action", ["endless", "huge-length"])
def test_an_image_over_the_size_limit_is_cut_off_with_or_without_content_length(site, tmp_path, action):
    fake = site(4)
    big = fake.paintings[1]
    fake.script = {big.image_path: [action] * 10}
    raw = tmp_path / "raw"
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, max_image_mb=0.25, **FAST)
    reason = report.failed[fake.base + big.image_path]
    assert reason == {"endless": "the image passed the limit of 0.25 MB and was cut off",
                      "huge-length": "the image is 95,367.43 MB, over the limit of 0.25 MB"}[action]
    assert fake.count(big.image_path) == 1  # too big is final: not fetched again
    assert raw_images(raw) == {p.expected_file() for p in fake.paintings if p is not big}
    assert not (raw / ".partial").exists()
    assert db_rows(raw)[fake.base + big.image_path][0] == "failed"


def test_an_image_that_trickles_forever_is_cut_off_at_the_download_timeout(site, tmp_path):
    fake = site(3)
    slow = fake.paintings[0]
    fake.script = {slow.image_path: ["trickle"] * 10}
    raw = tmp_path / "raw"
    started = time.monotonic()
    report = scrape_wikiart(raw, genre="portrait", base_url=fake.base, download_timeout=0.5, **FAST)
    assert "took longer than 0.5 s" in report.failed[fake.base + slow.image_path]
    assert time.monotonic() - started < 8  # not the 10 s the server would go on for
    assert raw_images(raw) == {p.expected_file() for p in fake.paintings if p is not slow}
    assert not (raw / ".partial").exists()


def test_a_listing_page_that_never_ends_is_cut_off(site, tmp_path):
    fake = site(3)
    with PoliteClient(HttpPolicy(rate=100, max_retries=0, max_page_bytes=2**16)) as client:
        fake.script = {fake.paintings[0].image_path: ["endless"]}
        with pytest.raises(FetchError, match="limit"):  # get_json on an endless body: bounded too
            client.get_json(fake.base + fake.paintings[0].image_path)


@pytest.mark.parametrize("bad_page", [1, 2])
def test_a_listing_page_that_is_not_json_fails_the_scrape_in_one_line(site, tmp_path, bad_page):
    fake = site(6, page_size=3)
    fake.pages = {bad_page: (b"<html><body>Please enable JavaScript</body></html>", "text/html")}
    raw = tmp_path / "raw"
    with pytest.raises(BelamyError, match=f"listing page {bad_page} .*text/html, not JSON"):
        scrape_wikiart(raw, genre="portrait", base_url=fake.base, **FAST)
    assert len(raw_images(raw)) == (3 if bad_page == 2 else 0)  # page 1's images are kept
    proc = _cli("corpus", "scrape", "wikiart", "--genre", "portrait", "--out", str(raw), "--base-url", fake.base,
                "--rate", "100")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert err.strip().count("\n") == 0 and "not JSON" in err
    fake.pages = {1: (json.dumps({"error": "slow down"}).encode(), "application/json")}  # JSON, not a listing
    with pytest.raises(BelamyError, match="not a listing"):
        scrape_wikiart(tmp_path / "raw2", genre="portrait", base_url=fake.base, **FAST)


def test_cli_exits_non_zero_when_the_listing_stops_early(site, tmp_path):
    fake = site(3, robots="User-agent: *\nDisallow: /en/\n")
    proc = _cli("corpus", "scrape", "wikiart", "--genre", "portrait", "--out", str(tmp_path / "raw"),
                "--base-url", fake.base, "--rate", "100")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "the listing stopped early: robots.txt disallows" in err


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, BELAMY_QUIET="1")
    return subprocess.Popen([sys.executable, "-m", "belamy", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_kill_9_then_resume_downloads_each_image_once(site, tmp_path):
    fake = site(12, page_size=5, delay_s=0.25)
    raw = tmp_path / "raw"
    args = ["corpus", "scrape", "wikiart", "--genre", "portrait", "--out", str(raw), "--base-url", fake.base,
            "--rate", "100", "--concurrency", "2", "--max-backoff", "0.05"]
    proc = _cli(*args)
    deadline = time.monotonic() + 40
    while len(raw_images(raw)) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the scrape ended before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.communicate()
    had = raw_images(raw)
    assert 4 <= len(had) < 12

    proc = _cli(*args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err

    expected = {p.expected_file(): p for p in fake.paintings}
    assert raw_images(raw) == set(expected)
    for file, painting in expected.items():
        assert (raw / file).read_bytes() == painting.data
    lines = sidecar(raw)
    assert sorted(r["file"] for r in lines) == sorted(expected)  # one line per image, no duplicates
    counts = fake.image_requests()
    for painting in fake.paintings:
        if painting.expected_file() in had:
            assert counts[painting.image_path] == 1  # never fetched again after it landed
        else:
            assert counts[painting.image_path] <= 2  # at most one cut short by the kill
    assert sum(counts.values()) <= 12 + 2  # only the downloads in flight at the kill were repeated
    assert not (raw / ".partial").exists()


def test_cli_rejects_two_listings_in_one_line(tmp_path):
    proc = _cli("corpus", "scrape", "wikiart", "--genre", "portrait", "--style", "baroque", "--out", str(tmp_path))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().count("\n") == 0 and "exactly one of --genre, --style or --artist" in err
