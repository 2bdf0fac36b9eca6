"""A token bucket shared by every worker, so the whole scrape (listing pages, robots.txt and
images together) stays under one request rate however many downloads run at once."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`acquire` blocks until one is free.

    ``burst`` defaults to 1: a polite scraper spaces its requests evenly rather than saving up
    idle time and then firing a volley.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def set_rate(self, rate: float) -> None:
        """Lower (or raise) the rate, e.g. to honour a robots.txt Crawl-delay."""
        with self._lock:
            self._refill()
            self.rate = float(rate)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Take one token, waiting as needed. Returns False if ``stop`` was set while waiting."""
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return True
                wait = (1.0 - self._tokens) / self.rate
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                self._sleep(wait)
