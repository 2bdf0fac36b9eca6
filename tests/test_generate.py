"""Generation: reproducible images that carry their provenance; clear errors for wrong inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from belamy.errors import BelamyError
from belamy.generate.loader import load_generator
from belamy.generate.sample import generate
from belamy.provenance import Record
from belamy.provenance.embed import read_provenance
from belamy.trainer.checkpoint import latest_checkpoint, save_checkpoint
from belamy.utils.imageio import file_sha256


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_same_run_checkpoint_and_seed_give_the_same_image(tiny_run: Path, tmp_path: Path):
    a = generate(tiny_run, tmp_path / "a", n=3, seed=10, device="cpu")
    b = generate(tiny_run, tmp_path / "b", n=2, seed=11, device="cpu")  # other batch size, overlapping seeds
    assert [p.name for p in a.images] == ["seed-000010.png", "seed-000011.png", "seed-000012.png"]
    assert np.array_equal(pixels(a.images[1]), pixels(b.images[0]))
    assert np.array_equal(pixels(a.images[2]), pixels(b.images[1]))
    assert not np.array_equal(pixels(a.images[0]), pixels(a.images[1]))
    assert pixels(a.images[0]).shape == (32, 32, 3)


def test_each_png_records_run_checkpoint_hash_and_seed(tiny_run: Path, tmp_path: Path):
    result = generate(tiny_run, tmp_path / "out", n=2, seed=7, grid=True, device="cpu")
    ckpt = latest_checkpoint(tiny_run / "checkpoints").with_suffix(".safetensors")
    prov = Record.from_dict(read_provenance(result.images[1]))
    assert prov.seed == 8
    assert prov.run == str(tiny_run)
    assert prov.checkpoint_sha256 == file_sha256(ckpt)
    assert prov.checkpoint == ckpt.name
    assert prov.corpus["count"] == 64
    assert prov.corpus["manifest_sha256"] == file_sha256(prov.corpus["path"] + "/manifest.jsonl")
    assert prov.code["design"].startswith("DCGAN") and "Robbie Barrat" in prov.code["design"]
    assert len(prov.generation["latent_sha256"]) == 64 and len(prov.model["config_sha256"]) == 64
    assert result.grid is not None and result.grid.exists()


def test_an_earlier_checkpoint_can_be_chosen(tiny_run: Path, tmp_path: Path):
    early = generate(tiny_run, tmp_path / "early", n=1, checkpoint="0.128", device="cpu")
    late = generate(tiny_run, tmp_path / "late", n=1, device="cpu")
    assert Record.from_dict(read_provenance(early.images[0])).model["kimg"] == pytest.approx(0.128)
    assert not np.array_equal(pixels(early.images[0]), pixels(late.images[0]))
    with pytest.raises(BelamyError, match="available: 0.128, 0.256"):
        generate(tiny_run, tmp_path / "x", n=1, checkpoint="99")


def test_checkpoint_of_another_architecture_is_a_clear_error(tiny_run: Path, tmp_path: Path):
    from belamy.trainer.checkpoint import load_checkpoint

    tensors, meta = load_checkpoint(latest_checkpoint(tiny_run / "checkpoints"))
    meta["model"]["res"] = 64  # claims 64² but holds 32² weights
    meta.pop("format"), meta.pop("version"), meta.pop("nimg")
    save_checkpoint(tmp_path / "odd" / "checkpoints", 256, tensors, meta)
    with pytest.raises(BelamyError, match="does not fit"):
        load_generator(tmp_path / "odd")


def test_damaged_checkpoint_is_a_clear_error(tiny_run: Path, tmp_path: Path):
    latest = latest_checkpoint(tiny_run / "checkpoints")
    latest.with_suffix(".safetensors").write_bytes(b"not really weights")
    with pytest.raises(BelamyError, match="damaged"):
        load_generator(tiny_run)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "{missing}", "--out", "{out}"], "no run or checkpoint"),
        (["generate", "{run}", "--out", "{out}", "--n", "0"], "--n 0"),
        (["train", "{missing}", "--out", "{out}"], "no corpus"),
        (["train", "{corpus}", "--out", "{out}", "--res", "100"], "not a power of two"),
        (["train", "{corpus}", "--out", "{run}"], "already holds a training run"),
        (["generate", "{run}", "--out", "{afile}/sub"], "cannot write"),
        (["train", "{corpus}", "--out", "{afile}/sub", "--res", "32"], "cannot write"),
        (["train", "{corpus}", "--out", "{out}", "--resume"], "nothing to resume"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(tiny_run: Path, tiny_corpus: Path, tmp_path: Path, args, message):
    afile = tmp_path / "a-file"
    afile.write_text("not a folder")
    values = {"missing": tmp_path / "nope", "out": tmp_path / "out", "run": tiny_run, "corpus": tiny_corpus, "afile": afile}
    argv = [a.format(**values) for a in args]
    result = subprocess.run([sys.executable, "-m", "belamy", *argv], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_run_json_describes_the_run(tiny_run: Path):
    info = json.loads((tiny_run / "run.json").read_text())
    assert info["arch"] == "dcgan" and info["model"]["nz"] == 16 and info["corpus"]["count"] == 64
