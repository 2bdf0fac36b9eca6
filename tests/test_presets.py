"""Presets: with no recipe given, `belamy train` picks the measured best for the device, says what it
chose, stores it in run.json, and a resumed run keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_train_options
from safetensors.torch import load_file

from belamy.errors import BelamyError
from belamy.gan import train
from belamy.gan.presets import PRESETS, choose
from belamy.trainer.checkpoint import latest_checkpoint

# The preset fills what these leave unset; they only keep the networks tiny (and are recorded as "yours").
TINY = dict(arch=None, res=32, ngf=4, ndf=8, nz=16, batch=16)


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run / "checkpoints").with_suffix(".safetensors")))


def test_no_recipe_on_a_cpu_trains_the_cpu_fast_preset_prints_and_stores_it(tiny_corpus, tmp_path, capsys,
                                                                              one_torch_thread):
    result = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.032, **TINY))
    info = run_json(result.run_dir)
    recipe = PRESETS["cpu-fast"].settings
    # the run trained with the preset's settings, except those given on the command line
    assert info["arch"] == recipe["arch"] == "fastgan"
    options = info["options"]
    for name, value in recipe.items():
        expected = TINY.get(name) if TINY.get(name) is not None else value
        assert options[name] == expected, name
    assert options["preset"] == "cpu-fast"
    assert info["preset"]["name"] == "cpu-fast" and info["preset"]["why"] == "auto on a CPU"
    assert info["preset"]["filled"] == {k: v for k, v in recipe.items() if TINY.get(k) is None}
    assert info["preset"]["yours"] == {"ngf": 4, "ndf": 8, "batch": 16}
    # the G average the recipe asks for is trained and saved
    assert any(k.startswith("G_ema.") for k in final_weights(result.run_dir))
    said = " ".join(capsys.readouterr().err.split())
    assert "preset cpu-fast (auto on a CPU): arch fastgan" in said
    assert f"augment {recipe['augment']}" in said and "yours: ngf 4, ndf 8, batch 16" in said


@pytest.mark.parametrize("res,budget,halves", [
    (64, {"kimg": None, "minutes": None}, True),  # the default 100 kimg
    (64, {"kimg": None, "minutes": 30}, True),
    (64, {"kimg": 60, "minutes": None}, True),
    (64, {"kimg": None, "minutes": 6}, False),  # the demo's budget
    (64, {"kimg": 40, "minutes": None}, False),
    (128, {"kimg": None, "minutes": 60}, False),
])
def test_a_long_64px_run_on_the_cpu_preset_halves_its_learning_rates(tiny_corpus, tmp_path, res, budget, halves):
    # Measured (docs/quality-per-compute.md): at 64² a constant rate drifts after 10 CPU minutes (~50 kimg)
    # and a rate that halves every 50 kimg does not; shorter runs and 128² do better without it.
    options = tiny_train_options(tiny_corpus, tmp_path / "run", **{**TINY, "res": res, **budget})
    options.fill_new_run_defaults()
    assert options.preset == "cpu-fast"
    assert options.get("lr_half_life_kimg") == (50.0 if halves else 0.0)  # 0: a constant rate
    assert ("lr_half_life_kimg" in options.preset_record["filled"]) == halves


def test_a_preset_run_resumes_with_its_recipe_and_continues_exactly(tiny_corpus, tmp_path, one_torch_thread):
    whole = train(tiny_train_options(tiny_corpus, tmp_path / "whole", kimg=0.064, **TINY))
    part = train(tiny_train_options(tiny_corpus, tmp_path / "part", kimg=0.032, **TINY))
    # resumed as `make demo` does (--preset auto, and no recipe): arch, widths, augmentation, average and
    # precision come back from the run
    resumed = train(tiny_train_options(tiny_corpus, tmp_path / "part", kimg=0.064, resume=True, arch=None,
                                       preset="auto", res=None, ngf=None, ndf=None, nz=None, batch=None))
    assert resumed.nimg == whole.nimg == 64
    assert run_json(part.run_dir)["options"] == {**run_json(whole.run_dir)["options"], "out": str(tmp_path / "part"),
                                                 "resume": True}
    assert run_json(part.run_dir)["preset"] == run_json(whole.run_dir)["preset"]
    a, b = final_weights(whole.run_dir), final_weights(resumed.run_dir)
    assert a.keys() == b.keys()
    for key in a:
        if key.startswith(("G.", "G_ema.", "D.")):
            assert torch.equal(a[key], b[key]), key
    with pytest.raises(BelamyError, match="made with --preset cpu-fast, not --preset classic"):
        train(tiny_train_options(tiny_corpus, tmp_path / "part", kimg=0.1, resume=True, arch=None, preset="classic"))


def test_precision_auto_without_native_bf16_trains_in_fp32_and_says_why(tiny_corpus, tmp_path, capsys, monkeypatch,
                                                                         one_torch_thread):
    import belamy.utils.device as device

    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: False)
    train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.016, **TINY))
    said = " ".join(capsys.readouterr().err.split())
    assert "precision auto -> fp32: this CPU has no native bf16" in said
    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: True)
    assert device.resolve_precision("auto", torch.device("cpu")) == torch.bfloat16


def test_an_architecture_chosen_by_hand_keeps_its_own_defaults(tiny_corpus, tmp_path, one_torch_thread):
    result = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.016))  # --arch dcgan, no --preset
    info = run_json(result.run_dir)
    assert "preset" not in info and info["options"]["preset"] is None
    assert info["options"]["augment"] == "none" and info["options"]["ema_kimg"] is None
    assert info["options"]["precision"] == "fp32"
    assert not any(k.startswith("G_ema.") for k in final_weights(result.run_dir))


def test_preset_choice_per_device_and_conflicts(tiny_corpus, tmp_path):
    assert choose("auto", "cpu")[0].name == "cpu-fast"
    assert choose("auto", "cuda")[0].name == "classic"
    assert choose("classic", "cpu")[0].settings == {"arch": "dcgan"}
    with pytest.raises(BelamyError, match="--preset cpu-fast trains --arch fastgan, not style"):
        train(tiny_train_options(tiny_corpus, tmp_path / "a", arch="style", preset="cpu-fast"))
    with pytest.raises(BelamyError, match="--preset nonsense is not valid"):
        train(tiny_train_options(tiny_corpus, tmp_path / "b", arch=None, preset="nonsense"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_train_help_names_the_presets():
    from typer.testing import CliRunner

    from belamy.cli import app

    text = " ".join(CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output.split())
    assert "--preset" in text
    for name in ("auto", *PRESETS):
        assert f"{name}:" in text


def test_no_recipe_with_a_loss_the_recipe_cannot_train_uses_an_architecture_that_can(tiny_corpus, tmp_path,
                                                                                     one_torch_thread):
    # `belamy train CORPUS --loss minimax` (the formula on the painting): the CPU recipe's fastgan has its
    # own loss, so the run is the DCGAN with its own defaults, not a refusal
    result = train(tiny_train_options(tiny_corpus, tmp_path / "run", kimg=0.016, **{**TINY, "loss": "minimax"}))
    info = run_json(result.run_dir)
    assert info["arch"] == "dcgan" and info["options"]["loss"] == "minimax"
    assert info["options"]["preset"] is None and not info.get("preset")
    # asked for by name, the same recipe refuses the loss in one line
    with pytest.raises(BelamyError, match="minimax"):
        train(tiny_train_options(tiny_corpus, tmp_path / "named", kimg=0.016,
                                 **{**TINY, "loss": "minimax", "preset": "cpu-fast"}))
