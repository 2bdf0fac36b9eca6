"""Style posteriors of candidates: which known styles a work resembles, and how ambiguous it is.

The posterior comes from the classifier given to `belamy studio --classifier` when there is one, else,
for a work of a CAN run (`belamy train --loss can`), from the style head its discriminator learned.
Each is computed once per (work, source) and kept in the decisions database.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from belamy.curate.db import Candidate, DecisionDB
from belamy.curate.features import find_checkpoint
from belamy.utils.imageio import file_sha256, open_rgb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS style_posteriors (
    hash TEXT NOT NULL, source TEXT NOT NULL, names TEXT NOT NULL, probs TEXT NOT NULL, ambiguity REAL NOT NULL,
    PRIMARY KEY (hash, source)
);
"""
BATCH = 64
RUN_SOURCES_KEPT = 3


class _Source:
    """Something that names styles: ``key`` identifies it in the database, ``posterior`` gives [N, K] probabilities."""

    def __init__(self, key: str, names: list[str], posterior):
        self.key, self.names, self.posterior = key, names, posterior


class StylePosteriors:
    def __init__(self, root: Path, db: DecisionDB, classifier: Path | None = None, device: str = "cpu"):
        self.root, self.db, self.device = Path(root).resolve(), db, device
        self._lock = threading.Lock()  # one computation at a time (the models are not re-entrant)
        self._run_sources: OrderedDict[str, _Source | None] = OrderedDict()  # by checkpoint, most recent last
        self._classifier: _Source | None = None
        if classifier is not None:
            from belamy.classify.store import WEIGHTS, load_classifier

            clf = load_classifier(classifier, device)  # a bad path stops the studio at start, in one line
            key = "classifier:" + file_sha256(clf.path / WEIGHTS)[:16]
            self._classifier = _Source(key, clf.names, clf.posterior)
        with db.connect() as con:
            con.executescript(_SCHEMA)

    def _source(self, c: Candidate) -> _Source | None:
        if self._classifier is not None:
            return self._classifier
        if not c.checkpoint_sha256:
            return None
        sha = c.checkpoint_sha256
        if sha not in self._run_sources:
            ckpt = find_checkpoint(c.provenance, [self.root], confine=self.root)
            self._run_sources[sha] = _run_source(ckpt, "run:" + sha[:16], self.device) if ckpt else None
            loaded = [k for k, v in self._run_sources.items() if v is not None]
            for old in loaded[:-RUN_SOURCES_KEPT]:  # a discriminator each: keep a few in memory
                del self._run_sources[old]
        self._run_sources.move_to_end(sha)
        return self._run_sources[sha]

    def _stored(self, hashes: list[str]) -> dict[str, dict]:
        if not hashes:
            return {}
        found: dict[str, dict] = {}
        with self.db.connect() as con:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start : start + 500]
                for row in con.execute(f"SELECT * FROM style_posteriors WHERE hash IN ({','.join('?' * len(chunk))})", chunk):
                    found[(row["hash"], row["source"])] = {"names": json.loads(row["names"]), "probs": json.loads(row["probs"]),
                                                           "ambiguity": row["ambiguity"]}
        return found

    def posteriors(self, candidates: list[Candidate]) -> dict[str, dict]:
        """``{hash: {"names", "probs", "ambiguity"}}`` for the candidates that have a style source."""
        from belamy.classify.store import normalized_entropy

        with self._lock:
            sources = {c.hash: self._source(c) for c in candidates}
            stored = self._stored([h for h, s in sources.items() if s is not None])
            out = {h: stored[(h, s.key)] for h, s in sources.items() if s is not None and (h, s.key) in stored}
            missing: dict[str, list[Candidate]] = {}
            for c in candidates:
                source = sources[c.hash]
                if source is not None and c.hash not in out and (self.root / c.path).is_file():
                    missing.setdefault(source.key, []).append(c)
            for todo in missing.values():
                source = sources[todo[0].hash]
                for start in range(0, len(todo), BATCH):
                    chunk = todo[start : start + BATCH]
                    readable, images = [], []
                    for c in chunk:
                        try:
                            images.append(np.asarray(open_rgb(self.root / c.path)))
                            readable.append(c)
                        except Exception:  # a broken or vanished file: no posterior, the rest still get theirs
                            continue
                    if not readable:
                        continue
                    probs = _posterior_of(source, images)
                    ambiguity = normalized_entropy(probs).tolist()
                    with self.db.connect() as con:
                        for c, p, a in zip(readable, probs.tolist(), ambiguity, strict=True):
                            row = {"names": source.names, "probs": [round(v, 4) for v in p], "ambiguity": round(a, 4)}
                            con.execute("INSERT OR REPLACE INTO style_posteriors VALUES (?, ?, ?, ?, ?)",
                                        (c.hash, source.key, json.dumps(row["names"]), json.dumps(row["probs"]), row["ambiguity"]))
                            out[c.hash] = row
            return out

    def attach(self, candidates: list[Candidate]) -> list[dict]:
        """The candidates as JSON, each with ``style`` (its posterior) or ``style: null``."""
        found = self.posteriors(candidates)
        return [{**c.to_json(), "style": found.get(c.hash)} for c in candidates]

    def most_ambiguous(self, set_name: str | None, limit: int, exclude: tuple[str, ...] = ()) -> list[Candidate]:
        """Undecided candidates, the most ambiguous style first; those with no posterior last, in file order."""
        skip = set(exclude)
        undecided = [c for c in self.db.candidates(set_name or None, decision="none") if c.hash not in skip]
        found = self.posteriors(undecided)
        undecided.sort(key=lambda c: -found[c.hash]["ambiguity"] if c.hash in found else 1.0)
        return undecided[:limit]


def _posterior_of(source: _Source, images: list[np.ndarray]) -> torch.Tensor:
    """Posteriors of images that may differ in size: grouped by shape, batched, put back in order."""
    out = torch.empty(len(images), len(source.names))
    by_shape: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    for idx in by_shape.values():
        out[idx] = source.posterior(np.stack([images[i] for i in idx]))
    return out


def _run_source(checkpoint_json: Path, key: str, device: str) -> _Source | None:
    """The style head of a CAN run's discriminator at this checkpoint; None for any other run."""
    from belamy.errors import BelamyError
    from belamy.gan.losses.can import RunStyleHead

    try:
        head = RunStyleHead(checkpoint_json, device)
    except (BelamyError, KeyError, ValueError, OSError):  # not a CAN run, or a checkpoint it cannot read
        return None
    return _Source(key, head.names, head.posterior)
