"""Held-out evaluation for the quality benches: a fixed four-fifths / one-fifth split of a corpus, and
scores of generated pictures against the fifth no model trained on.

The split orders the paintings by a hash of their content (the manifest's sha256), so the same
paintings are held out every time the corpus is rebuilt, on every machine. A model is scored by
SWD×10³ against the held-out fifth, averaged over K disjoint sets of generated pictures, each as
large as the held-out set (SWD compares equal-sized sets); the same estimator applied to K
random sets of *training* paintings gives real-vs-real: what a model that draws exactly the
training distribution would score. Beside it, the nearest-neighbour memorisation ratio of the
generated pictures against the training paintings (belamy.metrics.memorization), and the same
ratio for the held-out paintings: what an unseen painting, not a copy, scores. Then the yardstick
that sees structure (belamy.metrics.yardstick): a two-sample test trained on training paintings
against generated pictures and scored on the held-out paintings against fresh ones, and PRDC of the
held-out paintings against those; its floor puts unused training paintings in the generated ones'
place, on sets of the same sizes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from belamy.corpus.store import open_corpus
from belamy.metrics.memorization import memorization
from belamy.metrics.swd import as_float_nchw, swd
from belamy.metrics.yardstick import yardstick
from belamy.utils.atomic import write_json

FOLDS = 5
SETS = 8  # K: sets of generated (and of training) pictures per SWD figure: one set of n is a noisy estimate


def _order(manifest: list[dict]) -> list[int]:
    def key(i: int) -> str:
        record = manifest[i]
        ident = str(record.get("sha256") or record.get("source") or i)
        return hashlib.sha256(f"belamy-heldout:{ident}".encode()).hexdigest()

    return sorted(range(len(manifest)), key=key)


def _write_subset(corpus, indices: list[int], folder: Path, role: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", np.ascontiguousarray(corpus.images[indices]))
    with open(folder / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for new, old in enumerate(indices):
            fh.write(json.dumps({**corpus.manifest[old], "index": new}) + "\n")
    for name in ("rejects.jsonl", "duplicates.jsonl"):
        (folder / name).write_text("")
    info = {k: v for k, v in corpus.info.items() if k not in ("count", "duplicates", "read", "rejected")}
    write_json(folder / "corpus.json", {**info, "count": len(indices), "split": {"of": str(corpus.path), "role": role,
                                                                                  "folds": FOLDS}})


def split_corpus(corpus_path: Path, out: Path) -> tuple[Path, Path]:
    """OUT/train (four fifths) and OUT/heldout (one fifth) of the corpus at ``corpus_path``, written once."""
    train_dir, held_dir = out / "train", out / "heldout"
    if (train_dir / "corpus.json").exists() and (held_dir / "corpus.json").exists():
        return train_dir, held_dir
    corpus = open_corpus(corpus_path)
    order = _order(corpus.manifest)
    held_count = round(len(order) / FOLDS)
    _write_subset(corpus, sorted(order[held_count:]), train_dir, "train")
    _write_subset(corpus, sorted(order[:held_count]), held_dir, "heldout")
    return train_dir, held_dir


@dataclass
class HeldOutSplit:
    train: np.ndarray  # [N, H, W, 3] uint8
    heldout: np.ndarray

    @classmethod
    def open(cls, train_dir: Path, held_dir: Path) -> HeldOutSplit:
        return cls(np.array(open_corpus(train_dir).images), np.array(open_corpus(held_dir).images))

    @property
    def set_size(self) -> int:
        """n: pictures per SWD set: the held-out count (or the training count, if smaller)."""
        return min(len(self.heldout), len(self.train))

    @property
    def fakes_needed(self) -> int:
        return max(SETS * self.set_size, self.yardstick_fit + len(self.heldout))

    @property
    def yardstick_fit(self) -> int:
        """Pictures of each kind the two-sample test learns on: the training paintings left over once
        the floor has taken as many stand-ins again and a held-out-sized test set."""
        return (len(self.train) - len(self.heldout)) // 2

    def _yardstick_sets(self) -> tuple[np.ndarray, np.ndarray]:
        """Training paintings the two-sample test learns on, and the rest (the floor's stand-ins)."""
        order = np.random.default_rng(0).permutation(len(self.train))
        n = self.yardstick_fit
        return self.train[np.sort(order[:n])], self.train[np.sort(order[n:])]

    def yardstick(self, fakes: torch.Tensor, seed: int = 0) -> dict:
        """The two-sample test and PRDC of ``fakes`` against the held-out paintings (``seed``: the test's CNN)."""
        fit, _ = self._yardstick_sets()
        n = len(fit)
        return yardstick(fit, fakes[:n], self.heldout, fakes[n : n + len(self.heldout)], seed=seed)

    def yardstick_floor(self, seed: int = 0) -> dict:
        """The same with unused training paintings in the generated pictures' place."""
        return self.yardstick(self._yardstick_sets()[1], seed)

    def _swd_sets(self, sets: torch.Tensor, against) -> tuple[float, float]:
        n = self.set_size
        values = [swd(against[:n], sets[k * n : (k + 1) * n])["swd"] for k in range(SETS)]
        return float(np.mean(values)), float(np.std(values))

    def real_vs_real(self) -> dict:
        """The floor: K random sets of training paintings scored as if they were generated."""
        rng = np.random.default_rng(0)
        pick = np.concatenate([rng.permutation(len(self.train))[: self.set_size] for _ in range(SETS)])
        reals = as_float_nchw(self.train[pick])
        mean, sd = self._swd_sets(reals, as_float_nchw(self.heldout))
        mem = memorization(as_float_nchw(self.heldout), self.train)
        return {"swd_heldout": mean, "swd_heldout_sd": sd, "memorization_median": mem.median_ratio,
                "memorization_copies": mem.fraction_copies}

    def score(self, fakes: torch.Tensor) -> dict:
        """Generated pictures (float [M, 3, H, W] in 0..255, M ≥ fakes_needed) against the split."""
        fakes = fakes[: self.fakes_needed]
        mean, sd = self._swd_sets(fakes, as_float_nchw(self.heldout))
        train_mean, _ = self._swd_sets(fakes, as_float_nchw(self.train))
        mem = memorization(fakes, self.train)
        return {"swd_heldout": mean, "swd_heldout_sd": sd, "swd_train": train_mean,
                "memorization_median": mem.median_ratio, "memorization_copies": mem.fraction_copies}
