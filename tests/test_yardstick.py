"""The yardstick beside SWD: the classifier two-sample test and precision/recall/density/coverage on
random features, each also on 16² low-passed pictures. Paintings against paintings read as paintings;
paintings against noise or flat colour as far apart as each measure goes; `belamy eval` reports all
of them with their real-vs-real floors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_CORPORA, random_run

from belamy.corpus.build import build_corpus
from belamy.corpus.store import open_corpus
from belamy.metrics.prdc import prdc
from belamy.metrics.two_sample import two_sample_test
from belamy.metrics.yardstick import split_paintings


@pytest.fixture(scope="module")
def paintings_corpus(tmp_path_factory) -> Path:
    """120 real portrait paintings at 32²."""
    out = tmp_path_factory.mktemp("yardstick") / "corpus"
    build_corpus(SHARED_CORPORA / "portraits", out, size=32, workers=1, limit=120)
    return out


@pytest.fixture(scope="module")
def quarters(paintings_corpus: Path) -> list[np.ndarray]:
    images = np.asarray(open_corpus(paintings_corpus).images)
    return [images[i] for i in split_paintings(len(images), 4, len(images) // 4)]


def test_two_sets_of_the_same_paintings_score_as_paintings(quarters):
    a, b, c, d = quarters
    test = two_sample_test(a, b, c, d, seed=0)
    assert 0.25 < test["auc"] < 0.75 and 0.25 < test["accuracy"] < 0.75, test
    assert two_sample_test(a, b, c, d, seed=3, steps=20) == two_sample_test(a, b, c, d, seed=3, steps=20)  # by seed
    low = two_sample_test(a, b, c, d, seed=0, structure=True)
    assert 0.25 < low["auc"] < 0.75, low
    for structure in (False, True):
        pr = prdc(c, d, seed=0, structure=structure)
        assert pr["precision"] > 0.6 and pr["recall"] > 0.6 and pr["coverage"] > 0.6, pr


def test_paintings_against_noise_or_flat_colour_are_as_far_apart_as_it_goes(quarters):
    a, _, c, _ = quarters
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (2 * len(a), *a.shape[1:]), dtype=np.uint8)
    flat = np.broadcast_to(rng.integers(0, 256, (2 * len(a), 1, 1, 3), dtype=np.uint8), noise.shape).copy()
    for fakes in (noise, flat):
        test = two_sample_test(a, fakes[: len(a)], c, fakes[len(a) :], seed=0)
        assert test["auc"] > 0.95 and test["accuracy"] > 0.9, test
        pr = prdc(c, fakes[len(a) :], seed=0)
        assert pr["precision"] <= 0.15 and pr["density"] < 0.1 and pr["coverage"] < 0.1, pr
    # Recall is the one that flat colours fool (their wide k-NN balls take in paintings: the outlier
    # weakness Naeem et al. name); noise it sees.
    assert prdc(c, noise[len(a) :], seed=0)["recall"] < 0.1
    structure = two_sample_test(a, noise[: len(a)], c, noise[len(a) :], seed=0, structure=True)
    assert structure["auc"] > 0.95, structure


def test_eval_reports_the_yardstick_with_real_vs_real_floors(paintings_corpus: Path, tmp_path: Path):
    run = random_run(tmp_path / "run", arch="dcgan", res=32, ngf=8, ndf=8, nz=16)
    argv = [sys.executable, "-m", "belamy", "eval", str(run), "--corpus", str(paintings_corpus), "--n", "64",
            "--device", "cpu"]
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "two_sample_auc" in result.stderr and "precision_lowpass" in result.stderr
    record = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    assert record["yardstick_set"] == 30
    # Random weights draw nothing like a portrait; paintings against paintings sit near chance.
    assert record["two_sample_auc"] > 0.9 and record["precision"] < 0.2
    assert abs(record["two_sample_auc_floor"] - 0.5) < 0.25 and record["precision_floor"] > 0.6
    for key in ("two_sample_auc_lowpass", "recall", "density", "coverage", "coverage_lowpass_floor"):
        assert key in record, key
