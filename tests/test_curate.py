"""Curation: the decisions database, the learned taste, rankings, and the 2-D map."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_portraits, tiny_train_options, write_corpus

from belamy.curate.db import DecisionDB, open_db
from belamy.curate.features import colour_features
from belamy.curate.layout import layout_2d, tsne
from belamy.curate.preference import (
    FeatureSource,
    fit_logistic,
    kfold_accuracy,
    retrain_and_score,
    train_preference,
)
from belamy.curate.rank import generate_curated, rank_folder
from belamy.errors import BelamyError
from belamy.provenance import Record
from belamy.provenance.embed import read_provenance, save_png
from belamy.utils.imageio import file_sha256

REPO = Path(__file__).resolve().parents[1]


def painting(rng: np.random.Generator, warm: bool, size: int = 32) -> np.ndarray:
    """A little 'painting' in warm (reds, ochres) or cool (blues, greens) tones, with random light and layout."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    hue = rng.uniform(-0.05, 0.12) if warm else rng.uniform(0.45, 0.68)
    light = rng.uniform(0.35, 0.9)

    def colour(h: float, s: float, v: float) -> np.ndarray:
        k = (np.array([5, 3, 1]) + (h % 1) * 6) % 6
        return 255 * v * (1 - s * np.clip(np.minimum(k, 4 - k), 0, 1))

    top, bottom = colour(hue, 0.6, light), colour(hue + rng.uniform(-0.04, 0.04), 0.7, light * 0.5)
    img = top * (1 - yy[..., None]) + bottom * yy[..., None]
    cx, cy, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
    blob = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    img[blob] = colour(hue + rng.uniform(-0.06, 0.06), rng.uniform(0.3, 0.8), min(1.0, light * 1.2))
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def write_candidates(folder: Path, n: int, seed: int = 0, start: int = 0) -> list[tuple[Path, bool]]:
    """Alternating warm / cool PNGs with generator-like provenance (no checkpoint on disk)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        warm = i % 2 == 0
        path = folder / f"{'warm' if warm else 'cool'}-{i:04d}.png"
        save_png(painting(rng, warm), path, {"generator": "belamy", "run": "runs/nowhere", "seed": i,
                                              "checkpoint": "ckpt-000000064.safetensors", "checkpoint_sha256": "0" * 64})
        out.append((path, warm))
    return out


@pytest.fixture
def studio_root(tmp_path: Path) -> Path:
    root = tmp_path / "studio"
    write_candidates(root / "candidates" / "a", 30)
    return root


def scanned(root: Path) -> DecisionDB:
    db = open_db(root)
    db.scan(root / "candidates" / "a")
    return db


# ----------------------------------------------------------------------------- decisions database


def test_candidates_are_keyed_by_content_and_link_to_their_seed(studio_root: Path):
    db = scanned(studio_root)
    copy_dir = studio_root / "candidates" / "b"
    copy_dir.mkdir()
    first = sorted((studio_root / "candidates" / "a").iterdir())[0]
    shutil.copy(first, copy_dir / "same-picture.png")
    db.scan(copy_dir)
    assert len(db.candidates()) == 30  # the copy is the same candidate, not a second one
    c = db.candidate(file_sha256(first))
    assert c.seed == Record.from_dict(read_provenance(first)).seed
    assert c.checkpoint == "ckpt-000000064.safetensors" and c.run == "runs/nowhere"


def test_a_rescan_forgets_deleted_undecided_files_but_keeps_decisions(studio_root: Path):
    db = scanned(studio_root)
    files = sorted((studio_root / "candidates" / "a").iterdir())
    db.decide(file_sha256(files[0]), "keep", "t")
    gone = [file_sha256(p) for p in files[:2]]
    for p in files[:2]:
        p.unlink()
    db.scan(studio_root / "candidates" / "a")
    assert db.candidate(gone[0]).decision == "keep" and db.candidate(gone[1]) is None
    assert db.sets()[0]["total"] == 29


def test_decisions_survive_a_reopen_and_a_second_decision_updates(studio_root: Path):
    db = scanned(studio_root)
    h = db.candidates()[0].hash
    db.decide(h, "keep", "tab-a")
    db.decide(h, "reject", "tab-b")
    again = open_db(studio_root)
    assert [(c.hash, label) for c, label in again.decisions()] == [(h, 0)]
    assert again.sets()[0] == {"name": "a", "total": 30, "kept": 0, "rejected": 1, "left": 29}
    assert (studio_root / "belamy-studio.sqlite").exists()


def test_a_killed_process_loses_no_committed_decision(studio_root: Path):
    db = scanned(studio_root)
    hashes = [c.hash for c in db.candidates()[:5]]
    script = textwrap.dedent(f"""
        import os, signal
        from belamy.curate.db import open_db
        db = open_db({str(studio_root)!r})
        for h in {hashes!r}:
            db.decide(h, "keep", "tab")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert sorted(c.hash for c, _ in open_db(studio_root).decisions()) == sorted(hashes)


