"""The learned taste: L2-regularised logistic regression on image features, trained from decisions.

Two heads share one model: a ``colour`` head that can score any image, and (when the decided
candidates come from a checkpoint that is still on disk) a ``disc`` head on the discriminator's
penultimate features plus the colour features, used for candidates of that same checkpoint.
Held-out accuracy comes from stratified k-fold cross-validation.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from belamy.curate.db import Candidate, DecisionDB
from belamy.curate.features import COLOUR, DiscriminatorCache, colour_features_of, find_checkpoint
from belamy.errors import BelamyError

MIN_PER_CLASS = 2  # fewer keeps (or rejects) than this and there is nothing to learn yet


@dataclass
class LogisticRegression:
    """p(keep | x) = sigmoid(w · standardise(x) + b)."""

    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    b: float
    l2: float = 1.0

    def decision(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.std) @ self.w + self.b

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.decision(X), -40, 40)))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "w": self.w.tolist(), "b": self.b, "l2": self.l2}

    @classmethod
    def from_json(cls, data: dict) -> LogisticRegression:
        return cls(np.asarray(data["mean"]), np.asarray(data["std"]), np.asarray(data["w"]), float(data["b"]),
                   float(data.get("l2", 1.0)))


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, balanced: bool = True) -> LogisticRegression:
    """Minimise the (class-balanced) mean log-loss + l2/(2n)·|w|² with L-BFGS, on standardised features.

    Balancing matters: a curator may keep one image in ten, and an unbalanced model would learn
    "reject everything" and still be 90% right.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise BelamyError("no decisions to learn from", "keep and reject a few candidates first")
    mean = X.mean(0)
    std = X.std(0)
    std = np.where(std < 1e-8, 1.0, std)
    Xs = torch.from_numpy((X - mean) / std)
    yt = torch.from_numpy(y)
    n_pos, n = y.sum(), len(y)
    if balanced and 0 < n_pos < n:
        weights = torch.where(yt > 0.5, n / (2 * n_pos), n / (2 * (n - n_pos)))
    else:
        weights = torch.ones_like(yt)
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=200, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = Xs @ w + b
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none") * weights).mean()
        loss = loss + l2 / (2 * n) * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LogisticRegression(mean, std, w.detach().numpy().copy(), float(b.detach()), l2)


def kfold_accuracy(X: np.ndarray, y: np.ndarray, l2: float = 1.0, k: int = 5, seed: int = 0) -> float | None:
    """Stratified k-fold held-out accuracy (each image predicted by a model that never saw it)."""
    y = np.asarray(y)
    counts = np.bincount(y.astype(int), minlength=2)
    if counts.min() < MIN_PER_CLASS:
        return None
    k = int(min(k, counts.min()))
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % k
    correct = 0
    for f in range(k):
        train, test = fold != f, fold == f
        model = fit_logistic(X[train], y[train], l2)
        correct += int(((model.predict_proba(X[test]) >= 0.5) == (y[test] == 1)).sum())
    return correct / len(y)


# ----------------------------------------------------------------------------- features with a cache


class FeatureSource:
    """Features of candidate images, cached in the decisions database by (hash, kind)."""

    def __init__(self, root: Path, db: DecisionDB | None = None, discriminators: DiscriminatorCache | None = None,
                 confine: bool = False):
        self.root = Path(root)
        self.confine = self.root if confine else None
        self.db = db
        self.discriminators = discriminators or DiscriminatorCache()

    def path_of(self, c: Candidate) -> Path:
        return self.root / c.path

    def colour(self, items: Sequence[Candidate]) -> np.ndarray:
        return self._cached(items, COLOUR, lambda batch: np.stack([colour_features_of(self.path_of(c)) for c in batch]))

    def disc(self, items: Sequence[Candidate], checkpoint_json: Path, sha: str) -> np.ndarray:
        from belamy.utils.imageio import open_rgb

        D = self.discriminators.get(checkpoint_json)
        raw = self._cached(items, f"disc:{sha}", lambda batch: D.features([open_rgb(self.path_of(c)) for c in batch]))
        return np.concatenate([raw, self.colour(items)], axis=1)

    def _cached(self, items: Sequence[Candidate], kind: str, compute) -> np.ndarray:
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        stored = self.db.get_features([c.hash for c in items], kind) if self.db else {}
        missing = [c for c in items if c.hash not in stored]
        fresh: dict[str, bytes] = {}
        for start in range(0, len(missing), 64):
            batch = missing[start : start + 64]
            vectors = np.asarray(compute(batch), dtype=np.float32)
            fresh.update({c.hash: v.tobytes() for c, v in zip(batch, vectors, strict=True)})
        if self.db and fresh:
            self.db.put_features(fresh, kind)
        stored.update(fresh)
        return np.stack([np.frombuffer(stored[c.hash], dtype=np.float32) for c in items])

    def checkpoint_for(self, c: Candidate) -> Path | None:
        return find_checkpoint(c.provenance, [self.root], confine=self.confine)


