"""`belamy eval`: how close a run's images are to its corpus, and whether it copies it.

Always: SWD (×10³, per pyramid level and mean), the memorisation score, and the yardstick that sees
structure (belamy.metrics.yardstick: the classifier two-sample test and precision/recall/density/
coverage, each also on pictures averaged to 16², each with its real-vs-real floor). With a local
Inception-v3 file: FID and KID too. With a style classifier (`belamy classify train`): style
ambiguity and per-style shares of the generated images beside the same for the real paintings the
classifier held out, novelty (the median nearest-training-image distance relative to real-vs-real,
for both), and SWD to those held-out paintings. Each evaluation is appended to ``RUN/eval.jsonl``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from belamy.classify.store import Classifier, load_classifier
from belamy.corpus.store import Corpus, open_corpus
from belamy.errors import BelamyError
from belamy.generate.loader import load_generator
from belamy.metrics.ambiguity import heldout_paintings, style_figures, without_shared
from belamy.metrics.memorization import memorization
from belamy.metrics.swd import images_to_uint8_nchw, swd
from belamy.metrics.yardstick import split_paintings, yardstick_with_floor
from belamy.models.latents import check_seed
from belamy.trainer.data import fit_shape
from belamy.utils.atomic import append_jsonl
from belamy.utils.grid import check_finite, check_pictures

FAKE_SEED_BASE = 1_000_000  # generated images use seeds from here: never the seeds of a sample grid


def generate_for_eval(gen, n: int, batch: int = 32, seed: int = FAKE_SEED_BASE) -> torch.Tensor:
    """[n, 3, H, W] float 0..255 images; conditional models cycle through their classes."""
    out = []
    for start in range(0, n, batch):
        seeds = list(range(seed + start, seed + min(n, start + batch)))
        labels = None
        if gen.num_classes:
            labels = torch.arange(start, start + len(seeds), device=gen.device) % gen.num_classes
        out.append(images_to_uint8_nchw(gen.synthesize(gen.latents(seeds), labels=labels)))
    return torch.cat(out)


def evaluate_run(run: Path, corpus: Path | None = None, n: int = 1000, checkpoint: str = "latest",
                 inception: Path | None = None, device: str = "auto", seed: int = 0, write: bool = True,
                 inception_size: int = 299, classifier: Path | None = None) -> dict:
    """Metrics of ``run`` against ``corpus`` (default: the run's training corpus); the record (also
    appended to RUN/eval.jsonl) is returned."""
    if not 16 <= n <= 1_000_000:
        raise BelamyError(f"--n {n} is not valid", "use 16 to 1,000,000 images (1000 or more for stable figures)")
    check_seed(seed, "--seed")
    gen = load_generator(Path(run), checkpoint, device)
    clf = load_classifier(classifier, gen.device) if classifier is not None else None
    if corpus is None:
        corpus = (gen.meta.get("corpus") or gen.run_corpus() or {}).get("path")
        if not corpus:
            raise BelamyError(f"{run} does not say which corpus it was trained on", "pass --corpus CORPUS")
        try:
            data = open_corpus(corpus)
        except BelamyError as err:
            raise BelamyError(f"the run's training corpus cannot be opened: {err.message}", "pass --corpus CORPUS") from None
    else:
        data = open_corpus(corpus)
    started = time.perf_counter()
    with torch.inference_mode():
        fakes = generate_for_eval(gen, n)
    # A model that draws NaN or one flat colour has nothing to measure: say why instead of scoring it.
    check_pictures(check_finite(fakes).permute(0, 2, 3, 1).to(torch.uint8).numpy())
    height, width = fakes.shape[2:]
    reals_all = fit_shape(data.images, int(height), int(width))
    count = min(n, len(reals_all))
    pick = np.sort(np.random.default_rng(seed).permutation(len(reals_all))[:count])
    reals = reals_all[pick]
    record: dict = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "checkpoint": gen.checkpoint_path.name,
        "kimg": gen.kimg, "corpus": str(corpus), "n_fake": n, "n_real": count,
    }
    record.update({k: round(v, 4) for k, v in swd(reals, fakes[:count], seed=seed).items()})
    mem = memorization(fakes, reals_all)
    record.update({"memorization_median": round(mem.median_ratio, 4), "memorization_copies": round(mem.fraction_copies, 4),
                   "memorization_threshold": mem.threshold})
    record["novelty"] = round(mem.median_ratio, 4)
    record.update(_yardstick_record(reals_all, fakes, seed))
    if clf is not None:
        record.update(_style_record(clf, fakes, data, reals_all, seed))
    if inception is not None:
        from belamy.metrics.fid import (
            fid_from_features,
            inception_features,
            kid_from_features,
            load_inception,
        )

        net = load_inception(inception, gen.device, input_size=inception_size)
        fa, fb = inception_features(net, reals), inception_features(net, fakes)
        record["fid"] = round(fid_from_features(fa, fb), 4)
        record["kid_x1e3"] = round(kid_from_features(fa, fb, subset_size=min(1000, len(fa), len(fb))) * 1e3, 4)
    record["seconds"] = round(time.perf_counter() - started, 2)
    if write:
        append_jsonl(Path(gen.run_dir) / "eval.jsonl", record)
    return record


def _yardstick_record(paintings: np.ndarray, fakes: torch.Tensor, seed: int) -> dict:
    """Two-sample test and PRDC on four disjoint quarters of the paintings: the test learns on quarter A
    against generated pictures and is scored on quarter C against fresh ones; for the floor, quarters B
    and D stand in for the generated pictures."""
    size = min(len(paintings) // 4, len(fakes) // 2)
    if size < 8:
        return {}
    a, b, c, d = (np.asarray(paintings[i]) for i in split_paintings(len(paintings), 4, size, seed))
    record = yardstick_with_floor(a, c, fakes[: 2 * size], np.concatenate([b, d]), seed)
    return {"yardstick_set": size, **{k: round(v, 4) for k, v in record.items()}}


def _style_record(clf: Classifier, fakes: torch.Tensor, training: Corpus, training_images: np.ndarray, seed: int) -> dict:
    """The classifier's view of the generated images, beside the real paintings it never saw."""
    held_corpus, held = heldout_paintings(clf)
    held_images = np.asarray(held_corpus.images[held])
    record: dict = {"classifier": str(clf.path), "classifier_accuracy": clf.info.get("accuracy"),
                    "n_heldout": len(held)}
    record.update(style_figures(clf, fakes))
    record.update(style_figures(clf, held_images, prefix="heldout_"))
    height, width = int(fakes.shape[2]), int(fakes.shape[3])
    held_fit = fit_shape(held_images, height, width)
    bank = without_shared(training, held_corpus, held)
    if len(bank) >= 2:
        record["heldout_novelty"] = round(memorization(held_fit, training_images[bank]).median_ratio, 4)
    count = min(len(fakes), len(held_fit))
    if count >= 2:
        record["swd_heldout"] = round(swd(held_fit[:count], fakes[:count], seed=seed)["swd"], 4)
    return record
