"""The Belamy pipeline through the CLI, as a user runs it: corpus -> train -> generate -> sign."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import synthetic_portraits
from PIL import Image

from belamy.provenance import Record
from belamy.provenance.embed import read_provenance


def belamy(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "belamy", *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_folder_of_paintings_to_a_signed_portrait(tmp_path: Path):
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    for i, picture in enumerate(synthetic_portraits(40, 48, seed=1)):
        mode = ("RGB", "L", "RGBA")[i % 3]  # the builder takes any mode
        Image.fromarray(picture).convert(mode).save(paintings / f"portrait-of-a-sitter-{1600 + i}.png")
    (paintings / "notes.txt").write_text("not a painting")

    belamy("corpus", "build", paintings, "--out", tmp_path / "corpus", "--size", "32", "--min-size", "16")
    manifest = [json.loads(line) for line in (tmp_path / "corpus" / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) >= 30 and manifest[0]["year"] >= 1600
    assert (tmp_path / "corpus" / "contact_sheet.png").exists()

    run = tmp_path / "run"
    belamy("train", tmp_path / "corpus", "--out", run, "--res", "32", "--kimg", "0.128", "--batch", "16",
           "--ngf", "8", "--ndf", "8", "--tick-kimg", "0.064", "--device", "cpu", "--grid-size", "4")
    assert list((run / "samples").glob("grid-*.png"))

    out = tmp_path / "portraits"
    printed = belamy("generate", run, "--n", "4", "--seed", "3", "--grid", "--out", out)
    assert printed.stdout.strip().endswith(str(out))
    first = out / "seed-000003.png"
    assert Record.from_dict(read_provenance(first)).seed == 3 and (out / "grid.png").exists()

    signed = tmp_path / "signed.png"
    belamy("sign", first, "--out", signed)
    before, after = np.asarray(Image.open(first).convert("RGB")), np.asarray(Image.open(signed).convert("RGB"))
    assert before.shape == after.shape and not np.array_equal(before, after)
