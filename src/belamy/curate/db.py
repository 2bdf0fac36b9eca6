"""The decisions database: one SQLite file (WAL) beside the work, safe for several tabs and a crash.

Every candidate is keyed by the sha256 of its file, so a copy of an image in another folder is the
same candidate and its decision is made once. A decision is committed before the request returns;
deciding an already-decided image updates it. Undo walks an append-only history per client (per
browser tab), and only reverts a decision that is still the one that client made.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from belamy.errors import BelamyError
from belamy.provenance import Record, credit_line
from belamy.provenance.embed import read_provenance
from belamy.utils.imageio import file_sha256

DB_NAME = "belamy-studio.sqlite"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def is_sheet(provenance) -> bool:
    """A grid of many seeds (``generate --grid`` writes grid.png beside them): a contact sheet, not a candidate."""
    if not isinstance(provenance, dict):
        return False
    rec = Record.from_dict(provenance)
    return "seeds" in rec.generation and rec.seed is None


DECISIONS = ("keep", "reject")
OUTSIDE = "a symbolic link out of the studio root: not offered"
log = logging.getLogger("belamy.studio")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candidates (
    hash TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    set_name TEXT NOT NULL,
    run TEXT, checkpoint TEXT, checkpoint_sha256 TEXT, seed INTEGER,
    provenance TEXT, added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS candidates_set ON candidates(set_name);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    hash TEXT PRIMARY KEY,
    decision TEXT NOT NULL CHECK (decision IN ('keep', 'reject')),
    client TEXT NOT NULL, decided REAL NOT NULL, history_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL, client TEXT NOT NULL, decision TEXT NOT NULL,
    previous TEXT, previous_client TEXT, previous_history INTEGER,
    at REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS history_client ON history(client, id);
CREATE TABLE IF NOT EXISTS scores (hash TEXT PRIMARY KEY, p REAL NOT NULL, model INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS features (hash TEXT NOT NULL, kind TEXT NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (hash, kind));
CREATE TABLE IF NOT EXISTS models (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, data TEXT NOT NULL);
"""


@dataclass
class Candidate:
    hash: str
    path: str  # relative to the studio root, POSIX separators
    set_name: str
    run: str | None
    checkpoint: str | None
    checkpoint_sha256: str | None
    seed: int | None
    provenance: dict | None
    decision: str | None = None
    p_keep: float | None = None

    def to_json(self) -> dict:
        return {
            "hash": self.hash, "path": self.path, "set": self.set_name, "run": self.run, "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256, "seed": self.seed, "provenance": self.provenance,
            "decision": self.decision, "p_keep": self.p_keep, "name": Path(self.path).name,
            "credit": credit_line(self.provenance),
        }


def _candidate(row: sqlite3.Row) -> Candidate:
    keys = row.keys()
    return Candidate(
        hash=row["hash"], path=row["path"], set_name=row["set_name"], run=row["run"], checkpoint=row["checkpoint"],
        checkpoint_sha256=row["checkpoint_sha256"], seed=row["seed"],
        provenance=json.loads(row["provenance"]) if row["provenance"] else None,
        decision=row["decision"] if "decision" in keys else None,
        p_keep=row["p"] if "p" in keys else None,
    )


