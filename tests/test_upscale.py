"""Upscaling: seamless tiles, any input mode, third-party weights via spandrel without torchvision, the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from belamy.errors import BelamyError
from belamy.models.rrdb import RRDBNet, SRConfig, passes_needed
from belamy.provenance import Record
from belamy.provenance.embed import read_provenance, save_png
from belamy.upscale.tiled import ramp, tile_layout, upscale_tiled
from belamy.upscale.upscaler import Upscaler, choose_upscaler, load_weights, upscale_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_image(size: int, seed: int = 0) -> np.ndarray:
    """A picture-like test image: random colours enlarged smoothly, so tiles see real structure."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8))
    return np.asarray(small.resize((size, size), Image.Resampling.BICUBIC))


def lively_rrdb(scale: int = 4, **cfg) -> RRDBNet:
    """A tiny RRDB net with random weights large enough that its output depends on the input."""
    torch.manual_seed(0)
    net = RRDBNet(SRConfig(scale=scale, **{"nf": 8, "nb": 1, "gc": 8, **cfg})).eval()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0.2)
            m.weight.data *= 0.5
    return net


def test_tiled_and_untiled_inference_match():
    net = lively_rrdb(residual=0, nf=16, nb=2, gc=16)
    nn.init.constant_(net.conv_last.bias, 0.5)
    image = smooth_image(96)
    whole = upscale_tiled(net, image, 4, tile=256, overlap=16, progress=False)
    tiled = upscale_tiled(net, image, 4, tile=48, overlap=16, progress=False)
    assert whole.shape == tiled.shape == (384, 384, 3)
    assert whole.std() > 5  # the network's output really varies, so the comparison means something
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_tiles_are_placed_exactly_and_blend_without_seams():
    # A network that is exactly nearest-neighbour ×2: any misplaced or badly weighted tile shows.
    image = smooth_image(100, seed=1)
    out = upscale_tiled(lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), image, 2, tile=32, overlap=8,
                        progress=False)
    expected = image.repeat(2, axis=0).repeat(2, axis=1)
    assert np.array_equal(out, expected)


def test_tile_layout_covers_everything_and_windows_never_vanish():
    for length, tile, overlap in ((100, 32, 8), (32, 32, 8), (20, 32, 8), (257, 64, 16), (1024, 256, 16)):
        size, starts = tile_layout(length, tile, overlap)
        assert size <= tile
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s : s + size] = True
        assert covered.all() and starts[0] == 0 and starts[-1] + size == length
        assert all(a + size - b >= overlap - 1 for a, b in zip(starts, starts[1:], strict=False))
    assert tile_layout(1024, 256, 16) == (218, [0, 202, 403, 604, 806])  # balanced, not 5 × 256
    w = ramp(64, 16, True, True)
    assert w.min() > 0 and w[32] == 1.0 and w[0] < 0.05 and np.allclose(w[:16], w[::-1][:16])
    assert ramp(64, 16, False, False).min() == 1.0  # image borders are not faded


def test_output_can_stream_into_a_memmap(tmp_path: Path):
    net = lively_rrdb(scale=2)
    image = smooth_image(48)
    target = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.uint8, shape=(96, 96, 3))
    upscale_tiled(net, image, 2, tile=24, overlap=8, out=target, progress=False)
    target.flush()
    in_memory = upscale_tiled(net, image, 2, tile=24, overlap=8, progress=False)
    assert np.array_equal(np.load(tmp_path / "out.npy"), in_memory)


def test_passes_before_the_final_resize():
    assert passes_needed(8268 / 256, 4) == 2  # 256 -> 1024 -> 4096 by the net, then Lanczos
    assert passes_needed(8, 4) == 1
    assert passes_needed(2, 4) == 1  # a ×4 pass, then reduced: sharper than Lanczos ×2
    assert passes_needed(16, 4) == 2
    assert passes_needed(8, 2) == 3
    assert passes_needed(1.0, 4) == 0


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16"])
def test_every_input_mode_is_upscaled_in_its_own_mode(mode: str):
    rgb = smooth_image(24)
    if mode == "RGBA":
        img = Image.fromarray(rgb).convert("RGBA")
        alpha = np.zeros((24, 24), np.uint8)
        alpha[:, 12:] = 255
        img.putalpha(Image.fromarray(alpha))
    elif mode == "I;16":
        img = Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint16) * 257)
    else:
        img = Image.fromarray(rgb).convert(mode)
    net = lively_rrdb(scale=2)
    up = Upscaler(name="test", scale=2, net=net)
    out = upscale_image(img, up, scale=4, tile=16, overlap=4, progress=False)
    assert out.size == (96, 96)
    assert out.mode == {"L": "L", "I;16": "L", "RGBA": "RGBA"}.get(mode, "RGB")
    if mode == "RGBA":
        a = np.asarray(out.getchannel("A"))
        assert a[:, :40].max() < 30 and a[:, 56:].min() > 225  # alpha enlarged separately, edge kept


