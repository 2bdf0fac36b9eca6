"""Weights holding NaN or infinity are refused when loaded, with one line naming the first bad tensor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from test_upscale import lively_rrdb

from belamy.trainer import checkpoint as ck


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BELAMY_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, timeout=120, env=env)


def poison(run: Path, key_part: str, value: float) -> str:
    path = ck.latest_checkpoint(run / "checkpoints")
    tensors, meta = ck.load_checkpoint(path)
    key = next(k for k in sorted(tensors) if key_part in k and tensors[k].is_floating_point())
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = value
    path.with_suffix(".safetensors").unlink()
    path.unlink()
    ck.save_checkpoint(run / "checkpoints", meta["nimg"], tensors, {k: v for k, v in meta.items()
                                                                    if k not in ("format", "version", "nimg")})
    return key


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_generate_refuses_a_checkpoint_with_non_finite_weights(tiny_run: Path, tmp_path: Path, value: float):
    key = poison(tiny_run, "G.main", value)
    result = run_cli("generate", str(tiny_run), "--n", "2", "--out", str(tmp_path / "out"), "--device", "cpu")
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "holds NaN or infinite values" in last and key in last
    assert not list((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True


def test_resume_refuses_a_non_finite_checkpoint(tiny_run: Path, tiny_corpus: Path):
    from conftest import tiny_train_options

    from belamy.errors import BelamyError
    from belamy.gan import train

    poison(tiny_run, "opt_D", float("nan"))  # optimizer moments too: a resumed run would be NaN at once
    with pytest.raises(BelamyError):
        train(tiny_train_options(tiny_corpus, tiny_run, kimg=0.512, resume=True))


def test_upscale_refuses_third_party_weights_with_non_finite_values(tmp_path: Path):
    src = tmp_path / "in.png"
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(src)
    state = {k: v.contiguous().clone() for k, v in lively_rrdb(scale=2, gc=32, residual=0).state_dict().items()}
    first = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    state[first].view(-1)[3] = float("nan")
    save_file(state, str(tmp_path / "x2.safetensors"))
    result = run_cli("upscale", str(src), "--out", str(tmp_path / "big.png"), "--scale", "2", "--weights",
                     str(tmp_path / "x2.safetensors"), "--device", "cpu")
    assert result.returncode == 2, result.stderr
    assert "holds NaN or infinite values" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "big.png").exists()


def test_an_sr_run_with_non_finite_weights_is_refused(tmp_path: Path):
    from belamy.errors import BelamyError
    from belamy.models.rrdb import SRConfig
    from belamy.upscale.upscaler import SR_FORMAT, load_sr_run

    net = lively_rrdb(scale=2)
    tensors = {f"G.{k}": v.clone() for k, v in net.state_dict().items()}
    tensors[sorted(tensors)[0]].view(-1)[0] = float("-inf")
    ck.save_checkpoint(tmp_path / "sr" / "checkpoints", 16, tensors,
                       {"kind": SR_FORMAT, "arch": "rrdb", "model": SRConfig(scale=2, nf=8, nb=1, gc=8).to_dict()})
    with pytest.raises(BelamyError, match="NaN or infinite"):
        load_sr_run(tmp_path / "sr", device="cpu")
    assert torch.isfinite(net.state_dict()[sorted(net.state_dict())[0]]).all()
