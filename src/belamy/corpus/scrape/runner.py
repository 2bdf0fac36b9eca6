"""`belamy corpus scrape wikiart`: list a genre / style / artist page by page, download the
originals politely, and keep RAW/metadata.jsonl beside them for the corpus builder."""

from __future__ import annotations

import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import urlencode

from belamy.corpus.scrape.client import FetchError, HttpPolicy, NotJsonError, PoliteClient, Stopped
from belamy.corpus.scrape.download import fetch_image
from belamy.corpus.scrape.report import ScrapeReport
from belamy.corpus.scrape.state import ScrapeState
from belamy.corpus.scrape.wikiart import (
    DEFAULT_BASE_URL,
    Query,
    artist_info_url,
    death_year_from_artist_info,
    listing_headers,
    listing_params,
    painting_record,
    parse_listing,
)
from belamy.errors import BelamyError
from belamy.utils.atomic import append_jsonl, fsync_path, write_text
from belamy.utils.progress import make_progress

STATE_FILE = "scrape.sqlite"
SIDECAR = "metadata.jsonl"
PARTIAL_DIR = ".partial"
SIDECAR_FIELDS = ("file", "artist", "title", "year", "style", "genre", "source_url", "page_url", "wikiart_id",
                  "artist_death_year")
MAX_PAGES = 10_000  # a guard against a listing that never ends


def parse_years(text: str | None) -> tuple[int, int] | None:
    """"1400-1900" → (1400, 1900); a single year means just that year."""
    if text is None or not str(text).strip():
        return None
    match = re.fullmatch(r"\s*(\d{1,4})\s*(?:[-–:]\s*(\d{1,4}))?\s*", str(text))
    if not match:
        raise BelamyError(f"--years {text!r} is not a year range", "write it as FIRST-LAST, e.g. 1400-1900")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    if first > last:
        raise BelamyError(f"--years {text!r} ends before it starts", "write it as FIRST-LAST, e.g. 1400-1900")
    return first, last


def write_sidecar(raw: Path, state: ScrapeState) -> Path:
    """Rewrite RAW/metadata.jsonl from the state: one line per downloaded image, whatever crashed when."""
    lines = []
    for record in state.done_records():
        if (raw / record["file"]).is_file():
            lines.append(_sidecar_line(record))
    path = raw / SIDECAR
    write_text(path, "".join(lines))
    return path


def _sidecar_line(record: dict) -> str:
    import json

    return json.dumps({k: record.get(k) for k in SIDECAR_FIELDS}, sort_keys=True) + "\n"


