"""Hugging Face datasets as sources: a dataset saved to disk, a folder of parquet, label columns, --where."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from belamy.corpus.build import build_corpus
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError

datasets = pytest.importorskip("datasets", reason="install the test extra: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """Five little 'paintings' with a ClassLabel genre, an artist and a year; one row has a broken image."""
    root = tmp_path_factory.mktemp("hf")
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(30, 220, (80, 100, 3), dtype=np.uint8)) for _ in range(4)]
    features = datasets.Features({
        "image": datasets.Image(),
        "genre": datasets.ClassLabel(names=["portrait", "landscape"]),
        "artist": datasets.Value("string"),
        "year": datasets.Value("int32"),
    })
    rows = {"image": images + [{"bytes": b"not an image", "path": None}], "genre": [0, 1, 0, 0, 0],
            "artist": ["Anna", "Bert", "Cleo", "Dirk", "Emil"], "year": [1501, 1602, None, 1703, 1800]}
    ds = datasets.Dataset.from_dict(rows, features=features)
    ds.save_to_disk(str(root / "saved"))
    ds.to_parquet(str(root / "parquet" / "part-0.parquet"))
    return root


def test_saved_dataset_with_where_keeps_labels(saved: Path, tmp_path: Path):
    report = build_corpus([f"hf:{saved / 'saved'}"], tmp_path / "c", size=16, min_size=16,
                          where={"genre": "Portrait"}, workers=1)
    assert report.read == 4 and report.accepted == 3 and report.rejected == 1  # Bert's landscape is left out
    assert report.rejects[0]["path"].endswith("#4") and report.rejects[0]["reason"].startswith("not an image")
    corpus = open_corpus(tmp_path / "c")
    assert corpus.images.shape == (3, 16, 16, 3)
    assert [m["artist"] for m in corpus.manifest] == ["Anna", "Cleo", "Dirk"]
    assert {m["genre"] for m in corpus.manifest} == {"portrait"}  # the ClassLabel's name, not its number
    assert [m["year"] for m in corpus.manifest] == [1501, None, 1703]
    assert corpus.manifest[0]["source"] == f"hf:{saved / 'saved'}#0"
    assert (corpus.manifest[0]["width"], corpus.manifest[0]["height"]) == (100, 80)


def test_parquet_folder_mixed_with_a_folder(saved: Path, tmp_path: Path):
    folder = tmp_path / "files"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(5).integers(30, 220, (64, 64, 3), dtype=np.uint8)).save(
        folder / "a-study-1888.png")
    report = build_corpus([folder, f"hf:{saved / 'parquet'}"], tmp_path / "c", size=16, min_size=16, workers=2)
    assert report.read == 6 and report.accepted == 5 and report.rejected == 1
    manifest = open_corpus(tmp_path / "c").manifest
    assert manifest[0]["year"] == 1888 and manifest[0]["title"] == "A study"
    assert [m.get("genre") for m in manifest[1:]] == ["portrait", "landscape", "portrait", "portrait"]


def test_dataset_errors(saved: Path, tmp_path: Path, monkeypatch):
    with pytest.raises(BelamyError, match="dataset not found"):
        build_corpus([f"hf:{tmp_path / 'nothing'}"], tmp_path / "c")
    with pytest.raises(BelamyError, match="--where names a column"):
        build_corpus([f"hf:{saved / 'saved'}"], tmp_path / "c", where={"movement": "x"})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BelamyError, match="no dataset at"):
        build_corpus([f"hf:{empty}"], tmp_path / "c")
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(BelamyError, match=r"pip install 'belamy\[hf\]'"):
        build_corpus([f"hf:{saved / 'saved'}"], tmp_path / "c")
    assert not (tmp_path / "c").exists()
