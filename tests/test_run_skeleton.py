"""The one run loop: a new architecture is one file, every task stops, resumes and checkpoints alike."""

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
from conftest import synthetic_portraits, tiny_train_options, write_corpus
from safetensors.torch import load_file

from belamy.errors import BelamyError
from belamy.gan import train
from belamy.trainer.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from belamy.trainer.stop import StopRequest
from belamy.utils.atomic import read_jsonl
from belamy.utils.lock import RunLock

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PLUGINS = Path(__file__).parent / "plugins"


def weights(run: Path, which: Path | None = None) -> dict[str, torch.Tensor]:
    path = which or latest_checkpoint(run / "checkpoints")
    return load_file(str(path.with_suffix(".safetensors")))


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class StopAfter(StopRequest):
    """Asks the loop to stop once ``steps`` steps have run, as Ctrl-C would."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    @property
    def requested(self) -> bool:
        self.steps -= 1
        return self.steps <= 0

    @requested.setter
    def requested(self, value: bool) -> None:
        pass


# ---------------------------------------------------------------------------- a new architecture in one file


def test_a_toy_architecture_in_one_file_trains_resumes_generates_and_exports(tiny_corpus: Path, tmp_path: Path):
    sys.path.insert(0, str(PLUGINS))
    import toy_arch  # noqa: F401 - the one registration line

    from belamy.export.onnx import export_onnx
    from belamy.generate.sample import generate

    settings = dict(arch="toy", res=16, nz=None, ngf=None, ndf=None, batch=8, tick_kimg=0.016, snapshot_ticks=1)
    whole = train(tiny_train_options(tiny_corpus, tmp_path / "whole", kimg=0.064, **settings))
    assert not whole.interrupted and whole.nimg == 64
    stopped = train(tiny_train_options(tiny_corpus, tmp_path / "split", kimg=0.064, **settings), stop=StopAfter(3))
    assert stopped.interrupted and stopped.nimg == 24
    resumed = train(tiny_train_options(tiny_corpus, tmp_path / "split", resume=True, **{**settings, "kimg": None}))
    assert resumed.nimg == 64  # the stored target, not a default
    assert_same(weights(whole.run_dir), weights(resumed.run_dir))

    out = generate(whole.run_dir, tmp_path / "pictures", n=3, seed=0, device="cpu")
    assert len(out.images) == 3
    onnx = export_onnx(whole.run_dir, tmp_path / "toy.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx))
    z = torch.randn(2, 8).numpy()
    assert session.run(None, {session.get_inputs()[0].name: z})[0].shape[:3] == (2, 16, 16)


def _belamy_with_plugins(*args: str, plugins: str = "toy_arch", where: Path = PLUGINS) -> subprocess.CompletedProcess:
    """The real `belamy` command with plug-ins named in BELAMY_PLUGINS (found on PYTHONPATH)."""
    path = os.pathsep.join(p for p in (str(where), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "BELAMY_PLUGINS": plugins, "PYTHONPATH": path, "BELAMY_QUIET": "1", "OMP_NUM_THREADS": "1",
           "COLUMNS": "250"}
    env.pop("BELAMY_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "belamy", *args], env=env, capture_output=True, text=True, timeout=300)


def _one_line_refusal(done: subprocess.CompletedProcess, message: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


def test_an_option_declared_in_the_toy_file_alone_is_a_flag_trains_resumes_and_is_refused_elsewhere(
        tiny_corpus: Path, tmp_path: Path):
    # tests/plugins/toy_arch.py declares --toy-depth next to its networks; nothing in belamy names it
    shown = _belamy_with_plugins("train", "--help")
    assert shown.returncode == 0 and "--toy-depth" in shown.stdout and "hidden layers of the generator" in shown.stdout

    def toy(out: str, *more: str) -> subprocess.CompletedProcess:
        return _belamy_with_plugins("train", str(tiny_corpus), "--out", str(tmp_path / out), "--arch", "toy",
                                    "--res", "16", "--batch", "8", "--tick-kimg", "0.016", "--grid-size", "4",
                                    "--device", "cpu", *more)

    for out, more in (("deep", ("--toy-depth", "2")), ("plain", ())):
        done = toy(out, "--kimg", "0.032", *more)
        assert done.returncode == 0, done.stderr
    deep, plain = weights(tmp_path / "deep"), weights(tmp_path / "plain")
    assert deep["G.net.2.weight"].shape == (deep["G.net.0.weight"].shape[0],) * 2 and "G.net.4.weight" in deep
    assert "G.net.4.weight" not in plain  # the option changed the network that trained
    run_json = json.loads((tmp_path / "deep" / "run.json").read_text())
    assert run_json["options"]["toy_depth"] == 2 and run_json["model"]["depth"] == 2

    resumed = toy("deep", "--kimg", "0.064", "--resume")  # the option is kept without being given again
    assert resumed.returncode == 0, resumed.stderr
    after = load_checkpoint(latest_checkpoint(tmp_path / "deep" / "checkpoints"))[1]
    assert after["nimg"] == 64 and after["model"]["depth"] == 2 and "G.net.4.weight" in weights(tmp_path / "deep")
    assert json.loads((tmp_path / "deep" / "run.json").read_text())["options"]["toy_depth"] == 2
    _one_line_refusal(toy("deep", "--kimg", "0.096", "--resume", "--toy-depth", "3"),
                      "was made with --toy-depth 2, not 3")
    assert load_checkpoint(latest_checkpoint(tmp_path / "deep" / "checkpoints"))[1]["nimg"] == 64

    _one_line_refusal(_belamy_with_plugins("train", str(tiny_corpus), "--out", str(tmp_path / "dcgan"), "--arch",
                                           "dcgan", "--toy-depth", "2", "--device", "cpu"),
                      "--toy-depth is not used by --arch dcgan with --loss nonsat (drop --toy-depth, or train --arch toy)")
    assert not (tmp_path / "dcgan" / "checkpoints").exists()


def test_a_plugin_that_does_not_load_is_one_line_and_exit_2(tmp_path: Path):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-written')\n")
    for plugins, says in (("no_such_plugin", "ModuleNotFoundError"), ("broken_plugin", "RuntimeError: half-written")):
        done = _belamy_with_plugins("train", "--help", plugins=plugins, where=tmp_path)
        _one_line_refusal(done, f"the plug-in {plugins} (from BELAMY_PLUGINS={plugins}) does not load")
        assert says in done.stderr


# ---------------------------------------------------------------------------- the loop's own duties


def test_a_resumed_run_keeps_its_stored_target_and_says_how_to_resume(tiny_corpus: Path, tmp_path: Path, capsys):
    first = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.128), stop=StopAfter(2))
    assert first.interrupted
    said = capsys.readouterr().err
    assert f"belamy train {tiny_corpus} --out {tmp_path / 'run'} --resume" in " ".join(said.split())
    again = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=None, resume=True))
    assert again.nimg == 128
    further = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.192, resume=True))
    assert further.nimg == 192


def test_checkpoints_by_wall_time_between_ticks_resume_exactly(tiny_corpus: Path, tmp_path: Path):
    # One tick for the whole run: only the time-based checkpoints fall in between.
    settings = dict(kimg=0.128, tick_kimg=1.0, snapshot_ticks=1)
    whole = train(tiny_train_options(tiny_corpus, tmp_path / "whole", checkpoint_minutes=0, **settings))
    timed = train(tiny_train_options(tiny_corpus, tmp_path / "timed", checkpoint_minutes=1e-6, keep=100, **settings))
    found = [int(json.loads(p.read_text())["nimg"]) for p in list_checkpoints(timed.run_dir / "checkpoints")]
    assert found == list(range(16, 129, 16)), found  # one after every step: the time had passed each time
    assert len(read_jsonl(timed.run_dir / "metrics.jsonl")) == 1  # they are not ticks
    assert_same(weights(whole.run_dir), weights(timed.run_dir))
    # resume from one written mid-tick: drop the later ones, go on, and land on the same weights
    for path in list_checkpoints(timed.run_dir / "checkpoints")[3:]:
        path.with_suffix(".safetensors").unlink()
        path.unlink()
    resumed = train(tiny_train_options(tiny_corpus, tmp_path / "timed", resume=True, checkpoint_minutes=0, **settings))
    assert resumed.nimg == 128
    assert_same(weights(whole.run_dir), weights(resumed.run_dir))


def test_a_time_budget_stops_the_run_and_survives_resume(tiny_corpus: Path, tmp_path: Path, capsys):
    budget = 0.01  # minutes
    first = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=None, minutes=budget, tick_kimg=0.016))
    assert not first.interrupted and first.nimg >= 16
    meta = load_checkpoint(latest_checkpoint(first.run_dir / "checkpoints"))[1]
    assert meta["train_seconds"] >= budget * 60
    assert json.loads((first.run_dir / "run.json").read_text())["options"]["minutes"] == budget
    again = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=None, resume=True))
    assert again.nimg == first.nimg  # the budget is spent: nothing more
    assert "already trained its 0.01 minutes" in " ".join(capsys.readouterr().err.split())
    longer = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=None, minutes=0.02, resume=True, tick_kimg=0.016))
    assert longer.nimg > first.nimg


def test_a_second_writer_is_refused_with_the_holders_pid(tiny_corpus: Path, tmp_path: Path):
    run = tmp_path / "run"
    with RunLock(run):
        with pytest.raises(BelamyError, match=f"being written by process {os.getpid()}"):
            train(tiny_train_options(tiny_corpus, run))
    assert not (run / "checkpoints").exists()
    assert train(tiny_train_options(tiny_corpus, run, kimg=0.032)).nimg == 32  # released: free again


def test_the_lock_dies_with_its_process(tmp_path: Path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from belamy.utils.lock import RunLock; "
                               f"RunLock(__import__('pathlib').Path({str(tmp_path / 'run')!r})).acquire(); "
                               "print('locked', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"locked"
    with pytest.raises(BelamyError, match=f"process {holder.pid}"):
        RunLock(tmp_path / "run").acquire()
    holder.kill()
    holder.wait()
    with RunLock(tmp_path / "run"):
        pass


def test_leftover_temporary_files_of_a_killed_run_are_removed(tiny_corpus: Path, tmp_path: Path):
    run = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.064)).run_dir
    stale = [run / "checkpoints" / ".ckpt-000000080.abc123.tmp.safetensors", run / "samples" / ".grid.x1.tmp.png",
             run / ".curves.y2.tmp.png"]
    for path in stale:
        path.write_bytes(b"half")
    train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.096, resume=True))
    assert not any(p.exists() for p in stale)


def test_a_diverging_run_stops_with_one_line_and_keeps_the_last_good_checkpoint(tiny_corpus: Path, tmp_path: Path):
    sys.path.insert(0, str(PLUGINS))
    import nan_loss  # noqa: F401 - registers --loss nan-after-3 (one file)

    with pytest.raises(BelamyError, match=r"diverged at 0\.\d+ kimg: loss_D is not finite.*ckpt-000000032"):
        train(tiny_train_options(tiny_corpus, tmp_path / "run", loss="nan-after-3", kimg=0.256, tick_kimg=0.032,
                                 snapshot_ticks=1))
    kept = weights(tmp_path / "run")
    assert all(torch.isfinite(v).all() for k, v in kept.items() if v.is_floating_point())
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["ckpt-000000032.json"]


def test_tensorboard_event_files_hold_the_metrics_line(tiny_run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list(tiny_run.glob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(tiny_run))
    acc.Reload()
    losses = acc.Scalars("Loss/loss_G")
    assert [round(e.step) for e in losses] == [64, 128, 192, 256]
    metrics = read_jsonl(tiny_run / "metrics.jsonl")
    assert losses[-1].value == pytest.approx(metrics[-1]["loss_G"], rel=1e-4)


# ---------------------------------------------------------------------------- SIGTERM for every task


def _sr_cmd(corpus: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "belamy", "sr", "train", str(corpus), "--out", str(out), "--nf", "8", "--nb", "1",
            "--gc", "8", "--ndf", "8", "--patch", "32", "--batch", "2", "--kimg", "100", "--tick-kimg", "0.004",
            "--snapshot-ticks", "1000", "--device", "cpu"]


def _distill_cmd(teacher: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "belamy", "distill", str(teacher), "--out", str(out), "--batch", "4", "--kimg", "100",
            "--tick-kimg", "0.008", "--device", "cpu"]


def _train_cmd(corpus: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "belamy", "train", str(corpus), "--out", str(out), "--res", "32", "--batch", "16",
            "--ngf", "8", "--ndf", "8", "--nz", "16", "--tick-kimg", "0.064", "--snapshot-ticks", "1000",
            "--kimg", "100", "--device", "cpu", "--grid-size", "4"]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["train", "sr", "distill"])
def test_sigterm_checkpoints_and_exits_cleanly_for_every_task(task: str, tmp_path: Path, tiny_run: Path):
    corpus = write_corpus(tmp_path / "corpus48", synthetic_portraits(8, 48))
    out = tmp_path / "stopped"  # (the tiny_run fixture lives in tmp_path / "run")
    cmd = {"train": lambda: _train_cmd(tiny_run.parent / "corpus", out),
           "sr": lambda: _sr_cmd(corpus, out),
           "distill": lambda: _distill_cmd(tiny_run, out)}[task]()
    env = dict(os.environ, BELAMY_QUIET="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists():  # a first tick: it is training
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no tick"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert list_checkpoints(out / "checkpoints")  # the last one written as it stopped


def test_the_option_names_come_from_the_registries():
    from typer.testing import CliRunner

    from belamy.cli import app

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400"})
    text = " ".join(result.output.split())
    for name in ("dcgan", "stylegan2 (StyleGAN2-ADA", "nonsat", "minimax", "stylegan2:", "--can-weight", "--r1-gamma"):
        assert name in text
    assert text.count("also --arch style") == 1  # the old name, said once