class _Scrape:
    def __init__(self, query: Query, raw: Path, client: PoliteClient, state: ScrapeState, report: ScrapeReport,
                 base_url: str, limit: int | None, years: tuple[int, int] | None, concurrency: int):
        self.query, self.raw, self.client, self.state, self.report = query, raw, client, state, report
        self.base_url, self.limit, self.years, self.concurrency = base_url, limit, years, concurrency
        self.partial = raw / PARTIAL_DIR
        self.sidecar_lock = threading.Lock()
        self.progress = None
        self.task = None

    # --------------------------------------------------------------- helpers

    def _death_year(self, record: dict, artist_death: int | None) -> int | None:
        if artist_death is not None:
            return artist_death
        from belamy.corpus.credits import lookup_death_year

        return lookup_death_year(record.get("artist"))

    def _artist_death_from_site(self) -> int | None:
        if self.query.kind != "artist":
            return None
        url = artist_info_url(self.base_url, self.query.name)
        if not self.client.allowed(url):
            return None
        try:
            return death_year_from_artist_info(self.client.get_json(url, {"json": "2"}, listing_headers(url)))
        except FetchError:
            return None  # nice to have; the offline table may still know

    def _year_ok(self, record: dict) -> bool:
        if self.years is None:
            return True
        year = record.get("year")
        return year is not None and self.years[0] <= year <= self.years[1]

    def _remaining(self) -> int | None:
        if self.limit is None:
            return None
        return self.limit - self.state.done_count(self.query.key)

    # --------------------------------------------------------------- one download

    def download(self, record: dict) -> None:
        if self.client.stop.is_set():
            return
        try:
            fetched = fetch_image(self.client, record["source_url"], self.partial)
        except Stopped:
            return
        except FetchError as err:
            self.state.mark(record["wikiart_id"], "failed", err.reason)
            self.report.add_failed(record["source_url"], err.reason)
            self._advance()
            return
        except OSError as exc:  # our side: disk full, permissions
            reason = f"could not write ({exc})"
            self.state.mark(record["wikiart_id"], "failed", reason)
            self.report.add_failed(record["source_url"], reason)
            self._advance()
            return
        final = self.raw / record["file"]
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            # Rename first, then record: see state.py for why this order survives kill -9.
            os.replace(fetched.tmp, final)
        except OSError as exc:
            fetched.tmp.unlink(missing_ok=True)
            reason = f"could not write ({exc})"
            self.state.mark(record["wikiart_id"], "failed", reason)
            self.report.add_failed(record["source_url"], reason)
            self._advance()
            return
        fsync_path(final.parent)
        self.state.mark(record["wikiart_id"], "done", None, fetched.nbytes)
        with self.sidecar_lock:
            append_jsonl(self.raw / SIDECAR, {k: record.get(k) for k in SIDECAR_FIELDS})
        self.report.add_fetched(record["file"])
        self._advance()

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    # --------------------------------------------------------------- the listing

    def run(self) -> None:
        listing = self.query.url(self.base_url)
        if not self.client.robots.reachable(listing):
            raise BelamyError(f"cannot reach {self.base_url} ({self.client.unreachable_reason or 'no robots.txt'})",
                              "check the network and --base-url; run the same command again to resume")
        first_page = f"{listing}?{urlencode(listing_params(1))}"  # robots rules may name the query too
        if not self.client.allowed(first_page):
            self.report.disallowed.append(first_page)
            self.report.listing_errors.append(f"robots.txt disallows the listing {first_page}")
            return
        artist_death = self._artist_death_from_site()
        seen: set[str] = set()
        listed_total: int | None = None
        with make_progress("img") as progress, ThreadPoolExecutor(self.concurrency, "belamy-scrape") as pool:
            self.progress = progress
            self.task = progress.add_task(f"scrape {self.query.key}", total=self.limit,
                                          completed=self.state.done_count(self.query.key))
            try:
                for page in range(1, MAX_PAGES + 1):
                    remaining = self._remaining()
                    if remaining is not None and remaining <= 0:
                        break
                    cached = self.state.page(self.query.key, page)
                    if cached is None:
                        page_url = f"{listing}?{urlencode(listing_params(page))}"
                        if not self.client.allowed(page_url):
                            self.report.disallowed.append(page_url)
                            self.report.listing_errors.append(f"robots.txt disallows {page_url}")
                            break
                        try:
                            data = self.client.get_json(listing, listing_params(page), listing_headers(listing))
                        except NotJsonError as err:
                            raise BelamyError(f"listing page {page} is not what WikiArt serves: {err.reason}",
                                              "check --base-url; what was downloaded is kept") from None
                        except FetchError as err:
                            if page == 1 and err.status == 404:
                                raise BelamyError(f"WikiArt has no {self.query.kind} {self.query.name!r} ({listing})",
                                                  "use the name as it appears in the site's URL") from None
                            self.report.listing_errors.append(f"page {page}: {err.reason}")
                            break
                        try:
                            parsed = parse_listing(data)
                        except ValueError as err:
                            raise BelamyError(f"listing page {page} ({listing}) {err}",
                                              "check --base-url; what was downloaded is kept") from None
                        records = []
                        for painting in parsed.paintings:
                            record = painting_record(painting, self.query, self.base_url)
                            if record is not None:
                                record["artist_death_year"] = self._death_year(record, artist_death)
                                records.append(record)
                        new = [r for r in records if r["wikiart_id"] not in seen]
                        total = parsed.total
                        last = (not parsed.paintings or not new
                                or (total is not None and len(seen) + len(new) >= total))
                        self.state.save_page(self.query.key, page, records, total, last)
                    else:
                        total, last = cached[1], cached[2]
                    if total is not None and listed_total is None:
                        listed_total = total
                        if self.limit is None:
                            progress.update(self.task, total=total)
                    self._process_page(self.state.items_on_page(self.query.key, page), seen, pool)
                    if last:
                        break
            except KeyboardInterrupt:
                self.client.stop.set()
                self.report.interrupted = True
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _process_page(self, items: list[dict], seen: set[str], pool: ThreadPoolExecutor) -> None:
        queue = []
        for item in items:
            if item["wikiart_id"] in seen:
                continue
            seen.add(item["wikiart_id"])
            self.report.listed += 1
            if item["_status"] == "done":
                self.report.already_had += 1
                continue
            if not self._year_ok(item):
                self.report.filtered_year += 1
                continue
            if not self.client.robots.reachable(item["source_url"]):
                reason = f"cannot reach the image host ({self.client.unreachable_reason or 'robots.txt unavailable'})"
                self.state.mark(item["wikiart_id"], "failed", reason)
                self.report.add_failed(item["source_url"], reason)
                continue
            if not self.client.allowed(item["source_url"]):
                self.state.mark(item["wikiart_id"], "disallowed", "robots.txt")
                self.report.disallowed.append(item["source_url"])
                continue
            queue.append({k: v for k, v in item.items() if not k.startswith("_")})
        while queue:
            remaining = self._remaining()
            take = len(queue) if remaining is None else min(len(queue), remaining)
            if take <= 0:
                break
            batch, queue = queue[:take], queue[take:]
            futures = [pool.submit(self.download, record) for record in batch]
            done, _ = wait(futures)
            for future in done:
                future.result()  # a bug in a worker surfaces here rather than vanishing


