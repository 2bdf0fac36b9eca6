"""A polite HTTP client: one User-Agent naming belamy, a shared request rate, robots.txt,
timeouts, and retries with exponential backoff + jitter that honour ``Retry-After``."""

from __future__ import annotations

import collections
import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from belamy import __version__
from belamy.errors import BelamyError

try:
    import httpx
except ImportError:  # an optional extra: only scraping needs it
    raise BelamyError("scraping needs the httpx package", "pip install 'belamy[web]'") from None
from belamy.corpus.scrape.ratelimit import TokenBucket
from belamy.corpus.scrape.robots import RobotsPolicy, origin_of

PROJECT_URL = "https://github.com/belamy-art/belamy"
USER_AGENT = f"belamy/{__version__} (+{PROJECT_URL}; GAN art studio corpus scraper)"

# Statuses worth trying again: the server is busy or briefly broken, not refusing us for good.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

T = TypeVar("T")


@dataclass
class HttpPolicy:
    """How hard and how fast to ask. Defaults are deliberately gentle."""

    rate: float = 1.0  # requests per second, across all workers
    timeout: float = 30.0  # seconds for connect / each read
    max_retries: int = 5  # extra attempts after the first
    backoff_base: float = 1.0  # seconds; doubles each attempt
    max_backoff: float = 60.0  # cap on one backoff sleep
    max_retry_after: float = 600.0  # a server asking us to wait longer than this: give up on that URL
    # Bounds on what one response may cost, Content-Length or not: a body that never ends is cut here.
    max_image_bytes: int = 100 * 2**20  # the largest museum scans are tens of MB
    download_timeout: float = 600.0  # seconds for one whole download, however slowly it trickles
    max_page_bytes: int = 16 * 2**20  # a listing page or an artist page (JSON)
    max_robots_bytes: int = 500 * 2**10  # RFC 9309 §2.5: crawlers may stop reading robots.txt at 500 KiB


