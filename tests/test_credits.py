"""Corpus credits: artists, counts and public-domain flags from a manifest, in every output format."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from belamy.cli import app
from belamy.corpus.credits import build_credits, credits_path, lookup_death_year, write_credits
from belamy.errors import BelamyError

RECORDS = [
    # Death year given by the scrape.
    {"source": "raw/rembrandt/a.jpg", "title": "Self-Portrait", "year": 1659, "artist": "Rembrandt",
     "artist_death_year": 1669, "page_url": "https://www.wikiart.org/en/rembrandt/self-portrait-1659"},
    {"source": "raw/rembrandt/b.jpg", "title": "Portrait | of a Man", "year": 1632, "artist": "Rembrandt",
     "artist_death_year": 1669},
    # Death years from the offline table (accents and case differ from the table's spelling).
    {"source": "raw/matisse/c.jpg", "title": "Woman with a Hat", "year": 1905, "artist": "HENRI MATISSE"},  # d. 1954
    {"source": "raw/picasso/d.jpg", "title": "Portrait", "year": 1910, "artist": "Pablo Picasso"},  # d. 1973
    {"source": "raw/nolde/e.jpg", "title": "Portrait", "year": 1915, "artist": "Emil Nolde"},  # d. 1956: exactly 70
    {"source": "raw/vigee/f.jpg", "title": "Self-portrait", "year": 1790, "artist": "Élisabeth Vigée Le Brun"},
    # Unknown.
    {"source": "raw/x/g.jpg", "title": "Portrait of a Lady", "year": None, "artist": "Nobody In The Table"},
    {"source": "synthetic/h.png", "title": "Synthetic 7", "year": None},
]
YEAR = 2026


def make_corpus(folder: Path, records=RECORDS) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn":')
    return folder


def test_public_domain_flags_and_counts_per_artist(tmp_path):
    credits = build_credits(make_corpus(tmp_path / "c"), current_year=YEAR)
    flags = {w["source"]: w["public_domain"] for w in credits.works}
    assert flags == {"raw/rembrandt/a.jpg": True, "raw/rembrandt/b.jpg": True, "raw/matisse/c.jpg": True,
                     "raw/picasso/d.jpg": False, "raw/nolde/e.jpg": False, "raw/vigee/f.jpg": True,
                     "raw/x/g.jpg": None, "synthetic/h.png": None}
    artists = {a.name: (a.works, a.death_year, a.public_domain) for a in credits.artists}
    assert artists == {"Rembrandt": (2, 1669, True), "HENRI MATISSE": (1, 1954, True), "Pablo Picasso": (1, 1973, False),
                       "Emil Nolde": (1, 1956, False), "Élisabeth Vigée Le Brun": (1, 1842, True),
                       "Nobody In The Table": (1, None, None), "unknown artist": (1, None, None)}
    assert credits.artists[0].name == "Rembrandt"  # most works first
    assert credits.counts == {"works": 8, "artists": 7, "public_domain": 4, "not_public_domain": 2, "unknown": 2}


def test_offline_death_year_table():
    assert lookup_death_year("Vincent van Gogh") == 1890
    assert lookup_death_year("vincent-van-gogh") == 1890  # a WikiArt URL slug works too
    assert lookup_death_year("Rembrandt van Rijn") == lookup_death_year("rembrandt") == 1669
    assert lookup_death_year("Someone Else") is None and lookup_death_year(None) is None


def test_the_current_year_is_the_default(tmp_path):
    this_year = datetime.now(UTC).year
    records = [{"source": "a", "title": "a", "year": None, "artist": "A", "artist_death_year": this_year - 71},
               {"source": "b", "title": "b", "year": None, "artist": "B", "artist_death_year": str(this_year - 70)}]
    credits = build_credits(make_corpus(tmp_path / "c", records))
    assert credits.current_year == this_year
    assert [w["public_domain"] for w in credits.works] == [True, False]


@pytest.mark.parametrize("suffix", [".md", ".json", ".csv"])
def test_output_formats(tmp_path, suffix):
    corpus = make_corpus(tmp_path / "c")
    out = tmp_path / f"credits{suffix}"
    write_credits(corpus, out, current_year=YEAR)
    text = out.read_text(encoding="utf-8")
    assert json.loads(credits_path(corpus).read_text())["counts"]["works"] == 8  # always written
    if suffix == ".json":
        data = json.loads(text)
        assert data["format"] == "belamy-credits" and len(data["works"]) == 8
        assert {a["name"]: a["public_domain"] for a in data["artists"]}["Pablo Picasso"] is False
    elif suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 8
        assert rows[0]["artist"] == "Rembrandt" and rows[0]["public_domain"] == "true"
        assert rows[0]["page_url"].startswith("https://www.wikiart.org/")
        assert rows[6]["public_domain"] == "" and rows[3]["artist_death_year"] == "1973"
    else:
        assert "| Rembrandt | 2 | 1669 | yes |" in text
        assert "| Pablo Picasso | 1 | 1973 | no |" in text
        assert "Portrait \\| of a Man" in text  # a pipe in a title does not break the table
        assert "[raw/rembrandt/a.jpg](https://www.wikiart.org/en/rembrandt/self-portrait-1659)" in text


def test_bad_inputs_raise_belamy_errors(tmp_path):
    with pytest.raises(BelamyError, match="no corpus"):
        build_credits(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BelamyError, match="manifest.jsonl"):
        build_credits(tmp_path / "empty")
    with pytest.raises(BelamyError, match=r"\.md, \.json or \.csv"):
        write_credits(make_corpus(tmp_path / "c"), tmp_path / "credits.pdf")
    assert not credits_path(tmp_path / "c").exists()  # nothing written for a refused request


def test_cli_prints_a_table_and_writes_files(tmp_path):
    corpus = make_corpus(tmp_path / "c")
    result = CliRunner().invoke(app, ["corpus", "credits", str(corpus), "--out", str(tmp_path / "credits.md")])
    assert result.exit_code == 0, result.output
    assert "Rembrandt" in result.output and "public domain" in result.output
    assert (tmp_path / "credits.md").exists() and credits_path(corpus).exists()


def test_cli_missing_corpus_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "belamy", "corpus", "credits", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no corpus at" in proc.stderr