# ----------------------------------------------------------------------------- the model


@dataclass
class PreferenceModel:
    colour: LogisticRegression
    accuracy: dict = field(default_factory=dict)  # head -> held-out accuracy (None when too few decisions)
    n: int = 0
    n_keep: int = 0
    disc: LogisticRegression | None = None
    disc_checkpoint_sha256: str | None = None
    created: float = field(default_factory=time.time)
    id: int | None = None

    @property
    def held_out_accuracy(self) -> float | None:
        """The accuracy of the head used for most candidates: disc when there is one, else colour."""
        return self.accuracy.get("disc") if self.disc is not None else self.accuracy.get("colour")

    def to_json(self) -> dict:
        return {
            "format": "belamy-preference", "version": 1, "colour": self.colour.to_json(), "accuracy": self.accuracy,
            "n": self.n, "n_keep": self.n_keep, "created": self.created,
            "disc": self.disc.to_json() if self.disc else None, "disc_checkpoint_sha256": self.disc_checkpoint_sha256,
        }

    @classmethod
    def from_json(cls, data: dict) -> PreferenceModel:
        if data.get("format") != "belamy-preference":
            raise BelamyError("stored taste model is not a belamy preference model", "retrain it in the studio")
        return cls(
            colour=LogisticRegression.from_json(data["colour"]), accuracy=data.get("accuracy", {}),
            n=data.get("n", 0), n_keep=data.get("n_keep", 0),
            disc=LogisticRegression.from_json(data["disc"]) if data.get("disc") else None,
            disc_checkpoint_sha256=data.get("disc_checkpoint_sha256"), created=data.get("created", 0.0), id=data.get("id"),
        )

    def score(self, items: Sequence[Candidate], features: FeatureSource) -> np.ndarray:
        """p(keep) for each candidate: the disc head for candidates of its checkpoint, the colour head otherwise."""
        if not items:
            return np.zeros(0)
        p = self.colour.predict_proba(features.colour(items))
        if self.disc is not None:
            mine = [i for i, c in enumerate(items) if c.checkpoint_sha256 == self.disc_checkpoint_sha256]
            ckpt = features.checkpoint_for(items[mine[0]]) if mine else None
            if ckpt is not None:
                sub = [items[i] for i in mine]
                p[mine] = self.disc.predict_proba(features.disc(sub, ckpt, self.disc_checkpoint_sha256))
        return p


def train_preference(db: DecisionDB, features: FeatureSource, l2: float = 1.0) -> PreferenceModel | None:
    """Learn the taste from every decision so far; None until there are a few keeps and a few rejects."""
    decided = db.decisions()
    decided = [(c, label) for c, label in decided if features.path_of(c).is_file()]
    y = np.array([label for _, label in decided], dtype=np.int64)
    if len(y) == 0 or min(int(y.sum()), int(len(y) - y.sum())) < MIN_PER_CLASS:
        return None
    items = [c for c, _ in decided]
    Xc = features.colour(items)
    model = PreferenceModel(colour=fit_logistic(Xc, y, l2), n=len(y), n_keep=int(y.sum()))
    model.accuracy["colour"] = kfold_accuracy(Xc, y, l2)
    # A discriminator head for the checkpoint most decisions come from, when it is on disk.
    shas = Counter(c.checkpoint_sha256 for c in items if c.checkpoint_sha256)
    for sha, _ in shas.most_common(1):
        idx = [i for i, c in enumerate(items) if c.checkpoint_sha256 == sha]
        ckpt = features.checkpoint_for(items[idx[0]])
        sub_y = y[idx]
        if ckpt is None or min(int(sub_y.sum()), int(len(sub_y) - sub_y.sum())) < MIN_PER_CLASS:
            break
        try:
            Xd = features.disc([items[i] for i in idx], ckpt, sha)
        except BelamyError:
            break
        model.disc = fit_logistic(Xd, sub_y, l2)
        model.disc_checkpoint_sha256 = sha
        model.accuracy["disc"] = kfold_accuracy(Xd, sub_y, l2)
    return model


def load_latest(db: DecisionDB) -> PreferenceModel | None:
    data = db.latest_model()
    return PreferenceModel.from_json(data) if data else None


def retrain_and_score(db: DecisionDB, features: FeatureSource, l2: float = 1.0) -> PreferenceModel | None:
    """Train, store the model, and score every undecided candidate (for the curate page's order)."""
    model = train_preference(db, features, l2)
    if model is None:
        return None
    model.id = db.save_model(model.to_json())
    todo = [c for c in db.candidates(decision="none") if features.path_of(c).is_file()]
    if todo:
        db.put_scores(dict(zip([c.hash for c in todo], model.score(todo, features).tolist(), strict=True)), model.id)
    return model
