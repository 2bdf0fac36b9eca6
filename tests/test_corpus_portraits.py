"""Integration: build a corpus from the real paintings in shared/corpora (portraits + one WikiArt style)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from belamy.corpus.build import build_corpus
from belamy.corpus.store import open_corpus

SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
PORTRAITS = SHARED_CORPORA / "portraits"
BAROQUE = SHARED_CORPORA / "wikiart-styles" / "baroque"  # 224² letterboxed with black bars

pytestmark = pytest.mark.skipif(not PORTRAITS.is_dir() or not BAROQUE.is_dir(),
                                reason="needs shared/corpora beside the repository")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "corpus"
    report = build_corpus([PORTRAITS, BAROQUE], out, size=64, min_size=128)
    return report, out


def test_counts_add_up(built):
    report, out = built
    files = [p for p in [*PORTRAITS.rglob("*"), *BAROQUE.rglob("*")] if p.is_file()]
    assert report.read == len(files) == 834 + 300
    assert report.accepted + report.rejected + report.duplicates == report.read
    corpus = open_corpus(out)
    assert len(corpus) == report.accepted == json.loads((out / "corpus.json").read_text())["count"]
    assert corpus.images.shape == (report.accepted, 64, 64, 3) and corpus.images.dtype == np.uint8
    assert isinstance(corpus.images, np.memmap)
    assert len(corpus.manifest) == report.accepted
    assert len((out / "rejects.jsonl").read_text().splitlines()) == report.rejected
    merged = [json.loads(line) for line in (out / "duplicates.jsonl").read_text().splitlines()]
    assert sum(len(g["merged"]) for g in merged) == report.duplicates


def test_small_paintings_are_rejected_and_nothing_else(built):
    report, _ = built
    assert set(report.reject_reasons) == {"too small"}
    from PIL import Image

    small_portraits = 0
    for r in report.rejects:
        if "/portraits/" in r["path"]:
            small_portraits += 1
            with Image.open(r["path"]) as im:
                assert min(im.size) < 128
        else:  # a 224² letterboxed painting: its picture, bars trimmed off, is under 128 on one side
            assert "after trimming" in r["reason"]
    assert 5 <= small_portraits <= 40  # the portraits' few small crops (short side 82..127 px)


def test_manifest_fields_and_parsed_years(built):
    _, out = built
    manifest = open_corpus(out).manifest
    assert [m["index"] for m in manifest] == list(range(len(manifest)))
    for m in manifest:
        assert Path(m["source"]).is_file() and len(m["sha256"]) == 64
        assert m["width"] >= 128 and m["height"] >= 128
    years = [m["year"] for m in manifest if m["year"] is not None]
    assert len(years) > 200 and all(1200 <= y <= 1950 for y in years)
    by_name = {Path(m["source"]).name: m for m in manifest}
    assert by_name["emma-dobigny-1869.jpg"]["title"] == "Emma dobigny"
    assert by_name["emma-dobigny-1869.jpg"]["year"] == 1869


def test_letterbox_bars_are_trimmed_but_painted_dark_grounds_are_not(built):
    _, out = built
    corpus = open_corpus(out)
    manifest = corpus.manifest
    baroque = [m for m in manifest if "/baroque/" in m["source"]]
    assert sum("trimmed" in m for m in baroque) >= 0.9 * len(baroque)
    # After trimming, the outer rows and columns of a letterboxed painting are no longer black bars.
    idx = [m["index"] for m in baroque]
    edges = np.concatenate([corpus.images[idx, 0], corpus.images[idx, -1],
                            corpus.images[idx, :, 0], corpus.images[idx, :, -1]], axis=1)
    black_edge = (edges.max(axis=2) <= 8).mean(axis=1) > 0.9
    assert black_edge.mean() < 0.03
    portraits = {Path(m["source"]).name: m for m in manifest if "/portraits/" in m["source"]}
    for dark_ground in ("portrait-of-pierre-de-beffremont.jpg", "portrait-of-an-unknown-man-with-a-letter-1485.jpg",
                        "christ-crowned-with-thorns.jpg"):
        assert "trimmed" not in portraits[dark_ground]
    assert sum("trimmed" in m for m in portraits.values()) < 10