def test_torchvision_stand_in_covers_every_spandrel_import():
    """If a spandrel upgrade imports more from torchvision, this fails instead of a user's upscale."""
    import importlib.util

    from belamy.upscale.thirdparty import TORCHVISION_NAMES

    root = Path(importlib.util.find_spec("spandrel").origin).parent
    found: dict[str, set[str]] = {}
    for source in root.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"^\s*import torchvision", text, re.M), f"{source} imports torchvision as a module"
        for module, names in re.findall(r"^\s*from (torchvision[\w.]*) import \(?([^)\n]+)", text, re.M):
            for name in names.split(","):
                found.setdefault(module, set()).add(name.split(" as ")[0].strip())
    assert found, "no torchvision imports found: has spandrel changed?"
    for module, names in found.items():
        assert names <= set(TORCHVISION_NAMES.get(module, ())), (module, names)


def test_spandrel_imports_without_leaving_a_fake_torchvision():
    from belamy.upscale.thirdparty import import_spandrel

    spandrel = import_spandrel()
    assert hasattr(spandrel, "ModelLoader")
    tv = sys.modules.get("torchvision")
    assert tv is None or not getattr(tv, "__belamy_stand_in__", False)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
@pytest.mark.parametrize("scale", [2, 4])
def test_third_party_esrgan_weights_load_and_upscale(tmp_path: Path, suffix: str, scale: int):
    # An ESRGAN in the Real-ESRGAN key layout (conv_first, body.N.rdb1.conv1, ...): what spandrel detects.
    net = lively_rrdb(scale=scale, gc=32, residual=0)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    path = tmp_path / f"esrgan-x{scale}{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)
    up = load_weights(path, "cpu")
    assert up.scale == scale and "ESRGAN" in up.name and up.provenance["weights"] == path.name
    image = smooth_image(40)
    out = upscale_image(Image.fromarray(image), up, scale=scale, tile=256, progress=False)
    assert out.size == (40 * scale, 40 * scale)
    with torch.no_grad():
        reference = net(torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255).clamp(0, 1)
    reference = (reference[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.abs(np.asarray(out).astype(int) - reference.astype(int)).max() <= 1


class Payload:
    def __reduce__(self):
        return (print, ("this code should never run",))


def test_weights_that_need_code_to_unpickle_are_refused(tmp_path: Path):
    path = tmp_path / "evil.pth"
    torch.save({"conv_first.weight": Payload()}, path)  # a real torch zip file with a code-running pickle
    with pytest.raises(BelamyError, match="cannot read weights"):
        load_weights(path, "cpu")


def test_unknown_architectures_and_files_are_clear_errors(tmp_path: Path):
    path = tmp_path / "mystery.safetensors"
    save_file({"foo.weight": torch.zeros(3, 3)}, str(path))
    with pytest.raises(BelamyError, match="not a model architecture"):
        load_weights(path, "cpu")
    with pytest.raises(BelamyError, match="weights not found"):
        load_weights(tmp_path / "missing.safetensors", "cpu")
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(BelamyError, match="unknown weights format"):
        load_weights(tmp_path / "w.onnx", "cpu")
    with pytest.raises(BelamyError, match="choose one"):
        choose_upscaler(model=tmp_path, weights=path)
    with pytest.raises(BelamyError, match="lanczos uses no --model"):
        choose_upscaler(weights=path, method="lanczos")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, timeout=120, env=env)


def test_cli_upscale_lanczos_keeps_provenance(tmp_path: Path):
    src = save_png(smooth_image(48), tmp_path / "seed.png", {"seed": 5, "run": "runs/x"})
    result = run_cli("upscale", str(src), "--out", str(tmp_path / "big.png"), "--scale", "2")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "big.png") as im:
        assert im.size == (96, 96)
    prov = Record.from_dict(read_provenance(tmp_path / "big.png"))
    step = prov.steps[-1]
    assert prov.seed == 5 and step["stage"] == "upscale" and step["scale"] == 2 and step["method"] == "lanczos"


