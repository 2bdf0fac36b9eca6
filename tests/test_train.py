"""Training: outputs an artist watches, checkpoints, exact resume, Ctrl-C, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_train_options
from PIL import Image
from safetensors.torch import load_file

from belamy.errors import BelamyError
from belamy.gan import train
from belamy.trainer.checkpoint import latest_checkpoint, list_checkpoints
from belamy.utils.atomic import read_jsonl


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run / "checkpoints").with_suffix(".safetensors")))


def test_run_writes_grids_checkpoints_and_metrics(tiny_run: Path):
    metrics = read_jsonl(tiny_run / "metrics.jsonl")
    assert [m["tick"] for m in metrics] == [1, 2, 3, 4]
    assert metrics[-1]["kimg"] == pytest.approx(0.256)
    for key in ("loss_G", "loss_D", "D_real", "D_fake", "img_per_s", "sec_per_kimg"):
        assert all(key in m for m in metrics)
    grids = sorted((tiny_run / "samples").glob("grid-*.png"))
    # the initial noise, then every 2 ticks
    assert [g.name for g in grids] == ["grid-000000000.png", "grid-000000128.png", "grid-000000256.png"]
    assert Image.open(grids[-1]).size[0] > 32
    ckpts = list_checkpoints(tiny_run / "checkpoints")
    assert [c.stem for c in ckpts] == ["ckpt-000000128", "ckpt-000000256"]
    meta = json.loads(ckpts[-1].read_text())
    assert meta["arch"] == "dcgan" and meta["model"]["res"] == 32 and meta["nimg"] == 256
    tensors = load_file(str(ckpts[-1].with_suffix(".safetensors")))
    assert any(k.startswith("opt_G.") for k in tensors) and "rng.main" in tensors
    run_info = json.loads((tiny_run / "run.json").read_text())
    assert run_info["options"]["ngf"] == 8
    assert Image.open(tiny_run / "curves.png").size[0] > 400


def test_training_changes_the_generator(tiny_corpus: Path, tmp_path: Path):
    """The networks learn: weights move and the losses are finite."""
    run = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.128)).run_dir
    metrics = read_jsonl(run / "metrics.jsonl")
    assert all(torch.isfinite(torch.tensor(m["loss_G"])) for m in metrics)
    torch.manual_seed(3)
    from belamy.models.dcgan import DCGANGenerator, dcgan_config

    fresh = DCGANGenerator(dcgan_config(32, 16, 8, 8)).state_dict()
    trained = final_weights(run)
    moved = [k for k, v in fresh.items() if not torch.equal(v, trained[f"G.{k}"])]
    assert len(moved) > len(fresh) // 2


def test_checkpoints_keep_only_the_newest(tiny_corpus: Path, tmp_path: Path):
    run = train(tiny_train_options(tiny_corpus, tmp_path / "run", snapshot_ticks=1, keep=2)).run_dir
    assert [c.stem for c in list_checkpoints(run / "checkpoints")] == ["ckpt-000000192", "ckpt-000000256"]
    assert len(list((run / "checkpoints").glob("*.safetensors"))) == 2


def test_resume_in_process_reproduces_the_uninterrupted_run(tiny_corpus: Path, tmp_path: Path):
    whole = train(tiny_train_options(tiny_corpus, tmp_path / "whole")).run_dir
    train(tiny_train_options(tiny_corpus, tmp_path / "split", kimg=0.128))
    split = train(tiny_train_options(tiny_corpus, tmp_path / "split", resume=True)).run_dir
    a, b = final_weights(whole), final_weights(split)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the metrics of the resumed run continue the first part's, one line per tick
    assert [m["tick"] for m in read_jsonl(split / "metrics.jsonl")] == [1, 2, 3, 4]


def test_resume_extends_a_finished_run(tiny_corpus: Path, tmp_path: Path):
    train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.128))
    result = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.192, resume=True))
    assert result.nimg == 192


def _train_cli(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "belamy", "train", str(corpus), "--out", str(out), "--res", "32", "--batch", "16",
            "--ngf", "8", "--ndf", "8", "--nz", "16", "--tick-kimg", "0.064", "--seed", "5", "--device", "cpu",
            "--grid-size", "4", *extra]


def _env() -> dict:
    env = dict(os.environ, BELAMY_QUIET="1", OMP_NUM_THREADS="1")
    return env


def _wait_for_checkpoint(ckpt_dir: Path, proc: subprocess.Popen, count: int = 1, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list_checkpoints(ckpt_dir)) < count:
        if proc.poll() is not None:
            raise AssertionError(f"training exited early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("no checkpoint appeared")
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_then_resume_reproduces_the_uninterrupted_run(tiny_corpus: Path, tmp_path: Path):
    kimg = "1.024"
    whole = tmp_path / "whole"
    subprocess.run(_train_cli(tiny_corpus, whole, "--kimg", kimg), check=True, env=_env(), capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cli(tiny_corpus, killed, "--kimg", kimg), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_checkpoint(killed / "checkpoints", proc, count=3)
    time.sleep(0.1)  # somewhere in the middle of a step or a write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    reached = json.loads(latest_checkpoint(killed / "checkpoints").read_text())["nimg"]
    assert reached < 1024, "the run finished before it was killed: make it longer"

    subprocess.run(_train_cli(tiny_corpus, killed, "--kimg", kimg, "--resume"), check=True, env=_env(), capture_output=True)
    a, b = final_weights(whole), final_weights(killed)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ticks = [m["tick"] for m in read_jsonl(killed / "metrics.jsonl")]
    assert ticks == sorted(ticks) and ticks[-1] == 16


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tiny_corpus: Path, tmp_path: Path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_train_cli(tiny_corpus, run, "--kimg", "50", "--snapshot-ticks", "1000"), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the first grid (at 0 kimg) shows that training has started
    deadline = time.monotonic() + 60
    while not (run / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "--resume" in err
    assert len(list_checkpoints(run / "checkpoints")) == 1
    result = subprocess.run(_train_cli(tiny_corpus, run, "--kimg", "0.512", "--resume"), env=_env(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_existing_run_is_not_overwritten(tiny_run: Path, tiny_corpus: Path):
    before = {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*")}
    with pytest.raises(BelamyError, match="--resume"):
        train(tiny_train_options(tiny_corpus, tiny_run))
    assert {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*")} == before


def test_resume_with_another_resolution_is_refused(tiny_run: Path, tiny_corpus: Path):
    with pytest.raises(BelamyError, match="--res 32"):
        train(tiny_train_options(tiny_corpus, tiny_run, res=64, resume=True))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"res": 48}, "not a power of two"),
        ({"res": 8}, "out of range"),
        ({"kimg": -1.0}, "--kimg"),
        ({"batch": 0}, "--batch"),
        ({"loss": "wasserstein"}, "--loss"),
        ({"res": 64}, "train at --res 32"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tiny_corpus: Path, tmp_path: Path, overrides, message):
    with pytest.raises(BelamyError, match=message):
        train(tiny_train_options(tiny_corpus, tmp_path / "run", **overrides))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_minimax_and_nonsaturating_generator_losses():
    from belamy.gan.losses import StepBatch, get_loss
    from belamy.trainer.stats import StatsCollector

    logits = torch.tensor([-2.0, 0.0, 3.0])
    D = lambda x, labels=None: x  # noqa: E731 - the 'images' are the logits themselves
    for kind, expected in (("minimax", torch.log(1 - torch.sigmoid(logits)).mean()),
                           ("nonsat", -torch.log(torch.sigmoid(logits)).mean())):
        stats = StatsCollector()
        fake = logits.clone().requires_grad_(True)
        loss = get_loss(kind)(None, D, None)
        loss.accumulate_gradients("Gmain", StepBatch(None, None, None, None, None, 0, {"fake": fake}), stats)
        assert stats.means()["loss_G"] == pytest.approx(expected.item(), abs=1e-5)
        # both push D(G(z)) up: the gradient on every fake logit is negative
        assert (fake.grad < 0).all()


def test_lr_half_life_halves_both_rates_as_images_pass_and_resumes_exactly(tiny_corpus: Path, tmp_path: Path):
    from conftest import belamy_cli, one_line_refusal

    def train_cli(out: str, kimg: str, *more: str):
        return belamy_cli("train", str(tiny_corpus), "--out", str(tmp_path / out), "--arch", "dcgan", "--res", "32",
                          "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch", "16", "--kimg", kimg, "--tick-kimg", "0.032",
                          "--grid-size", "4", "--device", "cpu", *more)

    for out, kimg, more in (("whole", "0.064", ("--lr-half-life-kimg", "0.032")),
                            ("part", "0.032", ("--lr-half-life-kimg", "0.032")), ("constant", "0.064", ())):
        done = train_cli(out, kimg, *more)
        assert done.returncode == 0, done.stderr
    resumed = train_cli("part", "0.064", "--resume")  # the half-life is kept without being given again
    assert resumed.returncode == 0, resumed.stderr

    def rates(out: str) -> list[float]:
        meta = json.loads(latest_checkpoint(tmp_path / out / "checkpoints").read_text())
        return [meta["optimizers"][name]["param_groups"][0]["lr"] for name in ("opt_G", "opt_D")]

    # the last of 4 steps of 16 images ran at 2e-4 halved 48/32 times, for G and D alike; without it, 2e-4
    assert rates("whole") == pytest.approx([2e-4 * 0.5 ** 1.5] * 2) and rates("constant") == [2e-4, 2e-4]
    whole, part, constant = final_weights(tmp_path / "whole"), final_weights(tmp_path / "part"), final_weights(tmp_path / "constant")
    assert all(torch.equal(whole[k], part[k]) for k in whole)  # resumed at the rates it would have had
    assert any(not torch.equal(whole[k], constant[k]) for k in whole if k.startswith("G."))
    assert json.loads((tmp_path / "part" / "run.json").read_text())["options"]["lr_half_life_kimg"] == 0.032
    one_line_refusal(train_cli("refused", "0.032", "--lr-half-life-kimg", "-5"), "--lr-half-life-kimg -5.0 is not valid")
