"""`belamy train PAIRS --arch pix2pix`: a task of the run loop, with held-out pairs, exact resume and portrait shapes;
then a sketch the test draws (a head and shoulders) is translated by the trained run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_portraits, write_corpus
from PIL import Image
from pix2pix_util import edge_pairs, head_and_shoulders
from safetensors.numpy import load_file

from belamy.errors import BelamyError
from belamy.gan import TrainOptions, train
from belamy.generate.translate import load_translator, translate
from belamy.provenance.embed import read_provenance
from belamy.utils.atomic import read_jsonl


def options(pairs: Path, out: Path, **overrides) -> TrainOptions:
    settings = dict(corpus=pairs, out=out, arch="pix2pix", res=32, kimg=0.128, batch=4, ngf=8, ndf=8,
                    tick_kimg=0.032, snapshot_ticks=2, grid_size=4, device="cpu", seed=1,
                    holdout=0.25)
    settings.update(overrides)
    return TrainOptions.of(**settings)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    return edge_pairs(tmp_path_factory.mktemp("pairs"), n=32, size=32)


@pytest.fixture(scope="module")
def trained(pairs: Path, tmp_path_factory) -> Path:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(options(pairs, tmp_path_factory.mktemp("run") / "run", kimg=0.384,
                             holdout=0.25, fm_weight=1.0)).run_dir
    finally:
        torch.set_num_threads(threads)


def test_a_pix2pix_run_learns_and_shows_held_out_pairs(trained: Path, pairs: Path):
    run = json.loads((trained / "run.json").read_text())
    assert run["arch"] == "pix2pix" and run["model"]["condition"] == "edges"
    held_out = run["holdout"]["indices"]
    assert len(held_out) == 8  # 25% of 32
    metrics = read_jsonl(trained / "metrics.jsonl")
    first, last = metrics[0], metrics[-1]
    assert {"loss_G", "loss_G_l1", "loss_G_fm", "loss_D", "holdout_l1"} <= set(last)
    assert last["holdout_l1"] < first["holdout_l1"]  # it learns to paint pairs it never saw
    grids = sorted((trained / "samples").glob("grid-*.png"))
    assert len(grids) >= 2
    grid = np.asarray(Image.open(grids[-1]))
    # 4 held-out pairs as rows of condition | output | real (32² tiles, 2 px gutters).
    assert grid.shape == (4 * 34 + 2, 3 * 34 + 2, 3)
    from belamy.corpus.pairs import open_pairs

    p = open_pairs(pairs)
    first_pair = held_out[0]
    assert np.array_equal(grid[2:34, 2:34], np.asarray(p.conditions[first_pair]))
    assert np.array_equal(grid[2:34, 70:102], np.asarray(p.corpus.images[first_pair]))
    assert (trained / "checkpoints" / "best.json").is_file()  # kept by the held-out L1


def test_resume_goes_on_exactly(pairs: Path, tmp_path: Path, one_torch_thread):
    straight = train(options(pairs, tmp_path / "straight", kimg=0.064)).run_dir
    part = options(pairs, tmp_path / "parts", kimg=0.032)
    train(part)
    resumed = train(options(pairs, tmp_path / "parts", kimg=0.064, resume=True)).run_dir
    a = load_file(str(straight / "checkpoints" / "ckpt-000000064.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "ckpt-000000064.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_translate_a_drawn_head_and_shoulders(trained: Path, pairs: Path, tmp_path: Path):
    head_and_shoulders(128).save(tmp_path / "head.png")  # drawn larger than the model: fitted as in training
    report = translate(trained, [tmp_path / "head.png"], tmp_path / "out", side_by_side=True, device="cpu")
    out = np.asarray(Image.open(report.written[0]))
    condition, painting = out[:, :32], out[:, 36:]
    assert condition.shape == painting.shape == (32, 32, 3)
    assert (condition < 128).any() and (condition == 255).mean() > 0.5
    prov = read_provenance(report.written[0])
    assert prov["run"] == str(trained.resolve()) and prov["corpus"]["kind"] == "pairs"
    # It paints like the corpus: its colours are closer to the paintings' than an untrained model's are.
    from belamy.corpus.pairs import open_pairs

    mean_colour = np.asarray(open_pairs(pairs).corpus.images).reshape(-1, 3).mean(axis=0)
    first = load_translator(sorted((trained / "checkpoints").glob("ckpt-*.json"))[0], device="cpu")
    tr = load_translator(trained, device="cpu")
    sketch = tr.prepare(head_and_shoulders(128))[None]
    untrained_gap = np.abs(first.render(sketch).reshape(-1, 3).mean(axis=0) - mean_colour).mean()
    trained_gap = np.abs(tr.render(sketch).reshape(-1, 3).mean(axis=0) - mean_colour).mean()
    assert trained_gap < untrained_gap


def test_portrait_pairs_train_in_their_shape(tmp_path: Path, one_torch_thread):
    from belamy.corpus.pairs import build_pairs_from_folders

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i, img in enumerate(synthetic_portraits(6, 64)):
        Image.fromarray(img).resize((64, 80)).save(b / f"{i}.png")
        head_and_shoulders(80, 64).save(a / f"{i}.png")
    build_pairs_from_folders(a, b, tmp_path / "pairs", size=32, aspect="4:5")
    run = train(options(tmp_path / "pairs", tmp_path / "run", kimg=0.016, tick_kimg=0.016, snapshot_ticks=1,
                        holdout=0.2)).run_dir
    tr = load_translator(run, device="cpu")
    assert tr.shape == (40, 32)
    grid = np.asarray(Image.open(sorted((run / "samples").glob("grid-*.png"))[-1]))
    assert grid.shape[:2] == (40 + 4, 3 * 34 + 2)  # one held-out pair: a row of 32×40 pictures


def test_a_plain_corpus_is_refused_with_the_fix(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus", synthetic_portraits(8, 32))
    with pytest.raises(BelamyError, match="make pairs from it first"):
        train(options(corpus, tmp_path / "run"))
    env = {**os.environ, "BELAMY_QUIET": "1"}
    done = subprocess.run([sys.executable, "-m", "belamy", "train", str(corpus), "--arch", "pix2pix", "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "corpus pairs" in done.stdout + done.stderr