class FetchError(Exception):
    """A request that failed for good (after any retries); ``reason`` is one line for the report."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class NotJsonError(FetchError):
    """A page that should be JSON is not: the site changed, or the URL is not the site we think."""


class RetryableError(Exception):
    """One attempt failed in a way that may pass; ``retry_after`` is the server's wish, if it said."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Stopped(Exception):
    """The scrape was asked to stop (Ctrl-C) while this request waited."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def bounded_chunks(response: httpx.Response, limit: int, timeout: float, what: str,
                   raw: bool = False) -> Iterator[bytes]:
    """The body of ``response`` chunk by chunk, refused once it passes ``limit`` bytes or ``timeout`` seconds.

    A declared Content-Length over the limit fails before a byte is read; a body with no length is
    counted as it arrives (decoded bytes, unless ``raw``: so a small gzip bomb is caught too).
    Chunks are taken as the transport delivers them, so a trickling body is checked often.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{what} is {_mb(int(declared))}, over the limit of {_mb(limit)}")
    deadline = time.monotonic() + timeout
    seen = 0
    for chunk in response.iter_raw() if raw else response.iter_bytes():
        seen += len(chunk)
        if seen > limit:
            raise FetchError(f"{what} passed the limit of {_mb(limit)} and was cut off")
        if time.monotonic() > deadline:
            raise FetchError(f"{what} took longer than {timeout:g} s and was cut off")
        yield chunk


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.2f}".rstrip("0").rstrip(".") + " MB"


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: somewhere in [½, 1] × min(cap, base·2^attempt).

    The jitter keeps several workers (or several scrapers) from retrying in lock-step.
    """
    rng = rng or random
    ceiling = min(cap, base * (2**attempt))
    return ceiling * rng.uniform(0.5, 1.0)


class PoliteClient:
    """Every request made by a scrape goes through here, from any thread."""

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        stop: threading.Event | None = None,
        user_agent: str = USER_AGENT,
        transport: httpx.BaseTransport | None = None,
    ):
        self.policy = policy or HttpPolicy()
        self.stop = stop or threading.Event()
        self.bucket = TokenBucket(self.policy.rate)
        self.requests: collections.Counter[str] = collections.Counter()  # what kind of request, how many
        self.retries = 0
        self.waits: list[float] = []  # seconds slept before each retry (Retry-After or backoff)
        self._count_lock = threading.Lock()
        self._rng = random.Random()
        self.http = httpx.Client(
            headers={"User-Agent": user_agent, "Accept-Language": "en"},
            timeout=httpx.Timeout(self.policy.timeout),
            follow_redirects=True,
            transport=transport,
        )
        self.robots = RobotsPolicy(self._fetch_robots)
        self._delay_checked: set[str] = set()
        self.unreachable_reason = ""

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _take_token(self) -> None:
        if not self.bucket.acquire(self.stop):
            raise Stopped()

    def _count(self, kind: str) -> None:
        with self._count_lock:
            self.requests[kind] += 1

    def with_retries(self, attempt: Callable[[], T], what: str) -> T:
        """Run ``attempt`` (one request) until it succeeds, fails for good, or retries run out."""
        last_reason = ""
        for n in range(self.policy.max_retries + 1):
            if self.stop.is_set():
                raise Stopped()
            try:
                return attempt()
            except RetryableError as err:
                last_reason = err.reason
                if n == self.policy.max_retries:
                    break
                if err.retry_after is not None:
                    if err.retry_after > self.policy.max_retry_after:
                        raise FetchError(f"{err.reason}; server asked to wait {err.retry_after:.0f} s") from None
                    delay = err.retry_after
                else:
                    delay = backoff_delay(n, self.policy.backoff_base, self.policy.max_backoff, self._rng)
                with self._count_lock:
                    self.retries += 1
                    self.waits.append(delay)
                if self.stop.wait(delay):
                    raise Stopped() from None
        raise FetchError(f"{last_reason} (gave up after {self.policy.max_retries + 1} attempts)")

    @staticmethod
    def raise_for_status(response: httpx.Response) -> None:
        status = response.status_code
        if status in RETRY_STATUSES:
            raise RetryableError(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
        if status >= 400:
            raise FetchError(f"HTTP {status}", status)

    # ------------------------------------------------------------------ robots.txt

    def _fetch_robots(self, url: str) -> tuple[int, str]:
        def attempt() -> tuple[int, str]:
            self._take_token()
            self._count("robots")
            try:
                with self.http.stream("GET", url) as response:
                    if response.status_code >= 500 or response.status_code == 429:
                        raise RetryableError(f"HTTP {response.status_code}",
                                             parse_retry_after(response.headers.get("Retry-After")))
                    body = self.read_body(response, self.policy.max_robots_bytes, f"robots.txt at {url}")
            except httpx.TransportError as exc:
                raise RetryableError(f"{type(exc).__name__}: {exc}") from None
            return response.status_code, body.decode(response.encoding or "utf-8", errors="replace")

        try:
            return self.with_retries(attempt, url)
        except FetchError as err:
            self.unreachable_reason = err.reason
            return 0, ""

    def allowed(self, url: str) -> bool:
        """True when robots.txt lets belamy fetch ``url``; also adopts any Crawl-delay it asks for."""
        ok = self.robots.allowed(url)
        key = origin_of(url)
        if key not in self._delay_checked:
            self._delay_checked.add(key)
            delay = self.robots.crawl_delay(url)
            if delay and delay > 0 and 1.0 / delay < self.bucket.rate:
                self.bucket.set_rate(1.0 / delay)
        return ok

    # ------------------------------------------------------------------ requests

    def read_body(self, response: httpx.Response, limit: int, what: str) -> bytes:
        """The whole (decoded) body, within ``limit`` bytes and the per-download timeout."""
        return b"".join(bounded_chunks(response, limit, self.policy.download_timeout, what))

    def get_json(self, url: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        """GET a JSON document, with retries. Raises :class:`FetchError` when it cannot."""

        def attempt() -> Any:
            self._take_token()
            self._count("listing")
            try:
                with self.http.stream("GET", url, params=params, headers=headers) as response:
                    self.raise_for_status(response)
                    body = self.read_body(response, self.policy.max_page_bytes, f"the page {url}")
            except httpx.TransportError as exc:
                raise RetryableError(f"{type(exc).__name__}: {exc}") from None
            try:
                return json.loads(body)
            except ValueError:
                kind = response.headers.get("Content-Type", "no Content-Type").split(";")[0]
                raise NotJsonError(f"{response.url} answered {kind}, not JSON") from None

        return self.with_retries(attempt, url)
