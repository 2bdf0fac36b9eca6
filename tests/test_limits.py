"""Weights and configs read from files are checked before anything is allocated: absurd sizes, wrong
types and wrong shapes are one clear line and exit 2, never a huge allocation or 'internal error'."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import random_run
from PIL import Image
from safetensors.torch import save_file

from belamy.errors import BelamyError
from belamy.models import limits
from belamy.models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator, dcgan_config
from belamy.models.rrdb import RRDBNet, SRConfig
from belamy.models.style import StyleConfig, StyleDiscriminator, StyleGenerator, style_config
from belamy.trainer.checkpoint import module_tensors, save_checkpoint


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("limits")
    made = {"dcgan": random_run(root / "dcgan", "dcgan", res=16, nz=8, ngf=4, ndf=4),
            "style": random_run(root / "style", "style", res=16, nz=8, ngf=4, ndf=4, w_dim=8, map_layers=1,
                                channel_max=16)}
    cfg = SRConfig(scale=2, nf=4, nb=1, gc=4, ndf=4)
    save_checkpoint(root / "sr" / "checkpoints", 64, module_tensors("G", RRDBNet(cfg)),
                    {"kind": "belamy-sr", "arch": "rrdb", "model": cfg.to_dict()})
    made["sr"] = root / "sr"
    Image.new("RGB", (16, 16), (120, 60, 30)).save(root / "small.png")
    made["image"] = root / "small.png"
    return made


def edited_copy(run: Path, dest: Path, field: str, value) -> Path:
    """A copy of ``run`` whose checkpoint JSON has ``model[field] = value`` (``*``: the whole model entry)."""
    import shutil

    shutil.copytree(run, dest)
    json_path = next((dest / "checkpoints").glob("*.json"))
    meta = json.loads(json_path.read_text())
    if field == "*":
        meta["model"] = value
    else:
        meta["model"][field] = value
    json_path.write_text(json.dumps(meta))
    return dest


def cli(capsys, *args: str) -> tuple[int, str]:
    """`belamy ARGS` in this process, through the same entry point as the console script."""
    from belamy.cli import main

    argv = sys.argv
    sys.argv = ["belamy", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, (captured.err + captured.out).strip()


ABSURD = [
    ("dcgan", "ngf", 300_000, "ngf = 300000"),
    ("dcgan", "nz", 1_000_000_000, "nz = 1000000000"),
    ("dcgan", "nz", 1e9, "nz = 1000000000.0"),
    ("dcgan", "ndf", -4, "ndf = -4"),
    ("dcgan", "ngf", math.nan, "ngf = nan"),
    ("dcgan", "ngf", "4", "ngf = '4'"),
    ("dcgan", "ngf", 4.5, "ngf = 4.5"),
    ("dcgan", "ngf", [4], "ngf = [4]"),
    ("dcgan", "res", 17, "res = 17"),
    ("dcgan", "aspect", "9:9", "aspect = '9:9'"),
    ("dcgan", "*", [], "model config is a list"),
    ("style", "z_dim", 1_000_000_000, "z_dim = 1000000000"),
    ("style", "channel_max", 300_000, "channel_max = 300000"),
    ("style", "map_layers", -1, "map_layers = -1"),
    ("style", "conv_clamp", math.inf, "conv_clamp = inf"),
    ("style", "w_dim", "8", "w_dim = '8'"),
    ("style", "label_names", "abc", "label_names = 'abc'"),
    ("style", "*", None, "model config is a NoneType"),
    ("sr", "nb", 1e9, "nb = 1000000000.0"),
    ("sr", "nf", 300_000, "--nf 300000 is not valid"),
    ("sr", "gc", "4", "gc = '4'"),
    ("sr", "nf", [4], "nf = [4]"),
    ("sr", "*", "x", "SR model config is a str"),
]


@pytest.mark.parametrize(("kind", "field", "value", "says"), ABSURD, ids=[f"{k}-{f}-{v!r}" for k, f, v, _ in ABSURD])
def test_a_damaged_model_config_is_one_line_and_exit_2(runs, tmp_path, capsys, one_torch_thread, kind, field, value,
                                                      says):
    run = edited_copy(runs[kind], tmp_path / "run", field, value)
    if kind == "sr":
        args = ["upscale", runs["image"], "--out", tmp_path / "up.png", "--model", run, "--scale", "2",
                "--device", "cpu"]
    else:
        args = ["generate", run, "--out", tmp_path / "out", "--n", "1", "--device", "cpu"]
    code, output = cli(capsys, *args)
    assert code == 2, output
    assert output.count("\n") == 0 and output.startswith("error:") and says in output, output
    assert "internal error" not in output
    assert not (tmp_path / "out").exists() and not (tmp_path / "up.png").exists()


@pytest.mark.parametrize(("edit", "says"), [
    ({"arch": [1]}, "has no model description"),
    ({"kimg": "x"}, "kimg = 'x' is not valid"),
    ({"kimg": None, "nimg": "x"}, "nimg = 'x' is not valid"),
])
def test_damaged_checkpoint_fields_around_the_config_are_one_line_too(runs, tmp_path, capsys, one_torch_thread, edit,
                                                                      says):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["dcgan"], run)
    json_path = next((run / "checkpoints").glob("*.json"))
    meta = json.loads(json_path.read_text())
    for key, value in edit.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    json_path.write_text(json.dumps(meta))
    code, output = cli(capsys, "generate", run, "--out", tmp_path / "out", "--n", "1", "--device", "cpu")
    assert code == 2 and output.count("\n") == 0 and says in output, output


def test_the_console_script_gives_one_line_and_exit_2(runs, tmp_path):
    run = edited_copy(runs["dcgan"], tmp_path / "run", "ngf", 300_000)
    env = dict(os.environ, BELAMY_QUIET="1")
    done = subprocess.run([sys.executable, "-m", "belamy", "generate", str(run), "--out", str(tmp_path / "out"),
                           "--device", "cpu"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "ngf = 300000 is not valid" in done.stderr


@pytest.mark.parametrize("make", [
    lambda: DCGANConfig(res=16, ngf=4096, ndf=4096),
    lambda: dcgan_config(1024, 100, 4096, 4096),
    lambda: StyleConfig(res=1024, g_channel_base=4096 * 1024, d_channel_base=4096 * 1024, channel_max=4096),
    lambda: style_config(1024, nz=4096, w_dim=4096, map_layers=16, ngf=4096, ndf=4096, channel_max=4096),
    lambda: SRConfig(nf=256, nb=64, gc=128).validate(),
])
def test_a_config_over_the_parameter_limit_is_refused_before_any_layer_exists(make):
    with pytest.raises(BelamyError, match=r"parameters \(.* GB\), over belamy's limit of 250,000,000"):
        make()


def _count(*modules: torch.nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


@pytest.mark.parametrize("cfg", [
    DCGANConfig(res=16, nz=8, ngf=4, ndf=4),
    DCGANConfig(res=64, nz=100, ngf=32, ndf=16, aspect="4:5"),
    DCGANConfig(res=32, nz=16, ngf=8, ndf=8, num_classes=3, label_names=("a", "b", "c")),
    style_config(16, nz=8, ngf=4, ndf=4, w_dim=8, map_layers=1, channel_max=16),
    style_config(64, aspect="3:4", label_names=["a", "b"]),
    SRConfig(scale=2, nf=8, nb=1, gc=8),
    SRConfig(scale=4),
], ids=lambda c: type(c).__name__)
def test_the_parameter_count_is_a_close_lower_bound(cfg):
    """The arithmetic the limit is checked with must follow the real networks (so a layer change shows here)."""
    if isinstance(cfg, DCGANConfig):
        real = _count(DCGANGenerator(cfg), DCGANDiscriminator(cfg))
    elif isinstance(cfg, StyleConfig):
        real = _count(StyleGenerator(cfg), StyleDiscriminator(cfg))
    else:
        real = _count(RRDBNet(cfg))
    assert 0.85 * real <= cfg.weight_count() <= real


def test_third_party_weights_of_the_wrong_shape_name_the_first_tensor_in_one_line(tmp_path, capsys, runs):
    net = RRDBNet(SRConfig(scale=2, nf=8, nb=2, gc=4, residual=0))
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    for key in list(state)[3:8]:  # five tensors of the wrong shape: PyTorch reports dozens of lines
        state[key] = torch.zeros(*[s + 1 for s in state[key].shape])
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    code, output = cli(capsys, "upscale", runs["image"], "--out", tmp_path / "up.png", "--weights", path,
                       "--device", "cpu")
    assert code == 2 and output.count("\n") == 0, output
    assert "first mismatch: " in output and ".weight is [" in output and "more problem" in output


def test_every_belamy_error_is_one_line():
    err = BelamyError("cannot build it: Error(s) in loading:\n\tsize mismatch for a\n\tsize mismatch for b", "x\ny")
    assert "\n" not in str(err) and str(err).startswith("cannot build it: Error(s) in loading:")
    assert "[and 2 more line(s)]" in str(err)


def test_limits_checks_types_strictly():
    for bad in (True, 4.0, "4", None, [4], math.nan):
        with pytest.raises(BelamyError, match="expected a whole number"):
            limits.whole("ngf", bad, 1, 4096)
    assert limits.whole("ngf", 4, 1, 4096) == 4
    for bad in (math.nan, math.inf, -math.inf, "1", True):
        with pytest.raises(BelamyError, match="expected a number"):
            limits.number("conv_clamp", bad, 0.001, 1e9, allow_none=True)
    assert limits.number("conv_clamp", None, 0.001, 1e9, allow_none=True) is None


def test_a_checkpoint_whose_json_is_not_an_object_and_a_wrong_shape_are_one_line(runs, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["dcgan"], run)
    json_path = next((run / "checkpoints").glob("*.json"))
    meta = json.loads(json_path.read_text())
    json_path.write_text("[1, 2, 3]")
    code, output = cli(capsys, "generate", run, "--out", tmp_path / "out", "--device", "cpu")
    assert code == 2 and output.count("\n") == 0 and "is not a belamy checkpoint" in output, output
    meta["model"]["ngf"] = 5  # a valid config the weights do not fit
    json_path.write_text(json.dumps(meta))
    code, output = cli(capsys, "generate", run, "--out", tmp_path / "out", "--device", "cpu")
    assert code == 2 and output.count("\n") == 0, output
    assert "first mismatch: main.0.weight is [8, 8, 4, 4] in the file, the network expects [8, 10, 4, 4]" in output
