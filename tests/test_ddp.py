"""Multi-process training with torchrun (two gloo processes on the CPU): one run, identical weights,
for both architectures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import synthetic_portraits, synthetic_styles, write_corpus
from safetensors.torch import load_file

from belamy.trainer.checkpoint import list_checkpoints

TORCHRUN = Path(sys.executable).with_name("torchrun")


ARCH_FLAGS = {"style": ["--map-layers", "1"], "dcgan": []}


def _torchrun(corpus: Path, out: Path, kimg: str, *extra: str, sums: Path, arch: str = "style") -> subprocess.CompletedProcess:
    command = [str(TORCHRUN) if TORCHRUN.exists() else shutil.which("torchrun") or "torchrun",
               "--nproc_per_node", "2", "--standalone", "-m", "belamy", "train", str(corpus), "--out", str(out),
               "--arch", arch, "--res", "16", "--ngf", "4", "--ndf", "4", "--nz", "16", *ARCH_FLAGS[arch],
               "--batch", "8", "--kimg", kimg, "--tick-kimg", "0.016", "--device", "cpu", "--grid-size", "4", *extra]
    env = dict(os.environ, BELAMY_QUIET="1", OMP_NUM_THREADS="1", BELAMY_RANK_CHECKSUMS=str(sums))
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)


@pytest.mark.slow
@pytest.mark.parametrize("arch, loss", [("style", None), ("dcgan", None), ("dcgan", "can")])
def test_two_processes_train_one_run_with_identical_weights(tmp_path: Path, arch: str, loss: str | None):
    if loss == "can":  # CAN's style head (a module of the loss, trained with D) must stay identical on every rank too
        images, labels = synthetic_styles(32, 16)
        corpus = write_corpus(tmp_path / "corpus", images, labels)
        flags = ("--loss", "can", "--labels", "folder", "--label-noise")
    else:
        corpus, flags = write_corpus(tmp_path / "corpus", synthetic_portraits(32, 16)), ()
    run = tmp_path / "run"
    result = _torchrun(corpus, run, "0.032", *flags, sums=tmp_path / "sums", arch=arch)
    assert result.returncode == 0, result.stderr[-3000:]
    # every rank ends with the same weights (G, D and G_ema), checked by each rank's own checksum
    sums = sorted((tmp_path / "sums").glob("rank*.sha256"))
    assert [p.name for p in sums] == ["rank0.sha256", "rank1.sha256"]
    assert sums[0].read_text() == sums[1].read_text()
    # one set of files, written once
    ckpts = list_checkpoints(run / "checkpoints")
    assert [c.stem for c in ckpts] == ["ckpt-000000016", "ckpt-000000032"]
    assert json.loads((run / "run.json").read_text())["world_size"] == 2
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["tick"] for m in metrics] == [1, 2]
    tensors = load_file(str(ckpts[-1].with_suffix(".safetensors")))
    assert "rng.main" in tensors and "rng.rank1" in tensors  # both ranks' random streams, for resume
    assert len(json.loads(ckpts[-1].read_text())["data_ranks"]) == 2

    if loss == "can":
        assert any(k.startswith("can_head.") for k in tensors)
    resumed = _torchrun(corpus, run, "0.048", "--resume", sums=tmp_path / "sums2", arch=arch)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert list_checkpoints(run / "checkpoints")[-1].stem == "ckpt-000000048"
    sums2 = sorted((tmp_path / "sums2").glob("rank*.sha256"))
    assert sums2[0].read_text() == sums2[1].read_text()
