"""Seeds are 64 bits: every command that takes one refuses a seed outside 0 .. 2**64 - 1 with one line,
writes nothing, and never draws another seed's image in its place (2**70 used to wrap to seed 0)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import random_run
from PIL import Image
from test_limits import cli

from belamy.provenance.embed import PROVENANCE_KEY, save_png

BEYOND = str(2**70)
LAST = str(2**64 - 1)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return random_run(tmp_path_factory.mktemp("seeds") / "run", res=16, nz=8, ngf=8, ndf=8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, shown", [
    (["generate", "{run}", "--out", "{out}", "--seed", BEYOND, "--n", "1"], f"--seed {BEYOND} is out of range"),
    (["generate", "{run}", "--out", "{out}", "--seed", LAST, "--n", "2"], f"reaches seed {2**64} is out of range"),
    (["generate", "{run}", "--out", "{out}", "--seed", "-1"], "--seed -1 is out of range"),
    (["walk", "{run}", "--out", "{out}/walk.mp4", "--seeds", f"1,{BEYOND}"], f"seed {BEYOND} is out of range"),
    (["exhibit", "{run}", "--seed", BEYOND, "--port", "{port}", "--engine", "torch"], f"--seed {BEYOND} is out of range"),
])
def test_a_seed_beyond_64_bits_is_one_line_and_nothing_is_written(capsys, run: Path, tmp_path: Path, args, shown):
    out = tmp_path / "out"
    code, text = cli(capsys, *(a.format(run=run, out=out, port=free_port()) for a in args))
    assert code == 2, text
    assert shown in text and "2**64 - 1" in text and len(text.splitlines()) == 1, text
    assert not out.exists()


def test_the_largest_seed_draws_its_own_image_not_seed_zeros(capsys, run: Path, tmp_path: Path):
    assert cli(capsys, "generate", run, "--out", tmp_path / "last", "--seed", LAST, "--n", "1")[0] == 0
    assert cli(capsys, "generate", run, "--out", tmp_path / "zero", "--seed", "0", "--n", "1")[0] == 0
    last = np.asarray(Image.open(tmp_path / "last" / f"seed-{2**64 - 1:06d}.png"))
    assert not np.array_equal(last, np.asarray(Image.open(tmp_path / "zero" / "seed-000000.png")))


def test_reproduce_refuses_a_record_whose_seed_is_beyond_64_bits(capsys, run: Path, tmp_path: Path):
    """A picture of seed 0 whose record claims seed 2**70: once called identical (the seed wrapped)."""
    assert cli(capsys, "generate", run, "--out", tmp_path, "--seed", "0", "--n", "1")[0] == 0
    picture = tmp_path / "seed-000000.png"
    with Image.open(picture) as im:
        record = json.loads(im.info[PROVENANCE_KEY])
        pixels = np.asarray(im.convert("RGB"))
    record["generation"]["seed"] = 2**70
    record["generation"].pop("latent_sha256", None)
    save_png(pixels, tmp_path / "claimed.png", record)
    code, text = cli(capsys, "reproduce", tmp_path / "claimed.png")
    assert code == 2 and f"seed {BEYOND} is out of range" in text and "identical" not in text, text
