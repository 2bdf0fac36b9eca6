"""The scraper's small parts, without a network: Retry-After, backoff, the token bucket, robots.txt
policy, and how WikiArt's JSON becomes file names and records."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from belamy.corpus.scrape.client import USER_AGENT, backoff_delay, parse_retry_after
from belamy.corpus.scrape.ratelimit import TokenBucket
from belamy.corpus.scrape.robots import RobotsPolicy
from belamy.corpus.scrape.runner import parse_years
from belamy.corpus.scrape.wikiart import (
    Query,
    death_year_from_artist_info,
    original_image_url,
    painting_record,
    parse_listing,
    parse_year,
    slugify,
)
from belamy.errors import BelamyError


def test_retry_after_in_seconds_and_as_an_http_date():
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 120 ") == 120.0
    now = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # in the past: go now
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(0)
    for attempt in range(8):
        delay = backoff_delay(attempt, base=1.0, cap=10.0, rng=rng)
        ceiling = min(10.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    delays = {backoff_delay(3, 1.0, 60.0, rng) for _ in range(20)}
    assert len(delays) > 1  # jittered, not lock-step


def test_token_bucket_spaces_requests_at_the_rate():
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(rate=2.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        bucket.acquire()
    assert slept == pytest.approx([0.5, 0.5, 0.5, 0.5])  # the first is free, then one per 1/rate
    clock[0] += 10.0  # idle time is not saved up into a volley
    bucket.acquire()
    bucket.acquire()
    assert slept[-1] == pytest.approx(0.5)


def test_token_bucket_gives_up_when_stopped():
    bucket = TokenBucket(rate=0.001)
    bucket.acquire()
    stop = threading.Event()
    stop.set()
    assert bucket.acquire(stop) is False


def test_robots_policy_follows_rfc_9309_for_missing_and_broken_robots_txt():
    text = "User-agent: belamy\nDisallow: /private/\nCrawl-delay: 4\n\nUser-agent: *\nDisallow: /\n"
    policy = RobotsPolicy(lambda url: (200, text))
    assert policy.allowed("https://example.org/en/paintings-by-genre/portrait?json=2")
    assert not policy.allowed("https://example.org/private/a.jpg")
    assert policy.crawl_delay("https://example.org/") == 4.0
    assert RobotsPolicy(lambda url: (404, "")).allowed("https://example.org/anything")
    assert not RobotsPolicy(lambda url: (503, "")).allowed("https://example.org/anything")
    assert not RobotsPolicy(lambda url: (0, "")).allowed("https://example.org/anything")


def test_robots_wildcards_and_the_longest_rule_win():
    text = ("User-agent: *\nDisallow: /*?json=\nDisallow: /images/\nAllow: /images/public/\n"
            "Disallow: /*.gif$\nAllow: /en/ok?json=\n")
    policy = RobotsPolicy(lambda url: (200, text))
    site = "https://example.org"
    assert not policy.allowed(site + "/en/paintings-by-genre/portrait?json=2&page=1")
    assert policy.allowed(site + "/en/paintings-by-genre/portrait")
    assert policy.allowed(site + "/en/ok?json=2")  # the longer Allow beats the shorter Disallow
    assert not policy.allowed(site + "/images/rembrandt/a.jpg")
    assert policy.allowed(site + "/images/public/a.jpg")
    assert not policy.allowed(site + "/x/a.gif") and policy.allowed(site + "/x/a.gif.jpg")


def test_robots_txt_is_fetched_once_per_origin():
    fetched = []
    policy = RobotsPolicy(lambda url: (fetched.append(url), (404, ""))[1])
    for path in ("/a", "/b", "/c"):
        policy.allowed("https://www.wikiart.org" + path)
    policy.allowed("https://uploads0.wikiart.org/images/x.jpg")
    assert fetched == ["https://www.wikiart.org/robots.txt", "https://uploads0.wikiart.org/robots.txt"]


def test_user_agent_names_belamy_its_version_and_project():
    from belamy import __version__

    assert USER_AGENT.startswith(f"belamy/{__version__} (+http")


def test_query_from_options():
    assert Query.from_options(genre="portrait").path == "/en/paintings-by-genre/portrait"
    assert Query.from_options(style="Northern Renaissance").path == "/en/paintings-by-style/northern-renaissance"
    assert Query.from_options(artist="Leonardo da Vinci").path == "/en/leonardo-da-vinci/mode/all-paintings"
    assert Query.from_options(artist="https://www.wikiart.org/en/rembrandt").name == "rembrandt"
    for bad in ({}, {"genre": "portrait", "artist": "rembrandt"}, {"genre": "!!!"}):
        with pytest.raises(BelamyError):
            Query.from_options(**bad)


def test_years_option():
    assert parse_years("1400-1900") == (1400, 1900)
    assert parse_years("1889") == (1889, 1889)
    assert parse_years(None) is None
    for bad in ("1900-1400", "nineteenth century", "1400-"):
        with pytest.raises(BelamyError):
            parse_years(bad)


def test_wikiart_years_and_urls():
    assert parse_year("1503") == 1503
    assert parse_year("c.1665") == 1665
    assert parse_year("1503 - 1519") == 1503
    assert parse_year("") is None and parse_year(None) is None
    assert original_image_url("https://uploads0.wikiart.org/images/a/b.jpg!Large.jpg") == \
        "https://uploads0.wikiart.org/images/a/b.jpg"
    assert slugify("Élisabeth Vigée-Le Brun: Self-portrait (1790)") == "elisabeth-vigee-le-brun-self-portrait-1790"
    assert slugify("???") == ""
    assert death_year_from_artist_info({"deathDayAsString": "May 2, 1519"}) == 1519
    assert death_year_from_artist_info({"deathDay": "/Date(-14200000000000)/"}) == 1520
    assert death_year_from_artist_info({"birthDayAsString": "1452"}) is None


def test_listing_shapes():
    page = parse_listing({"Paintings": [{"id": "a"}, "junk"], "AllPaintingsCount": "120", "PageSize": 60})
    assert page.paintings == [{"id": "a"}] and page.total == 120
    assert parse_listing({"Paintings": None}).paintings == []
    assert parse_listing([{"id": "b"}]).paintings == [{"id": "b"}]
    for not_a_listing in ("<html>", {"error": "rate limited"}, 42):  # never mistaken for the end of the list
        with pytest.raises(ValueError, match="not a listing"):
            parse_listing(not_a_listing)


def test_painting_record_names_the_file_after_artist_title_year_and_id():
    query = Query("style", "baroque")
    painting = {"id": "57726d7f-edc2", "title": "The Night Watch / Militia", "year": "1642", "artistName": "Rembrandt",
                "artistUrl": "/en/rembrandt", "image": "https://uploads.wikiart.org/images/rembrandt/nw.jpg!Large.jpg",
                "paintingUrl": "/en/rembrandt/the-night-watch-1642"}
    record = painting_record(painting, query, "https://www.wikiart.org")
    assert record["file"] == "rembrandt/the-night-watch-militia-1642-57726d7fedc2.jpg"
    assert record["source_url"] == "https://uploads.wikiart.org/images/rembrandt/nw.jpg"
    assert record["page_url"] == "https://www.wikiart.org/en/rembrandt/the-night-watch-1642"
    assert record["style"] == "baroque" and record["genre"] is None and record["year"] == 1642
    untitled = painting_record({"image": "/img/x.png", "artistName": "Anon"}, query, "https://www.wikiart.org")
    assert untitled["file"].startswith("anon/untitled-nd-") and untitled["file"].endswith(".png")
    assert painting_record({"title": "no image"}, query, "https://www.wikiart.org") is None