def scrape_wikiart(
    out: str | os.PathLike,
    *,
    genre: str | None = None,
    style: str | None = None,
    artist: str | None = None,
    limit: int | None = None,
    years: str | tuple[int, int] | None = None,
    rate: float = 1.0,
    concurrency: int = 2,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 30.0,
    max_retries: int = 5,
    backoff_base: float = 1.0,
    max_backoff: float = 60.0,
    max_image_mb: float = 100.0,
    download_timeout: float = 600.0,
    user_agent: str | None = None,
) -> ScrapeReport:
    """Download the originals of one WikiArt listing into ``out`` with a metadata sidecar.

    Resumable: run it again with the same arguments after an interruption (even ``kill -9``) and it
    carries on, downloading nothing twice. ``limit`` caps the images in ``out`` for this listing
    over all runs together, so a resumed ``--limit 100`` still ends with 100.
    """
    query = Query.from_options(genre=genre, style=style, artist=artist)
    year_range = parse_years(years) if isinstance(years, str) or years is None else tuple(years)
    if limit is not None and limit < 1:
        raise BelamyError(f"--limit {limit} must be at least 1", "leave it out to download everything")
    if not (0 < rate <= 100):
        raise BelamyError(f"--rate {rate} must be above 0 and at most 100 requests/s", "the default is 1")
    if not (1 <= concurrency <= 16):
        raise BelamyError(f"--concurrency {concurrency} must be between 1 and 16", "the default is 2")
    if not (0 < max_image_mb <= 10_000):
        raise BelamyError(f"--max-image-mb {max_image_mb} must be above 0 and at most 10000", "the default is 100")
    if not (0 < download_timeout <= 86_400):
        raise BelamyError(f"--download-timeout {download_timeout} must be above 0 s and at most a day",
                          "the default is 600")
    if not re.match(r"^https?://[^/]+", base_url):
        raise BelamyError(f"--base-url {base_url!r} is not an http(s) URL", "e.g. https://www.wikiart.org")
    raw = Path(out)
    if raw.exists() and not raw.is_dir():
        raise BelamyError(f"{raw} exists and is not a folder", "choose another --out")
    raw.mkdir(parents=True, exist_ok=True)

    state = ScrapeState(raw / STATE_FILE)
    report = ScrapeReport(query=query.key, out=raw)
    # Anything in the partial folder is an unfinished download from a killed run.
    shutil.rmtree(raw / PARTIAL_DIR, ignore_errors=True)
    report.recovered = state.recover(raw)
    write_sidecar(raw, state)
    policy = HttpPolicy(rate=rate, timeout=timeout, max_retries=max_retries, backoff_base=backoff_base,
                        max_backoff=max_backoff, max_image_bytes=int(max_image_mb * 2**20),
                        download_timeout=download_timeout)
    kwargs = {"user_agent": user_agent} if user_agent else {}
    client = PoliteClient(policy, **kwargs)
    try:
        _Scrape(query, raw, client, state, report, base_url, limit, year_range, concurrency).run()
    except KeyboardInterrupt as exc:
        report.interrupted = True
        exc.scrape_report = report  # so the CLI can still say what was done before Ctrl-C
        raise
    finally:
        client.close()
        report.requests = dict(client.requests)
        report.retries = client.retries
        report.waited_s = float(sum(client.waits))
        report.total_in_raw = state.done_count(query.key)
        write_sidecar(raw, state)
        state.close()
        try:
            (raw / PARTIAL_DIR).rmdir()
        except OSError:
            pass
    return report