class DecisionDB:
    """Decisions and candidates in ``<root>/belamy-studio.sqlite``. Safe to share between threads."""

    def __init__(self, path: Path, root: Path | None = None):
        self.path = Path(path)
        self.root = Path(root).resolve() if root else self.path.resolve().parent
        self._scan_lock = threading.Lock()
        self.skipped: dict[str, str] = {}  # entries a scan passed over (path as found -> why), reported once
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise BelamyError(f"cannot open the decisions database {self.path}: {exc}",
                              "is it a belamy studio database? move it aside to start a new one") from None

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection: one per operation keeps threads independent; WAL lets readers run beside a writer."""
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout=30000")
        con.execute("PRAGMA synchronous=FULL")  # a committed decision survives a power cut, not only a kill
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken up front (BEGIN IMMEDIATE) so read-modify-write cannot race another tab."""
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # ------------------------------------------------------------------ candidates

    def relative(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    def inside(self, path: Path) -> str | None:
        """``path`` relative to the root once links are resolved; None (and reported once) if it lies outside."""
        try:
            return self.relative(path)
        except (OSError, RuntimeError, ValueError):
            shown = os.path.relpath(os.path.abspath(path), self.root)
            if shown not in self.skipped:
                self.skipped[shown] = OUTSIDE
                log.warning("skipped %s: %s", shown, OUTSIDE)
            return None

    def skipped_entries(self) -> list[dict]:
        return [{"path": path, "reason": why} for path, why in sorted(self.skipped.items())]

    def scan(self, folder: Path, set_name: str | None = None) -> int:
        """Register every image in ``folder`` (not recursive). Unchanged files are not re-hashed. Returns the count.

        A file (or the folder itself) that is a link out of the root is passed over and reported once
        (:attr:`skipped`): nothing outside the root is read, and the rest of the set stays usable.
        """
        folder = Path(folder)
        if not folder.is_dir():
            return 0
        folder_rel = self.inside(folder)
        if folder_rel is None:
            return 0
        set_name = set_name or folder.name
        listed = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                        and not p.name.startswith("."))
        rels = {p: rel for p in listed if (rel := self.inside(p)) is not None}
        files = list(rels)
        with self._scan_lock, self.connect() as con:
            known = {r["path"]: (r["size"], r["mtime_ns"], r["hash"]) for r in con.execute(
                "SELECT path, size, mtime_ns, hash FROM files WHERE path LIKE ?", (folder_rel + "/%",))}
            for p in files:
                rel = rels[p]
                try:
                    st = p.stat()
                except OSError:
                    continue
                seen = known.get(rel)
                if seen and seen[0] == st.st_size and seen[1] == st.st_mtime_ns:
                    continue
                try:
                    digest = file_sha256(p)
                    provenance = read_provenance(p) if p.suffix.lower() == ".png" else None
                except Exception:  # a half-written or broken file: skip it now, it is looked at again next scan
                    continue
                if not is_sheet(provenance):
                    self.add_candidate(con, digest, rel, set_name, provenance)
                con.execute("INSERT OR REPLACE INTO files (path, size, mtime_ns, hash) VALUES (?, ?, ?, ?)",
                            (rel, st.st_size, st.st_mtime_ns, digest))
            # Files deleted since the last scan: forget them, and their candidates unless already decided
            # (a decision stays: it is the user's, and the taste may still use the image if it comes back).
            present = set(rels.values())
            for gone in set(known) - present:
                con.execute("DELETE FROM files WHERE path = ?", (gone,))
                con.execute("DELETE FROM candidates WHERE path = ? AND hash NOT IN (SELECT hash FROM decisions)", (gone,))
        return len(files)

    @staticmethod
    def add_candidate(con: sqlite3.Connection, digest: str, rel: str, set_name: str, provenance: dict | None) -> None:
        rec = Record.from_dict(provenance)
        seed = rec.seed
        con.execute(
            "INSERT INTO candidates (hash, path, set_name, run, checkpoint, checkpoint_sha256, seed, provenance, added)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(hash) DO UPDATE SET path = excluded.path, set_name = excluded.set_name",
            (digest, rel, set_name, rec.run, rec.checkpoint, rec.checkpoint_sha256, seed, json.dumps(provenance) if provenance else None, time.time()),
        )

    def candidate(self, digest: str) -> Candidate | None:
        with self.connect() as con:
            row = con.execute(
                "SELECT c.*, d.decision, s.p FROM candidates c LEFT JOIN decisions d USING (hash)"
                " LEFT JOIN scores s USING (hash) WHERE c.hash = ?", (digest,)).fetchone()
        return _candidate(row) if row else None

    def candidates(self, set_name: str | None = None, decision: str | None = None) -> list[Candidate]:
        """All candidates (of one set, with one decision: 'keep', 'reject' or 'none' for undecided)."""
        where, args = [], []
        if set_name:
            where.append("c.set_name = ?")
            args.append(set_name)
        if decision == "none":
            where.append("d.decision IS NULL")
        elif decision:
            where.append("d.decision = ?")
            args.append(decision)
        sql = ("SELECT c.*, d.decision, s.p FROM candidates c LEFT JOIN decisions d USING (hash)"
               " LEFT JOIN scores s USING (hash)")
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.connect() as con:
            return [_candidate(r) for r in con.execute(sql + " ORDER BY c.path", args)]

    def sets(self) -> list[dict]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT c.set_name AS name, COUNT(*) AS total,"
                " SUM(d.decision = 'keep') AS kept, SUM(d.decision = 'reject') AS rejected"
                " FROM candidates c LEFT JOIN decisions d USING (hash) GROUP BY c.set_name ORDER BY c.set_name").fetchall()
        return [{"name": r["name"], "total": r["total"], "kept": r["kept"] or 0, "rejected": r["rejected"] or 0,
                 "left": r["total"] - (r["kept"] or 0) - (r["rejected"] or 0)} for r in rows]

    def next_candidates(self, set_name: str | None = None, mode: str = "uncertain", limit: int = 3,
                        exclude: tuple[str, ...] = ()) -> list[Candidate]:
        """Undecided candidates, in the order the user chose: ``uncertain`` (model least sure first),
        ``likely`` (likely keeps first) or ``order`` (file order). Unscored ones come after scored ones."""
        order = {
            "uncertain": "CASE WHEN s.p IS NULL THEN 1 ELSE 0 END, ABS(s.p - 0.5), c.path",
            "likely": "CASE WHEN s.p IS NULL THEN 1 ELSE 0 END, s.p DESC, c.path",
            "order": "c.path",
        }.get(mode)
        if order is None:
            raise BelamyError(f"unknown order {mode!r}", "use uncertain, likely or order")
        args: list = []
        sql = ("SELECT c.*, NULL AS decision, s.p FROM candidates c LEFT JOIN scores s USING (hash)"
               " WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.hash = c.hash)")
        if set_name:
            sql += " AND c.set_name = ?"
            args.append(set_name)
        if exclude:
            sql += f" AND c.hash NOT IN ({','.join('?' * len(exclude))})"
            args.extend(exclude)
        sql += f" ORDER BY {order} LIMIT ?"
        args.append(max(1, min(int(limit), 50)))
        with self.connect() as con:
            return [_candidate(r) for r in con.execute(sql, args)]

    # ------------------------------------------------------------------ decisions

    def decide(self, digest: str, decision: str, client: str) -> None:
        """Record (or change) the decision on one candidate, committed before returning."""
        if decision not in DECISIONS:
            raise BelamyError(f"unknown decision {decision!r}", "use keep or reject")
        now = time.time()
        with self.write() as con:
            if con.execute("SELECT 1 FROM candidates WHERE hash = ?", (digest,)).fetchone() is None:
                raise KeyError(digest)
            prev = con.execute("SELECT decision, client, history_id FROM decisions WHERE hash = ?", (digest,)).fetchone()
            cur = con.execute(
                "INSERT INTO history (hash, client, decision, previous, previous_client, previous_history, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (digest, client, decision, prev["decision"] if prev else None, prev["client"] if prev else None,
                 prev["history_id"] if prev else None, now),
            )
            con.execute(
                "INSERT INTO decisions (hash, decision, client, decided, history_id) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(hash) DO UPDATE SET decision = excluded.decision, client = excluded.client,"
                " decided = excluded.decided, history_id = excluded.history_id",
                (digest, decision, client, now, cur.lastrowid),
            )

    def undo(self, client: str) -> dict | None:
        """Take back this client's last decision. Returns {"hash", "restored"} or None when there is nothing to undo.

        ``restored`` is False when another tab has decided the image since: its decision stands.
        """
        with self.write() as con:
            row = con.execute("SELECT * FROM history WHERE client = ? AND undone = 0 ORDER BY id DESC LIMIT 1",
                              (client,)).fetchone()
            if row is None:
                return None
            con.execute("UPDATE history SET undone = 1 WHERE id = ?", (row["id"],))
            current = con.execute("SELECT history_id FROM decisions WHERE hash = ?", (row["hash"],)).fetchone()
            if current is None or current["history_id"] != row["id"]:
                return {"hash": row["hash"], "restored": False}
            if row["previous"] is None:
                con.execute("DELETE FROM decisions WHERE hash = ?", (row["hash"],))
            else:
                con.execute("UPDATE decisions SET decision = ?, client = ?, history_id = ? WHERE hash = ?",
                            (row["previous"], row["previous_client"] or client, row["previous_history"] or 0, row["hash"]))
            return {"hash": row["hash"], "restored": True}

    def decisions(self) -> list[tuple[Candidate, int]]:
        """Every decided candidate with its label (1 keep, 0 reject), in decision order."""
        with self.connect() as con:
            rows = con.execute("SELECT c.*, d.decision, NULL AS p FROM decisions d JOIN candidates c USING (hash)"
                               " ORDER BY d.decided").fetchall()
        return [(_candidate(r), 1 if r["decision"] == "keep" else 0) for r in rows]

    def decision_count(self) -> int:
        with self.connect() as con:
            return con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]

    def rate_per_minute(self, client: str | None = None, window_s: float = 300.0) -> float:
        """Decisions per minute over the last few minutes (from this client, or from everyone)."""
        now = time.time()
        sql, args = "SELECT MIN(at), COUNT(*) FROM history WHERE undone = 0 AND at >= ?", [now - window_s]
        if client:
            sql += " AND client = ?"
            args.append(client)
        with self.connect() as con:
            first, count = con.execute(sql, args).fetchone()
        if not count:
            return 0.0
        minutes = max((now - first) / 60.0, 1 / 6)  # at least ten seconds, so two quick clicks are not 1000/min
        return count / minutes

    # ------------------------------------------------------------------ model outputs

    def put_scores(self, scores: dict[str, float], model_id: int) -> None:
        with self.write() as con:
            con.executemany("INSERT OR REPLACE INTO scores (hash, p, model) VALUES (?, ?, ?)",
                            [(h, float(p), model_id) for h, p in scores.items()])

    def save_model(self, data: dict) -> int:
        with self.write() as con:
            return con.execute("INSERT INTO models (created, data) VALUES (?, ?)", (time.time(), json.dumps(data))).lastrowid

    def latest_model(self) -> dict | None:
        with self.connect() as con:
            row = con.execute("SELECT id, data FROM models ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        data = json.loads(row["data"])
        data["id"] = row["id"]
        return data

    def get_features(self, digests: list[str], kind: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with self.connect() as con:
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                q = f"SELECT hash, vec FROM features WHERE kind = ? AND hash IN ({','.join('?' * len(chunk))})"
                out.update({r["hash"]: r["vec"] for r in con.execute(q, [kind, *chunk])})
        return out

    def put_features(self, vectors: dict[str, bytes], kind: str) -> None:
        if vectors:
            with self.write() as con:
                con.executemany("INSERT OR REPLACE INTO features (hash, kind, vec) VALUES (?, ?, ?)",
                                [(h, kind, v) for h, v in vectors.items()])


def open_db(root: Path, db: Path | None = None) -> DecisionDB:
    root = Path(root)
    return DecisionDB(Path(db) if db else root / DB_NAME, root)
