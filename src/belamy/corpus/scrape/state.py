"""The scrape's memory, in SQLite (WAL): which listing pages are done, which paintings were seen,
which downloads are done or failed and why. It is what makes a killed scrape resume without
fetching anything twice.

The crash-safe order for one download is: bytes into ``RAW/.partial/``, verify, rename into place,
then mark it done here. A crash before the rename leaves only a temporary file (deleted on the next
start); a crash between the rename and the mark leaves a finished file that :meth:`recover` finds
and marks done, so it is never fetched again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from belamy.errors import BelamyError

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    query TEXT NOT NULL, page INTEGER NOT NULL, count INTEGER NOT NULL, total INTEGER,
    last INTEGER NOT NULL, fetched_at TEXT NOT NULL, PRIMARY KEY (query, page));
CREATE TABLE IF NOT EXISTS page_items (
    query TEXT NOT NULL, page INTEGER NOT NULL, position INTEGER NOT NULL, wikiart_id TEXT NOT NULL,
    PRIMARY KEY (query, page, position));
CREATE TABLE IF NOT EXISTS items (
    wikiart_id TEXT PRIMARY KEY, file TEXT NOT NULL, source_url TEXT NOT NULL, record TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed | disallowed
    reason TEXT, attempts INTEGER NOT NULL DEFAULT 0, bytes INTEGER, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_status ON items (status);
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ScrapeState:
    """Thread-safe: one connection, one lock; every change is its own committed transaction."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise BelamyError(f"{self.path} is damaged ({exc})", "move it away to start the scrape afresh") from None

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _write(self, sql: str, params: tuple = ()) -> None:
        with self._lock:
            self.db.execute(sql, params)

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ listing pages

    def page(self, query: str, page: int) -> tuple[int, int | None, bool] | None:
        """(count, total, last) for a listing page already fetched, else None."""
        rows = self._read("SELECT count, total, last FROM pages WHERE query=? AND page=?", (query, page))
        return (rows[0][0], rows[0][1], bool(rows[0][2])) if rows else None

    def save_page(self, query: str, page: int, records: list[dict], total: int | None, last: bool) -> None:
        """Register a page's paintings and the page itself in one transaction: all or nothing."""
        now = _now()
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("DELETE FROM page_items WHERE query=? AND page=?", (query, page))
                for position, record in enumerate(records):
                    self.db.execute(
                        "INSERT OR IGNORE INTO items (wikiart_id, file, source_url, record, updated_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (record["wikiart_id"], record["file"], record["source_url"],
                         json.dumps(record, sort_keys=True), now),
                    )
                    self.db.execute("INSERT INTO page_items VALUES (?, ?, ?, ?)",
                                    (query, page, position, record["wikiart_id"]))
                self.db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?)",
                                (query, page, len(records), total, int(last), now))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def items_on_page(self, query: str, page: int) -> list[dict]:
        rows = self._read(
            "SELECT i.record, i.status, i.reason FROM page_items p JOIN items i USING (wikiart_id)"
            " WHERE p.query=? AND p.page=? ORDER BY p.position", (query, page))
        return [dict(json.loads(record), _status=status, _reason=reason) for record, status, reason in rows]

    # ------------------------------------------------------------------ downloads

    def mark(self, wikiart_id: str, status: str, reason: str | None = None, nbytes: int | None = None) -> None:
        self._write(
            "UPDATE items SET status=?, reason=?, bytes=COALESCE(?, bytes), updated_at=?,"
            " attempts=attempts + (CASE WHEN ? IN ('done', 'failed') THEN 1 ELSE 0 END) WHERE wikiart_id=?",
            (status, reason, nbytes, _now(), status, wikiart_id))

    def done_count(self, query: str) -> int:
        rows = self._read(
            "SELECT COUNT(DISTINCT i.wikiart_id) FROM page_items p JOIN items i USING (wikiart_id)"
            " WHERE p.query=? AND i.status='done'", (query,))
        return int(rows[0][0])

    def done_records(self) -> list[dict]:
        rows = self._read("SELECT record FROM items WHERE status='done' ORDER BY file")
        return [json.loads(r[0]) for r in rows]

    def recover(self, raw: Path) -> int:
        """Square the records with the files in RAW after a crash (or a user tidying up).

        A download whose file reached its place before a crash could record it is marked done (files
        only ever appear there by an atomic rename of a verified download); one recorded done whose
        file has since gone is fetched again. Returns how many downloads were recovered.
        """
        recovered = 0
        for wikiart_id, file, status in self._read("SELECT wikiart_id, file, status FROM items"):
            present = (raw / file).is_file()
            if status != "done" and present:
                self.mark(wikiart_id, "done", "recovered after an interruption", (raw / file).stat().st_size)
                recovered += 1
            elif status == "done" and not present:
                self.mark(wikiart_id, "pending", "file was missing from RAW")
        return recovered
