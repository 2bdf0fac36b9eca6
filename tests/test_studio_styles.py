"""The studio's style posteriors: a bar chart's data on every candidate, and curation by ambiguity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import STYLE_NAMES, synthetic_styles, tiny_train_options, write_corpus
from fastapi.testclient import TestClient

from belamy.classify import train_classifier
from belamy.errors import BelamyError
from belamy.provenance.embed import save_png
from belamy.studio.app import create_app


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("studio-classifier")
    images, labels = synthetic_styles(60, 32)
    train_classifier(write_corpus(folder / "styles", images, labels), "folder", folder / "cls", res=32, epochs=20,
                     batch=8, holdout=0.25, channels=8, device="cpu")
    torch.set_num_threads(threads)
    return folder / "cls"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Candidates: clear textures of each style, and blends of two styles (harder to name)."""
    root = tmp_path / "root"
    images, _ = synthetic_styles(6, 32, seed=5)
    for i, image in enumerate(images):
        save_png(image, root / "candidates" / "set-a" / f"clear-{i}.png", {"seed": i})
    for i in range(3):
        blend = (images[i].astype(np.float32) + images[i + 1].astype(np.float32)) / 2
        save_png(blend.astype(np.uint8), root / "candidates" / "set-a" / f"blend-{i}.png", {"seed": 10 + i})
    return root


def test_candidates_carry_their_style_posterior_and_curate_sorts_by_ambiguity(root: Path, classifier: Path, one_torch_thread):
    with TestClient(create_app(root, retrain_every=1000, device="cpu", classifier=classifier), base_url="http://127.0.0.1:8700") as client:
        listed = client.get("/api/next", params={"mode": "order", "limit": 50}).json()["candidates"]
        assert len(listed) == 9
        for c in listed:
            style = c["style"]
            assert style["names"] == sorted(STYLE_NAMES) and sum(style["probs"]) == pytest.approx(1.0, abs=2e-3)
            assert 0.0 <= style["ambiguity"] <= 1.0
        by_name = {c["name"]: c["style"]["ambiguity"] for c in listed}
        ranked = client.get("/api/next", params={"mode": "ambiguous", "limit": 50}).json()["candidates"]
        values = [c["style"]["ambiguity"] for c in ranked]
        assert values == sorted(values, reverse=True) and len(ranked) == 9
        assert [c["name"] for c in ranked] == sorted(by_name, key=lambda n: -by_name[n])
        # The clear textures are named with more confidence than the blends of two styles, on the whole.
        assert np.mean([v for n, v in by_name.items() if n.startswith("blend")]) > np.mean(
            [v for n, v in by_name.items() if n.startswith("clear")])
        one = client.get(f"/api/candidate/{ranked[0]['hash']}").json()
        assert one["style"] == ranked[0]["style"]
        # Decided works leave the ambiguity order like any other.
        headers = {"X-Belamy-CSRF": client.app.state.guard.csrf, "X-Belamy-Client": "tab-1"}
        assert client.post("/api/decide", json={"hash": ranked[0]["hash"], "decision": "keep"}, headers=headers).status_code == 200
        after = client.get("/api/next", params={"mode": "ambiguous", "limit": 50}).json()["candidates"]
        assert [c["hash"] for c in after] == [c["hash"] for c in ranked[1:]]


def test_without_a_classifier_a_plain_run_has_no_style_and_a_bad_classifier_stops_the_studio(root: Path, tmp_path: Path):
    with TestClient(create_app(root, retrain_every=1000, device="cpu"), base_url="http://127.0.0.1:8700") as client:
        listed = client.get("/api/next", params={"mode": "ambiguous", "limit": 50}).json()["candidates"]
        assert len(listed) == 9 and all(c["style"] is None for c in listed)
        assert [c["name"] for c in listed] == sorted(c["name"] for c in listed)  # file order
        assert "Most ambiguous style first" in client.get("/curate").text
    with pytest.raises(BelamyError, match="no classifier"):
        create_app(root, classifier=tmp_path / "missing")


def test_a_can_runs_candidates_show_the_posterior_of_its_own_discriminator(tmp_path: Path, one_torch_thread):
    from belamy.gan import train
    from belamy.generate.sample import generate

    root = tmp_path / "root"
    images, labels = synthetic_styles(48, 32)
    corpus = write_corpus(tmp_path / "styles", images, labels)
    can = train(tiny_train_options(corpus, root / "can", loss="can", labels="folder", kimg=0.064, tick_kimg=0.064)).run_dir
    plain = train(tiny_train_options(corpus, root / "plain", kimg=0.032, tick_kimg=0.032)).run_dir
    generate(can, root / "candidates" / "can", n=4, device="cpu")
    generate(plain, root / "candidates" / "plain", n=2, device="cpu")
    with TestClient(create_app(root, retrain_every=1000, device="cpu"), base_url="http://127.0.0.1:8700") as client:
        listed = client.get("/api/next", params={"mode": "ambiguous", "limit": 50}).json()["candidates"]
    by_set = {}
    for c in listed:
        by_set.setdefault(c["set"], []).append(c)
    assert len(by_set["can"]) == 4 and len(by_set["plain"]) == 2
    for c in by_set["can"]:
        assert c["style"]["names"] == sorted(STYLE_NAMES) and sum(c["style"]["probs"]) == pytest.approx(1, abs=2e-3)
    assert all(c["style"] is None for c in by_set["plain"])  # a plain run has no style head, and no classifier was given
    assert [c["set"] for c in listed] == ["can"] * 4 + ["plain"] * 2  # works with a posterior come first
