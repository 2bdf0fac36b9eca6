"""`belamy export --onnx`: ONNX Runtime draws what PyTorch draws, mapping network and truncation included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_run

from belamy.errors import BelamyError
from belamy.exhibit.engine import OnnxEngine, TorchEngine, make_engine
from belamy.export.onnx import export_onnx, read_export_meta
from belamy.generate.loader import load_generator


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory) -> Path:
    return random_run(tmp_path_factory.mktemp("export") / "dcgan", res=32, nz=16, ngf=8, ndf=8)


@pytest.fixture(scope="module")
def style_run(tmp_path_factory) -> Path:
    return random_run(tmp_path_factory.mktemp("export") / "style", "style", res=32, nz=32, w_dim=32, map_layers=2,
                      ngf=4, ndf=4, label_names=["portrait", "landscape", "still-life"])


def ort_run(path: Path, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"z": z} if labels is None else {"z": z, "labels": labels}
    return session.run(["image"], feeds)[0]


def test_dcgan_float_output_matches_pytorch(dcgan_run: Path, tmp_path: Path):
    out = export_onnx(dcgan_run, tmp_path / "g.onnx", truncation=0.8, output="float")
    gen = load_generator(dcgan_run, device="cpu")
    for batch in (1, 5):  # the batch dimension is dynamic
        z = np.random.default_rng(batch).standard_normal((batch, gen.z_dim)).astype(np.float32)
        expected = gen.synthesize(torch.from_numpy(z), truncation=0.8).numpy()
        got = ort_run(out, z)
        assert got.shape == (batch, 3, 32, 32) and expected.std() > 0.2
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_dcgan_uint8_output_is_pixels(dcgan_run: Path, tmp_path: Path):
    out = export_onnx(dcgan_run, tmp_path / "g.onnx")
    gen = load_generator(dcgan_run, device="cpu")
    z = np.random.default_rng(0).standard_normal((3, gen.z_dim)).astype(np.float32)
    got = ort_run(out, z)
    expected = TorchEngine(gen).render(z)
    assert got.dtype == np.uint8 and got.shape == (3, 32, 32, 3)
    assert np.abs(got.astype(int) - expected).max() <= 1  # rounding at .5 may differ
    meta = read_export_meta(out)
    assert meta["arch"] == "dcgan" and meta["z_dim"] == 16 and meta["num_classes"] == 0
    assert meta["checkpoint_sha256"] == gen.checkpoint_sha256


def test_style_model_with_labels_and_truncation_matches_pytorch(style_run: Path, tmp_path: Path):
    out = export_onnx(style_run, tmp_path / "s.onnx", truncation=0.7, output="float")
    gen = load_generator(style_run, device="cpu")
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, gen.z_dim)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
    labels[3] = [0.5, 0.5, 0.0]  # a blend of two classes, as the exhibit's walks use
    expected = gen.synthesize(torch.from_numpy(z), torch.from_numpy(labels), truncation=0.7).numpy()
    got = ort_run(out, z, labels)
    assert expected.std() > 0.1
    np.testing.assert_allclose(got, expected, atol=2e-3)
    meta = read_export_meta(out)
    assert meta["label_names"] == ["portrait", "landscape", "still-life"] and meta["truncation"] == 0.7


def test_truncation_is_baked_into_the_graph(style_run: Path, tmp_path: Path):
    # ψ = 0 puts every latent at the mean w: one image whatever z is; ψ = 1 does not.
    z = np.random.default_rng(1).standard_normal((3, 32)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[[0, 0, 0]]
    flat = ort_run(export_onnx(style_run, tmp_path / "p0.onnx", truncation=0.0), z, labels)
    free = ort_run(export_onnx(style_run, tmp_path / "p1.onnx", truncation=1.0), z, labels)
    assert np.abs(flat[0].astype(int) - flat[1]).max() <= 1 and np.abs(flat[0].astype(int) - flat[2]).max() <= 1
    assert np.abs(free[0].astype(int) - free[1]).mean() > 5


def test_onnx_engine_draws_what_the_torch_engine_draws(style_run: Path, tmp_path: Path):
    gen = load_generator(style_run, device="cpu")
    onnx_engine = make_engine(gen, "onnx", truncation=0.9)
    assert isinstance(onnx_engine, OnnxEngine)
    z = np.random.default_rng(2).standard_normal((2, 32)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[[2, 0]]
    a, b = TorchEngine(gen, 0.9).render(z, labels), onnx_engine.render(z, labels)
    assert a.shape == b.shape == (2, 32, 32, 3) and np.abs(a.astype(int) - b).max() <= 2
    assert make_engine(gen, "auto", truncation=0.9, batch=2).name in ("torch", "onnx")


def test_an_export_of_another_checkpoint_is_refused(dcgan_run: Path, style_run: Path, tmp_path: Path):
    other = export_onnx(dcgan_run, tmp_path / "other.onnx")
    with pytest.raises(BelamyError, match="another checkpoint"):
        make_engine(load_generator(style_run, device="cpu"), "onnx", onnx_model=other)


@pytest.mark.parametrize("name,kwargs,message", [
    ("g.onx", {}, "does not end in .onnx"),
    ("g.onnx", {"truncation": 5.0}, "--truncation 5"),
    ("g.onnx", {"output": "png"}, "output 'png'"),
])
def test_bad_export_options_are_clear_errors(dcgan_run: Path, tmp_path: Path, name, kwargs, message):
    with pytest.raises(BelamyError, match=message):
        export_onnx(dcgan_run, tmp_path / name, **kwargs)
    assert not list(tmp_path.iterdir())


def test_not_an_onnx_model_is_a_clear_error(tmp_path: Path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not a protobuf at all")
    with pytest.raises(BelamyError):
        read_export_meta(junk)
    with pytest.raises(BelamyError, match="no ONNX model"):
        read_export_meta(tmp_path / "missing.onnx")


def test_cli_export(dcgan_run: Path, tmp_path: Path):
    out = tmp_path / "cli.onnx"
    done = subprocess.run([sys.executable, "-m", "belamy", "export", str(dcgan_run), "--onnx", str(out),
                           "--truncation", "0.5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and read_export_meta(out)["truncation"] == 0.5
    bad = subprocess.run([sys.executable, "-m", "belamy", "export", str(tmp_path / "nope"), "--onnx", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no run or checkpoint" in bad.stderr and "Traceback" not in bad.stderr
