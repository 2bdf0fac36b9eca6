"""Weights finite enough to load but broken (absurd values, a negative BatchNorm variance) draw NaN or one
flat colour: every command that shows or writes pictures refuses them with one line naming the likely
cause, and writes nothing, instead of an all-black PNG with exit 0."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from conftest import random_run
from pix2pix_util import head_and_shoulders, random_pix2pix_run
from test_limits import cli

from belamy.trainer import checkpoint as ck

CAUSE = "absurd values, or a negative BatchNorm variance"


def broken(run: Path, key: str, value: float) -> Path:
    """``run`` with every value of its tensor ``key`` set to ``value`` (saved as a new checkpoint)."""
    path = ck.latest_checkpoint(run / "checkpoints")
    tensors, meta = ck.load_checkpoint(path)
    tensors[key] = torch.full_like(tensors[key], value)
    path.with_suffix(".safetensors").unlink()
    path.unlink()
    ck.save_checkpoint(run / "checkpoints", meta["nimg"], tensors,
                       {k: v for k, v in meta.items() if k not in ("format", "version", "nimg")})
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A DCGAN: its first BatchNorm's variance below zero (NaN), or its last layer's weights all zero (flat grey).
BROKEN = {"negative variance": ("G.main.1.running_var", -1.0, "NaN or infinite values"),
          "zero weights": ("G.main.6.weight", 0.0, "flat picture (every pixel 128)"),
          "absurd weights": ("G.main.0.weight", 3e38, "NaN or infinite values")}


@pytest.fixture(params=list(BROKEN))
def broken_run(request, tmp_path: Path) -> tuple[Path, str]:
    key, value, said = BROKEN[request.param]
    return broken(random_run(tmp_path / "run", res=16, nz=8, ngf=8, ndf=8), key, value), said


@pytest.mark.parametrize("command", ["generate", "walk", "exhibit", "eval"])
def test_a_generator_that_draws_nothing_is_refused_with_one_line(capsys, broken_run, tiny_corpus, tmp_path: Path,
                                                                command: str):
    run, said = broken_run
    out = tmp_path / "out"
    args = {"generate": ["generate", run, "--out", out, "--n", "2"],
            "walk": ["walk", run, "--out", out / "walk.mp4", "--seeds", "1,2", "--seconds", "1", "--fps", "4"],
            "exhibit": ["exhibit", run, "--engine", "torch", "--seed", "1", "--port", free_port()],
            "eval": ["eval", run, "--corpus", tiny_corpus, "--n", "16"]}[command]
    code, text = cli(capsys, *args, "--device", "cpu")
    assert code == 2, text
    assert said in text and CAUSE in text and len(text.splitlines()) == 1, text
    assert not list(out.rglob("*.png")) and not list(out.rglob("*.mp4"))
    assert not (run / "eval.jsonl").exists()  # nothing scored


def test_export_refuses_a_generator_that_draws_nothing(capsys, broken_run, tmp_path: Path):
    run, said = broken_run
    code, text = cli(capsys, "export", run, "--onnx", tmp_path / "g.onnx")
    assert code == 2 and said in text and CAUSE in text and len(text.splitlines()) == 1, text
    assert not list(tmp_path.glob("*.onnx"))


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_translate_and_a_pose_exhibit_refuse_a_pix2pix_run_that_paints_nothing(capsys, tmp_path: Path, engine: str):
    run = broken(random_pix2pix_run(tmp_path / "run", res=32), "G.down.0.0.weight", 3e38)
    head_and_shoulders(64).save(tmp_path / "sketch.png")
    code, text = cli(capsys, "translate", run, tmp_path / "sketch.png", "--out", tmp_path / "out", "--device", "cpu")
    assert code == 2 and CAUSE in text and len(text.splitlines()) == 1, text
    assert not list((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True
    (tmp_path / "poses").mkdir()
    head_and_shoulders(64).save(tmp_path / "poses" / "a.png")
    code, text = cli(capsys, "exhibit", run, "--poses", tmp_path / "poses", "--engine", engine, "--port", free_port(),
                     "--device", "cpu")
    assert code == 2 and CAUSE in text and len(text.splitlines()) == 1, text
