"""The independent style classifier: training, held-out accuracy, saved files, and its use in `belamy eval`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from belamy.classify import load_classifier, normalized_entropy, stratified_split, train_classifier
from belamy.errors import BelamyError
from tests.conftest import STYLE_NAMES, random_run, synthetic_styles, write_corpus


def test_stratified_split_holds_out_the_same_share_of_every_class_and_is_fixed_by_the_seed():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 2 + [3] * 1)
    train, held = stratified_split(labels, 0.2, seed=4)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(len(labels)))
    assert [int((labels[held] == c).sum()) for c in range(4)] == [10, 6, 1, 0]  # a lone image stays in training
    again_train, again_held = stratified_split(labels, 0.2, seed=4)
    assert held.tolist() == again_held.tolist() and train.tolist() == again_train.tolist()
    assert stratified_split(labels, 0.2, seed=5)[1].tolist() != held.tolist()


def test_normalized_entropy_is_0_for_certainty_and_1_for_a_uniform_posterior():
    probs = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    assert normalized_entropy(probs).tolist() == pytest.approx([0.0, 1.0, 0.5], abs=1e-5)


def test_classifier_learns_styles_and_reports_held_out_accuracy(styles_corpus: Path, tmp_path: Path, one_torch_thread):
    report = train_classifier(styles_corpus, "folder", tmp_path / "cls", res=32, epochs=20, batch=8, holdout=0.25,
                              channels=8, device="cpu")
    assert report.names == sorted(STYLE_NAMES)
    assert (report.n_train, report.n_heldout) == (45, 15)
    assert report.accuracy >= 0.8 > report.chance  # the textures are easy: far above 1/3
    info = json.loads((tmp_path / "cls" / "classifier.json").read_text())
    assert info["names"] == report.names and (info["height"], info["width"]) == (32, 32)
    assert len(info["heldout"]) == 15 and info["accuracy"] == pytest.approx(report.accuracy, abs=1e-4)
    assert sum(map(sum, info["confusion"])) == 15
    # The saved classifier names the style of new paintings; other sizes are resized to its input.
    clf = load_classifier(tmp_path / "cls")
    fresh, truth = synthetic_styles(30, 32, seed=9)
    probs = clf.posterior(fresh)
    assert probs.shape == (30, 3) and torch.allclose(probs.sum(dim=1), torch.ones(30), atol=1e-5)
    predicted = [clf.names[i] for i in probs.argmax(dim=1).tolist()]
    assert np.mean([p == t for p, t in zip(predicted, truth, strict=True)]) >= 0.7
    larger = clf.posterior(torch.from_numpy(synthetic_styles(4, 48)[0]).permute(0, 3, 1, 2).float())
    assert larger.shape == (4, 3) and torch.allclose(larger.sum(dim=1), torch.ones(4), atol=1e-5)


def test_classifier_labels_from_a_manifest_field(styles_corpus: Path, tmp_path: Path, one_torch_thread):
    report = train_classifier(styles_corpus, "label", tmp_path / "cls", res=16, epochs=1, batch=16, channels=4, device="cpu")
    assert report.names == sorted(STYLE_NAMES)


def test_classifier_refuses_one_style_and_bad_options(tmp_path: Path):
    images, _ = synthetic_styles(12, 16)
    one = write_corpus(tmp_path / "one", images, ["baroque"] * 12)
    with pytest.raises(BelamyError, match="only one class"):
        train_classifier(one, "folder", tmp_path / "cls")
    with pytest.raises(BelamyError, match="--holdout"):
        train_classifier(one, "folder", tmp_path / "cls", holdout=0.9)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BelamyError, match="is a file"):
        train_classifier(one, "folder", tmp_path / "file")
    with pytest.raises(BelamyError, match="no classifier"):
        load_classifier(tmp_path / "nowhere")


def belamy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAMY_QUIET": "1"}
    env.pop("BELAMY_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "belamy", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def test_classify_cli_prints_held_out_accuracy_and_refuses_bad_input_in_one_line(styles_corpus: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from belamy.cli import app

    result = CliRunner().invoke(app, ["classify", "train", str(styles_corpus), "--labels", "folder", "--out",
                                      str(tmp_path / "cls"), "--res", "16", "--epochs", "1", "--channels", "4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and "chance 33.3%" in result.output
    assert (tmp_path / "cls" / "classifier.safetensors").is_file()
    bad = belamy("classify", "train", str(styles_corpus), "--labels", "painter", "--out", "c2", cwd=tmp_path)
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "no 'painter' label" in lines[0], bad.stderr
    assert not (tmp_path / "c2").exists()


# --------------------------------------------------------------------------- belamy eval --classifier


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A labelled corpus and a classifier that names its styles (trained once for these tests)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("eval-classifier")
    images, labels = synthetic_styles(60, 32)
    corpus = write_corpus(folder / "styles", images, labels)
    train_classifier(corpus, "folder", folder / "cls", res=32, epochs=20, batch=8, holdout=0.25, channels=8, device="cpu")
    torch.set_num_threads(threads)
    return corpus, folder / "cls"


def test_style_figures_give_the_mean_ambiguity_with_its_standard_error_and_the_shares():
    from types import SimpleNamespace

    from belamy.metrics.ambiguity import style_figures

    k = 4
    uniform, certain = torch.full((k,), 1 / k), torch.eye(k)[2]
    clf = SimpleNamespace(names=["a", "b", "c", "d"], posterior=lambda images: torch.stack([uniform, certain]))
    figures = style_figures(clf, images=None)
    # entropies 1 and 0: mean 0.5, sample sd √0.5, standard error √0.5 / √2 = 0.5
    assert figures["ambiguity"] == pytest.approx(0.5) and figures["ambiguity_se"] == pytest.approx(0.5)
    assert figures["style_share"] == {"a": 0.5, "b": 0.0, "c": 0.5, "d": 0.0}  # ties go to the first style


def test_eval_with_a_classifier_measures_ambiguity_shares_novelty_and_heldout_swd(trained, tmp_path: Path, one_torch_thread):
    from belamy.metrics.evaluate import evaluate_run

    corpus, cls = trained
    run = random_run(tmp_path / "run", "dcgan", res=32, nz=16, ngf=8, ndf=8)
    record = evaluate_run(run, corpus, n=32, classifier=cls, device="cpu")
    names = sorted(STYLE_NAMES)
    assert 0.0 <= record["ambiguity"] <= 1.0 and record["classifier"] == str(cls)
    assert list(record["style_share"]) == names and sum(record["style_share"].values()) == pytest.approx(1.0, abs=1e-3)
    # The reference: real paintings the classifier never saw, which it names with confidence, about a third each.
    assert record["n_heldout"] == 15 and record["heldout_ambiguity"] < 0.5
    assert all(0.2 <= share <= 0.47 for share in record["heldout_style_share"].values())
    # Novelty: generated images against the corpus, and the held-out paintings against the rest of it (not
    # against themselves, though the run's corpus holds them): neither is a copy.
    assert record["novelty"] == pytest.approx(record["memorization_median"], abs=1e-3)
    assert record["heldout_novelty"] > 0.3
    assert record["swd_heldout"] > 0
    logged = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert logged[-1]["ambiguity"] == record["ambiguity"] and logged[-1]["style_share"] == record["style_share"]


def test_eval_cli_prints_style_figures_and_refuses_a_missing_classifier(trained, tmp_path: Path, one_torch_thread):
    from typer.testing import CliRunner

    from belamy.cli import app

    corpus, cls = trained
    run = random_run(tmp_path / "run", "dcgan", res=32, nz=16, ngf=8, ndf=8)
    result = CliRunner().invoke(app, ["eval", str(run), "--corpus", str(corpus), "--classifier", str(cls), "--n", "16",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "heldout_ambiguity" in result.output and "swd_heldout" in result.output and "hstripes" in result.output
    missing = CliRunner().invoke(app, ["eval", str(run), "--corpus", str(corpus), "--classifier", str(tmp_path / "none")])
    assert isinstance(missing.exception, BelamyError) and "no classifier" in str(missing.exception)
    # A run that does not record its corpus needs --corpus.
    nameless = CliRunner().invoke(app, ["eval", str(run), "--n", "16", "--device", "cpu"])
    assert isinstance(nameless.exception, BelamyError) and "--corpus" in str(nameless.exception)