def test_cli_upscale_with_weights(tmp_path: Path):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(24)).save(src)
    weights = tmp_path / "x2.safetensors"
    save_file({k: v.contiguous() for k, v in lively_rrdb(scale=2, gc=32, residual=0).state_dict().items()}, str(weights))
    result = run_cli("upscale", str(src), "--out", str(tmp_path / "big.tif"), "--scale", "4", "--weights", str(weights),
                     "--device", "cpu")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "big.tif") as im:
        assert im.size == (96, 96) and im.format == "TIFF"


@pytest.mark.parametrize(
    "extra",
    [["--scale", "3"], ["--method", "magic"], ["--tile", "4"], ["--weights", "nope.safetensors"],
     ["--method", "painting", "--model", "some-run"]],
    ids=["scale", "method", "tile", "weights", "painting-and-model"],
)
def test_cli_upscale_errors_are_one_line(tmp_path: Path, extra: list[str]):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(24)).save(src)
    result = run_cli("upscale", str(src), "--out", str(tmp_path / "big.png"), *extra)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "big.png").exists()


def test_cli_upscale_with_belamys_own_painting_weights(tmp_path: Path):
    from belamy.upscale.upscaler import PAINTING_WEIGHTS
    from belamy.utils.imageio import file_sha256

    weights = PAINTING_WEIGHTS.with_suffix(".safetensors")
    assert weights.stat().st_size < 10_000_000  # small enough to ship in the package
    trained = json.loads(PAINTING_WEIGHTS.read_text())["trained"]
    assert "public-domain" in trained["summary"] and trained["cpu_minutes"] > 0 and "portraits" in trained["corpus"]
    src = save_png(smooth_image(32), tmp_path / "seed.png", {"seed": 7, "run": "runs/x"})
    result = run_cli("upscale", str(src), "--out", str(tmp_path / "big.png"), "--scale", "8", "--method", "painting",
                     "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "with belamy painting-SR ×4" in result.stderr
    with Image.open(tmp_path / "big.png") as im:
        assert im.size == (256, 256)
    step = Record.from_dict(read_provenance(tmp_path / "big.png")).steps[-1]
    assert step["method"] == "belamy-painting-sr" and step["weights_sha256"] == file_sha256(weights)
    assert "public-domain portrait paintings" in step["architecture"]


def test_cli_upscale_missing_model_names_sr_train(tmp_path: Path):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(24)).save(src)
    result = run_cli("upscale", str(src), "--out", str(tmp_path / "big.png"), "--model", str(tmp_path / "no-such-run"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "`belamy sr train`" in result.stderr and "`belamy train`" not in result.stderr
    assert not (tmp_path / "big.png").exists()


def test_cli_upscale_reports_each_pass_and_the_lanczos_rest_truthfully(tmp_path: Path):
    from belamy.trainer.checkpoint import module_tensors, save_checkpoint

    run = tmp_path / "sr"
    net = lively_rrdb(scale=4)
    save_checkpoint(run / "checkpoints", 16, module_tensors("G", net), {"kind": "belamy-sr", "model": net.cfg.to_dict()})
    src = save_png(smooth_image(24), tmp_path / "in.png", {"seed": 1})
    result = run_cli("upscale", str(src), "--out", str(tmp_path / "big.png"), "--scale", "8", "--model", str(run),
                     "--device", "cpu", "--tile", "32", "--overlap", "8")
    assert result.returncode == 0, result.stderr
    log = " ".join(result.stderr.split())  # Rich may wrap at the pipe's width
    # ×8 with a ×4 network: one network pass (24 -> 96), then Lanczos for the last ×2 (96 -> 192).
    assert "pass 1 of 1: 24×24 -> 96×96 with belamy RRDB ×4" in log
    assert "then Lanczos: 96×96 -> 192×192" in log and "pass 2" not in log
    with Image.open(tmp_path / "big.png") as im:
        assert im.size == (192, 192)