def test_undo_takes_back_only_this_tabs_own_last_decision(studio_root: Path):
    db = scanned(studio_root)
    h1, h2, h3 = (c.hash for c in db.candidates()[:3])
    db.decide(h1, "keep", "tab-a")
    db.decide(h2, "reject", "tab-a")
    db.decide(h3, "keep", "tab-b")
    assert db.undo("tab-a") == {"hash": h2, "restored": True}
    assert db.candidate(h2).decision is None and db.candidate(h3).decision == "keep"
    # tab-b re-decides h1 after tab-a: tab-a's undo must not wipe tab-b's decision.
    db.decide(h1, "reject", "tab-b")
    assert db.undo("tab-a") == {"hash": h1, "restored": False}
    assert db.candidate(h1).decision == "reject"
    assert db.undo("tab-a") is None
    # Undo of a change restores the earlier decision.
    db.decide(h3, "reject", "tab-c")
    db.undo("tab-c")
    assert db.candidate(h3).decision == "keep"


def test_next_candidates_skip_decided_ones_and_follow_the_chosen_order(studio_root: Path):
    db = scanned(studio_root)
    every = db.candidates()
    db.decide(every[0].hash, "keep", "t")
    db.put_scores({every[1].hash: 0.51, every[2].hash: 0.99, every[3].hash: 0.02}, model_id=1)
    assert every[0].hash not in [c.hash for c in db.next_candidates(limit=50)]
    assert [c.hash for c in db.next_candidates(mode="uncertain", limit=1)] == [every[1].hash]
    assert [c.hash for c in db.next_candidates(mode="likely", limit=1)] == [every[2].hash]
    assert [c.hash for c in db.next_candidates(mode="order", limit=2, exclude=(every[1].hash,))] == [every[2].hash, every[3].hash]
    with pytest.raises(BelamyError):
        db.next_candidates(mode="random")
    with pytest.raises(BelamyError):
        db.decide(every[1].hash, "maybe", "t")


def test_a_damaged_database_is_a_clear_error(tmp_path: Path):
    (tmp_path / "belamy-studio.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BelamyError, match="decisions database"):
        open_db(tmp_path)


# ----------------------------------------------------------------------------- features and the model


def test_colour_features_tell_warm_from_cool():
    from PIL import Image

    rng = np.random.default_rng(1)
    warm = np.stack([colour_features(Image.fromarray(painting(rng, True))) for _ in range(20)])
    cool = np.stack([colour_features(Image.fromarray(painting(rng, False))) for _ in range(20)])
    assert warm.shape == cool.shape and warm.dtype == np.float32 and np.isfinite(warm).all()
    warmth = 9  # index of the Lab a*+b* warmth figure
    assert warm[:, warmth].min() > cool[:, warmth].max()


def test_logistic_regression_generalises_and_l2_shrinks_the_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 10))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = fit_logistic(X[:80], y[:80], l2=1.0)
    assert ((model.predict_proba(X[80:]) >= 0.5) == y[80:]).mean() >= 0.9
    assert kfold_accuracy(X, y) >= 0.9
    strong = fit_logistic(X[:80], y[:80], l2=500.0)
    assert np.abs(strong.w).sum() < np.abs(model.w).sum()
    assert kfold_accuracy(X[:3], np.array([1, 0, 0])) is None  # one keep: nothing to validate on


