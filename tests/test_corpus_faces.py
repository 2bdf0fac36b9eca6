"""--crop face: head-and-shoulders crops around the faces OpenCV's Haar cascade finds in real paintings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from belamy.corpus.build import build_corpus
from belamy.corpus.faces import frame_face
from belamy.corpus.store import open_corpus

STYLES = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "wikiart-styles"
# Bust and half-length portraits (a face the cascade finds) and other pictures (landscapes, scenes,
# full figures with small faces) from the shared WikiArt sample.
WITH_FACES = ["baroque/1036.jpg", "baroque/1149.jpg", "baroque/1154.jpg", "baroque/1202.jpg", "baroque/1204.jpg",
              "romanticism/1238.jpg", "romanticism/1477.jpg", "romanticism/1660.jpg"]


def test_frame_face_grows_shifts_and_clamps():
    bounds = (0.0, 0.0, 400.0, 300.0)
    left, top, right, bottom = frame_face((180, 100, 220, 140), bounds, scale=2.0, shift=0.25)
    assert (right - left, bottom - top) == (80, 80)
    assert (left + right) / 2 == 200 and (top + bottom) / 2 == 130  # centred on the face, 0.25×40 lower
    # A face by the top-left corner: the square slides back inside the picture.
    assert frame_face((0, 0, 50, 50), bounds, scale=2.2, shift=0.25) == pytest.approx((0, 0, 110, 110))
    # A face too big for the full framing: the largest square that fits.
    big = frame_face((50, 20, 350, 280), bounds, scale=2.2, shift=0.25)
    assert big[2] - big[0] == 300 and big[1] == 0 and big[3] == 300


@pytest.mark.skipif(not STYLES.is_dir(), reason="needs shared/corpora/wikiart-styles")
def test_face_crops_on_real_paintings(tmp_path: Path):
    others = sorted(p for p in (STYLES / "baroque").glob("*.jpg") if f"baroque/{p.name}" not in WITH_FACES)[:16]
    files = [STYLES / f for f in WITH_FACES] + others
    report = build_corpus(files, tmp_path / "faces", size=48, min_size=40, crop="face", workers=1)
    assert report.read == len(files) and report.rejected == 0
    corpus = open_corpus(tmp_path / "faces")
    by_source: dict[str, list[dict]] = {}
    for m in corpus.manifest:
        by_source.setdefault(m["source"], []).append(m)

    found = [f for f in WITH_FACES if "face_index" in by_source[str(STYLES / f)][0]]
    assert len(found) >= 6, found
    fallback = [p for p in others if "face_index" not in by_source[str(p)][0]]
    assert len(fallback) >= 10  # no face: one centre crop instead

    faces = [m for m in corpus.manifest if "face_index" in m]
    for m in faces:
        cl, ct, cr, cb = m["crop_box"]
        fl, ft, fr, fb = m["face_box"]
        assert abs((cr - cl) - (cb - ct)) <= 2  # square
        assert 0 <= cl and 0 <= ct and cr <= m["width"] and cb <= m["height"]
        assert cl <= fl and ct <= ft and fr <= cr and fb <= cb  # the face is inside its crop
        assert (ft + fb) / 2 <= (ct + cb) / 2 + 1  # ... in the upper half: shoulders below
    for m in corpus.manifest:
        if "face_index" not in m:
            cl, ct, cr, cb = m["crop_box"]
            assert abs((cr - cl) - (cb - ct)) <= 2
    # Face crops are mostly face: brighter and more varied than the dark grounds around them.
    assert np.asarray(corpus.images[[m["index"] for m in faces]]).std() > 30
