"""Polite, resumable web scrapers that fill a RAW folder (images + ``metadata.jsonl``) for
``belamy corpus build``."""

from belamy.corpus.scrape.client import USER_AGENT, HttpPolicy, PoliteClient
from belamy.corpus.scrape.report import ScrapeReport
from belamy.corpus.scrape.runner import SIDECAR, SIDECAR_FIELDS, STATE_FILE, parse_years, scrape_wikiart

__all__ = ["SIDECAR", "SIDECAR_FIELDS", "STATE_FILE", "USER_AGENT", "HttpPolicy", "PoliteClient", "ScrapeReport",
           "parse_years", "scrape_wikiart"]