def test_the_taste_is_learned_from_decisions_and_ranks_a_held_out_folder(studio_root: Path, tmp_path: Path):
    db = scanned(studio_root)
    for c in db.candidates():
        db.decide(c.hash, "keep" if c.path.split("/")[-1].startswith("warm") else "reject", "t")
    model = retrain_and_score(db, FeatureSource(studio_root, db))
    assert model is not None and model.n == 30 and model.n_keep == 15
    assert model.held_out_accuracy >= 0.9
    held_out = write_candidates(tmp_path / "held-out", 20, seed=99, start=1000)
    result = rank_folder(tmp_path / "held-out", by="preference", top=5, out=tmp_path / "best",
                         db=studio_root / "belamy-studio.sqlite")
    warm_of = {p.name: w for p, w in held_out}
    ranked = [warm_of[p.name] for p, _ in result.ranking]
    assert all(ranked[:8])  # the warm ones come first
    accuracy = np.mean([(s >= 0.5) == warm_of[p.name] for p, s in result.ranking])
    assert accuracy >= 0.9
    assert sorted(p.name for p in (tmp_path / "best").glob("*.png")) == sorted(p.name for p in result.selected)
    assert len(result.selected) == 5
    rows = list(csv.DictReader(open(result.csv_path)))
    assert len(rows) == 20 and [r["rank"] for r in rows[:3]] == ["1", "2", "3"]
    assert sum(int(r["selected"]) for r in rows) == 5 and rows[0]["seed"] != ""


def test_no_taste_yet_is_a_clear_error(studio_root: Path, tmp_path: Path):
    db = scanned(studio_root)
    db.decide(db.candidates()[0].hash, "keep", "t")
    assert train_preference(db, FeatureSource(studio_root, db)) is None
    with pytest.raises(BelamyError, match="no taste learned yet"):
        rank_folder(studio_root / "candidates" / "a", out=tmp_path / "sel", db=studio_root / "belamy-studio.sqlite")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAMY_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, env=env, cwd=REPO)


