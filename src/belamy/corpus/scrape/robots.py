"""robots.txt, per origin, read with the standard library's parser and fetched by our own client
(so the fetch carries belamy's User-Agent, timeouts and rate limit)."""

from __future__ import annotations

import functools
import re
import threading
import urllib.parse
import urllib.robotparser
from collections.abc import Callable
from urllib.parse import urlsplit

# The product token robots.txt groups are matched against (``User-agent: belamy``).
ROBOTS_AGENT = "belamy"


class Rfc9309Parser(urllib.robotparser.RobotFileParser):
    """The standard parser, matching rules as RFC 9309 says rather than by first prefix.

    ``urllib.robotparser`` takes the first rule whose path is a plain prefix of the URL. Real
    robots.txt files use ``*`` and ``$`` (``Disallow: /*?json=``) and rely on the most specific
    (longest) rule winning, with Allow winning a tie; without this we could fetch what the owner forbade.
    """

    def can_fetch(self, useragent: str, url: str) -> bool:
        if self.disallow_all:
            return False
        if self.allow_all:
            return True
        if not self.last_checked:
            return False
        # The same normalisation as the standard parser, so rule paths and URLs are quoted alike.
        parsed = urllib.parse.urlparse(urllib.parse.unquote(url))
        target = urllib.parse.quote(urllib.parse.urlunparse(("", "", parsed.path, parsed.params, parsed.query,
                                                             parsed.fragment))) or "/"
        entry = next((e for e in self.entries if e.applies_to(useragent)), self.default_entry)
        if entry is None:
            return True
        best: tuple[int, bool] | None = None
        for line in entry.rulelines:
            if _rule_matches(line.path, target):
                key = (len(line.path), line.allowance)
                if best is None or key > best:
                    best = key
        return True if best is None else best[1]


@functools.lru_cache(maxsize=1024)
def _rule_regex(path: str) -> re.Pattern:
    # Rule paths arrive quoted: '*' as %2A and '$' as %24.
    anchored = path.endswith("%24")
    if anchored:
        path = path[:-3]
    body = ".*".join(re.escape(part) for part in path.split("%2A"))
    return re.compile(body + ("$" if anchored else ""))


def _rule_matches(path: str, target: str) -> bool:
    if path == "*":
        return True
    return _rule_regex(path).match(target) is not None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class RobotsPolicy:
    """Answers "may belamy fetch this URL?" from each origin's robots.txt, fetched once.

    ``fetch(url) -> (status, text)`` does the HTTP work; status 0 means the site was unreachable.
    Following RFC 9309: a 4xx robots.txt (none published) allows everything; a 5xx or an
    unreachable site disallows everything, because we cannot know what the owner wants.
    """

    def __init__(self, fetch: Callable[[str], tuple[int, str]]):
        self._fetch = fetch
        self._parsers: dict[str, Rfc9309Parser] = {}
        self.status: dict[str, int] = {}  # origin -> HTTP status of its robots.txt (0: unreachable)
        self._lock = threading.Lock()

    def parser_for(self, url: str) -> Rfc9309Parser:
        origin = origin_of(url)
        with self._lock:
            parser = self._parsers.get(origin)
            if parser is not None:
                return parser
            parser = Rfc9309Parser(origin + "/robots.txt")
            status, text = self._fetch(origin + "/robots.txt")
            self.status[origin] = status
            if 200 <= status < 300:
                parser.parse(text.splitlines())
            elif 400 <= status < 500:
                parser.allow_all = True
            else:
                parser.disallow_all = True
            self._parsers[origin] = parser
            return parser

    def allowed(self, url: str) -> bool:
        return self.parser_for(url).can_fetch(ROBOTS_AGENT, url)

    def reachable(self, url: str) -> bool:
        """False when the origin's robots.txt could not be fetched at all (network down, 5xx)."""
        self.parser_for(url)
        return self.status.get(origin_of(url), 0) != 0

    def crawl_delay(self, url: str) -> float | None:
        delay = self.parser_for(url).crawl_delay(ROBOTS_AGENT)
        return float(delay) if delay is not None else None
