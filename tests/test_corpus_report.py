"""`belamy corpus report`: one HTML page with its pictures beside it, for a person to judge a corpus."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from belamy.corpus.build import build_corpus
from belamy.corpus.report import write_report
from belamy.errors import BelamyError


def painting(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 220, (8, 8, 3), dtype=np.uint8)  # smooth blobs: survives resizing
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for k, (style, n) in enumerate((("baroque", 5), ("rococo", 3))):
        (src / style).mkdir(parents=True)
        for i in range(n):
            painting(90 + 6 * i, 80, seed=10 * k + i).save(src / style / f"scene-{i}-{1600 + 40 * i}.png")
    original = Image.open(src / "baroque" / "scene-2-1680.png")
    copy = original.resize((original.width * 3 // 4, original.height * 3 // 4), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    copy.save(buf, "JPEG", quality=80)
    (src / "rococo" / "scene-copy.jpg").write_bytes(buf.getvalue())
    (src / "rococo" / "notes.jpg").write_text("not a picture")
    painting(20, 20, 3).save(src / "rococo" / "tiny.png")
    out = tmp_path / "corpus"
    report = build_corpus([src], out, size=32, min_size=32, workers=1, folder_labels=True)
    assert (report.accepted, report.rejected, report.duplicates) == (8, 2, 1)
    return out


def test_report_page_references_only_existing_pictures(corpus: Path, tmp_path: Path):
    page = write_report(corpus)
    assert page == corpus / "report" / "report.html"
    text = page.read_text(encoding="utf-8")
    sources = re.findall(r'<img[^>]+src="([^"]+)"', text)
    for name in ("contact.png", "hist_years.png", "hist_sizes.png", "hist_aspect.png", "dup_000.png"):
        assert name in sources
    for src in sources:
        assert (page.parent / src).is_file(), src
        with Image.open(page.parent / src) as im:
            assert im.width > 10 and im.height > 10
    # rejects with their reasons; a preview only for the one that can be decoded
    assert "notes.jpg" in text and "not an image" in text
    assert "tiny.png" in text and "too small" in text
    assert sum(s.startswith("reject_") for s in sources) == 1
    # the merged copy beside the painting kept
    assert "scene-copy.jpg" in text and "scene-2-1680.png" in text
    # counts per label
    assert re.search(r"<td>baroque</td><td class=\"n\">5</td>", text)
    assert re.search(r"<td>rococo</td><td class=\"n\">3</td>", text)


def test_report_into_another_folder_and_errors(corpus: Path, tmp_path: Path):
    page = write_report(corpus, tmp_path / "elsewhere")
    assert page.parent == tmp_path / "elsewhere" and page.is_file()
    with pytest.raises(BelamyError, match="no corpus at"):
        write_report(tmp_path / "missing")


def test_cli_report(corpus: Path, tmp_path: Path):
    env = {**os.environ, "BELAMY_QUIET": "1"}
    run = subprocess.run([sys.executable, "-m", "belamy", "corpus", "report", str(corpus)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(corpus / "report" / "report.html")
    run = subprocess.run([sys.executable, "-m", "belamy", "corpus", "report", str(tmp_path / "nope")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and "no corpus at" in run.stderr and "Traceback" not in run.stderr


def test_the_summary_reads_as_words_not_json(corpus: Path):
    text = write_report(corpus).read_text(encoding="utf-8")
    assert "1 in 1 group<" in text and "1 groups" not in text and "(1 group; kept one first)" in text
    options = re.search(r'<table class="options">(.*?)</table>', text).group(1)
    assert "{" not in options and "&quot;" not in options
    for words in ("smallest source side</td><td>32 px", "labels from sub-folders</td><td>yes",
                  "only records where</td><td>all records", "crop</td><td>center"):
        assert words in options, words
    assert "face box" not in options  # only with --crop face


def test_the_corpus_folder_follows_the_umask_like_its_files(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        painting(64, 64, seed=i).save(src / f"p{i}.png")
    previous = os.umask(0o027)
    try:
        build_corpus([src], tmp_path / "corpus", size=32, min_size=32, workers=1)
    finally:
        os.umask(previous)
    assert (tmp_path / "corpus").stat().st_mode & 0o777 == 0o750  # not mkdtemp's owner-only 0o700
    assert (tmp_path / "corpus" / "corpus.json").stat().st_mode & 0o777 == 0o640