def test_rank_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    for args, message in [
        ((str(tmp_path / "missing"), "--out", str(tmp_path / "o")), "no folder of candidates"),
        ((str(tmp_path / "empty"), "--out", str(tmp_path / "o")), "holds no images"),
    ]:
        proc = run_cli("rank", *args)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    write_candidates(tmp_path / "c", 4)
    proc = run_cli("rank", str(tmp_path / "c"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "no decisions database" in proc.stderr
    proc = run_cli("rank", str(tmp_path / "c"), "--out", str(tmp_path / "o"), "--top", "0")
    assert proc.returncode == 2 and "--top 0" in proc.stderr
    proc = run_cli("rank", str(tmp_path / "c"), "--out", str(tmp_path / "o"), "--by", "discriminator")
    assert proc.returncode == 2 and "checkpoint" in proc.stderr


# ----------------------------------------------------------------------------- with a real (tiny) run


@pytest.fixture(scope="module")
def run_root(tmp_path_factory) -> Path:
    """A studio root with a tiny DCGAN run in it, and 24 candidates generated from it."""
    from belamy.gan import train
    from belamy.generate.sample import generate

    root = tmp_path_factory.mktemp("root")
    corpus = write_corpus(root / "corpus", synthetic_portraits(32, 16))
    train(tiny_train_options(corpus, root / "run", res=16, ngf=4, ndf=4, kimg=0.064, tick_kimg=0.032,
                             lr=2e-4, beta1=0.5, beta2=0.999, snapshot_ticks=1))
    generate(root / "run", root / "candidates" / "run-latest", n=24, seed=0, device="cpu")
    return root


def mean_red_minus_blue(path: Path) -> float:
    from belamy.utils.imageio import open_rgb

    a = np.asarray(open_rgb(path), dtype=np.float64)
    return float((a[..., 0] - a[..., 2]).mean())


def test_discriminator_features_train_a_second_head(run_root: Path, tmp_path: Path):
    root = tmp_path / "root"
    shutil.copytree(run_root, root)
    db = open_db(root)
    db.scan(root / "candidates" / "run-latest")
    items = db.candidates()
    redness = {c.hash: mean_red_minus_blue(root / c.path) for c in items}
    cut = np.median(list(redness.values()))
    for c in items:
        db.decide(c.hash, "keep" if redness[c.hash] > cut else "reject", "t")
    model = train_preference(db, FeatureSource(root, db))
    assert model.disc is not None and model.disc_checkpoint_sha256 == items[0].checkpoint_sha256
    assert set(model.accuracy) == {"colour", "disc"}
    scores = model.score(items, FeatureSource(root, db))
    assert scores.shape == (24,) and ((scores >= 0) & (scores <= 1)).all()


def test_the_grid_that_generate_writes_beside_its_images_is_not_a_candidate(run_root: Path, tmp_path: Path):
    from belamy.generate.sample import generate

    root = tmp_path / "root"
    generate(run_root / "run", root / "candidates" / "with-grid", n=6, seed=0, grid=True, device="cpu")
    assert (root / "candidates" / "with-grid" / "grid.png").is_file()
    db = open_db(root)
    db.scan(root / "candidates" / "with-grid")
    assert sorted(Path(c.path).name for c in db.candidates()) == [f"seed-{i:06d}.png" for i in range(6)]
    db.scan(root / "candidates" / "with-grid")  # a rescan neither re-reads nor adds it
    assert len(db.candidates()) == 6
    ranked = rank_folder(root / "candidates" / "with-grid", by="discriminator", top=2, out=tmp_path / "sel")
    assert len(ranked.ranking) == 6 and "grid.png" not in {p.name for p, _ in ranked.ranking}


def test_rank_by_discriminator_uses_the_checkpoint_in_the_provenance(run_root: Path, tmp_path: Path):
    result = rank_folder(run_root / "candidates" / "run-latest", by="discriminator", top=3, out=tmp_path / "sel")
    scores = [s for _, s in result.ranking]
    assert scores == sorted(scores, reverse=True) and len(scores) == 24
    assert len(list((tmp_path / "sel").glob("*.png"))) == 3


def test_generate_curate_keeps_the_k_best_by_taste(run_root: Path, tmp_path: Path):
    root = tmp_path / "root"
    shutil.copytree(run_root, root)
    db = open_db(root)
    db.scan(root / "candidates" / "run-latest")
    for c in db.candidates():
        db.decide(c.hash, "keep" if (c.seed or 0) % 3 == 0 else "reject", "t")
    proc = run_cli("generate", str(root / "run"), "--out", str(root / "picked"), "--curate", "2", "--seed", "100",
                   "--device", "cpu", "--db", str(root / "belamy-studio.sqlite"))
    assert proc.returncode == 0, proc.stderr
    assert len(list((root / "picked" / "pool").glob("seed-*.png"))) == 16
    kept = sorted((root / "picked").glob("*.png"))
    assert len(kept) == 2 and all(Record.from_dict(read_provenance(p)).seed >= 100 for p in kept)
    rows = list(csv.DictReader(open(root / "picked" / "ranking.csv")))
    assert len(rows) == 16 and float(rows[0]["score"]) >= float(rows[-1]["score"])
    with pytest.raises(BelamyError, match="--curate 0"):
        generate_curated(root / "run", root / "x", 0, db=root / "belamy-studio.sqlite")
    # --truncation, --n and --grid reach the candidates instead of being dropped
    proc = run_cli("generate", str(root / "run"), "--out", str(root / "picked2"), "--curate", "2", "--n", "5",
                   "--truncation", "0.5", "--grid", "--device", "cpu", "--db", str(root / "belamy-studio.sqlite"))
    assert proc.returncode == 0, proc.stderr
    pool = sorted((root / "picked2" / "pool").glob("seed-*.png"))
    assert len(pool) == 5 and all(Record.from_dict(read_provenance(p)).truncation == 0.5 for p in pool)
    assert (root / "picked2" / "grid.png").is_file()
    with pytest.raises(BelamyError, match="--n 1 candidates cannot give --curate 2"):
        generate_curated(root / "run", root / "x", 2, pool_size=1, db=root / "belamy-studio.sqlite")


# ----------------------------------------------------------------------------- the map


def test_the_map_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (25, 12)), rng.normal(6, 1, (25, 12))])
    Y = tsne(X, perplexity=10, iterations=300)
    within = np.linalg.norm(Y[:25] - Y[:25].mean(0), axis=1).mean()
    between = np.linalg.norm(Y[:25].mean(0) - Y[25:].mean(0))
    assert between > 3 * within
    d = np.linalg.norm(Y[:, None] - Y[None], axis=2)
    np.fill_diagonal(d, np.inf)
    neighbours = np.argsort(d, axis=1)[:, :5]
    assert ((neighbours < 25) == (np.arange(50) < 25)[:, None]).all()  # every point's neighbours share its cluster
    xy = layout_2d(X)
    assert xy.shape == (50, 2) and xy.min() >= 0 and xy.max() <= 1
    assert layout_2d(X[:3]).shape == (3, 2) and layout_2d(X[:1]).tolist() == [[0.5, 0.5]]
