"""CAN (--loss can): D names the styles, G is pushed toward images whose style it cannot name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import STYLE_NAMES, synthetic_styles, tiny_train_options, write_corpus
from safetensors.torch import load_file

from belamy.errors import BelamyError
from belamy.gan import train
from belamy.gan.losses.can import HEAD, RunStyleHead, normalized_entropy, style_ambiguity_loss
from belamy.trainer.checkpoint import list_checkpoints, resolve_checkpoint
from belamy.utils.atomic import read_jsonl

STYLE_ARCH = dict(arch="style", res=16, nz=16, w_dim=16, map_layers=1, ngf=4, ndf=4, batch=8)


@pytest.fixture
def styles(tmp_path: Path) -> Path:
    images, labels = synthetic_styles(48, 32)
    return write_corpus(tmp_path / "styles", images, labels)


def can_options(corpus: Path, out: Path, **overrides):
    return tiny_train_options(corpus, out, **{"loss": "can", "labels": "folder", **overrides})


def final_tensors(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(list_checkpoints(run / "checkpoints")[-1].with_suffix(".safetensors")))


# --------------------------------------------------------------------------- the loss itself


def test_style_ambiguity_is_the_cross_entropy_to_uniform_and_is_least_at_a_uniform_posterior():
    k = 7
    uniform, certain = torch.zeros(1, k), torch.tensor([[12.0] + [0.0] * (k - 1)])
    assert style_ambiguity_loss(uniform).item() == pytest.approx(np.log(k), abs=1e-5)
    assert style_ambiguity_loss(certain).item() > np.log(k) + 1
    assert normalized_entropy(uniform).item() == pytest.approx(1.0, abs=1e-6)
    assert normalized_entropy(certain).item() < 0.01
    # Descending it from a confident posterior ends at the uniform one: G is pushed away from every style.
    logits = torch.tensor([[4.0, -2.0, 1.0, 0.0, -1.0, 3.0, 0.5]], requires_grad=True)
    opt = torch.optim.SGD([logits], lr=1.0)
    for _ in range(300):
        opt.zero_grad()
        style_ambiguity_loss(logits).backward()
        opt.step()
    assert normalized_entropy(logits.detach()).item() > 0.999


# --------------------------------------------------------------------------- training, resume, outputs


def test_can_trains_a_dcgan_whose_discriminator_learns_the_styles(styles: Path, tmp_path: Path, one_torch_thread):
    run = train(can_options(styles, tmp_path / "run", kimg=0.384)).run_dir
    metrics = read_jsonl(run / "metrics.jsonl")
    # D's style head names the (easy, texture-defined) styles of real paintings well above chance (1/3) ...
    assert metrics[-1]["style_acc_real"] > 0.6
    # ... while the head's posterior on G's images is reported, as its normalised entropy.
    assert all(0.0 <= m["style_ambiguity_G"] <= 1.0 for m in metrics)
    tensors = final_tensors(run)
    assert any(k.startswith(HEAD + ".") for k in tensors)
    meta = json.loads(list_checkpoints(run / "checkpoints")[-1].read_text())
    assert meta["label_names"] == sorted(STYLE_NAMES)
    assert meta["model"].get("num_classes", 0) == 0  # G takes no class
    options = json.loads((run / "run.json").read_text())["options"]
    assert (options["loss"], options["can_weight"], options["label_noise"]) == ("can", 1.0, False)
    # The run's own D and head, loaded from the checkpoint (what the studio shows), name the paintings'
    # styles as in training (the tiny head has learned these 48 rather than textures in general).
    head = RunStyleHead(resolve_checkpoint(run, "latest"))
    images, truth = synthetic_styles(48, 32)
    probs = head.posterior(images[:24])
    assert probs.shape == (24, 3) and torch.allclose(probs.sum(dim=1), torch.ones(24), atol=1e-5)
    assert np.mean([head.names[i] == t for i, t in zip(probs.argmax(dim=1).tolist(), truth[:24], strict=True)]) > 0.6


def test_can_weight_reaches_the_generator(styles: Path, tmp_path: Path, one_torch_thread):
    runs = {w: train(can_options(styles, tmp_path / f"w{w}", kimg=0.032, tick_kimg=0.032, can_weight=w)).run_dir
            for w in (0.0, 5.0)}
    g0, g5 = final_tensors(runs[0.0]), final_tensors(runs[5.0])
    assert any(not torch.equal(g0[k], g5[k]) for k in g0 if k.startswith("G."))


FASTGAN_ARCH = dict(arch="fastgan", res=32, nz=16, ngf=4, ndf=4, batch=8, augment="none")


@pytest.mark.parametrize("arch", ["dcgan", "style", "fastgan"])
def test_can_resumes_exactly(styles: Path, tmp_path: Path, arch: str, one_torch_thread):
    settings = {"dcgan": dict(label_noise=True), "style": dict(label_noise=True, augment="diffaugment", **STYLE_ARCH),
                "fastgan": dict(FASTGAN_ARCH, style_augment=True)}[arch]
    whole = train(can_options(styles, tmp_path / "whole", kimg=0.128, tick_kimg=0.032, **settings)).run_dir
    train(can_options(styles, tmp_path / "split", kimg=0.064, tick_kimg=0.032, **settings))
    split = train(can_options(styles, tmp_path / "split", kimg=0.128, tick_kimg=0.032, resume=True,
                              **{k: v for k, v in settings.items() if k not in ("label_noise", "style_augment")})).run_dir
    a, b = final_tensors(whole), final_tensors(split)
    assert a.keys() == b.keys() and any(k.startswith(HEAD + ".") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # The studio's view of the run: its own D and style head give a posterior over the 3 styles.
    probs = RunStyleHead(resolve_checkpoint(split, "latest")).posterior(synthetic_styles(6, 32)[0])
    assert probs.shape == (6, 3) and torch.allclose(probs.sum(dim=1), torch.ones(6), atol=1e-5)


@pytest.mark.parametrize("style_augment", [False, True])
def test_style_augment_shows_the_style_head_alone_shifted_and_cut_out_paintings(styles: Path, tmp_path: Path,
                                                                               style_augment: bool, one_torch_thread,
                                                                               monkeypatch):
    from belamy.models.dcgan import DCGANDiscriminator as Discriminator

    seen: dict[str, list[torch.Tensor]] = {"real/fake": [], "style head": []}
    one_pass, features = Discriminator.logits_and_features, Discriminator.penultimate

    def record(kind, method):
        def recorded(self, x, *args, **kwargs):
            if torch.is_grad_enabled() and self.training:
                seen[kind].append(x.detach().clone())
            return method(self, x, *args, **kwargs)
        return recorded

    monkeypatch.setattr(Discriminator, "logits_and_features", record("real/fake", one_pass))
    monkeypatch.setattr(Discriminator, "penultimate", record("style head", features))
    run = train(can_options(styles, tmp_path / "run", kimg=0.064, tick_kimg=0.032, style_augment=style_augment)).run_dir
    assert json.loads((run / "run.json").read_text())["options"]["style_augment"] is style_augment

    def zero_share(x: torch.Tensor) -> torch.Tensor:  # a painting's pixels are k/127.5 - 1: never exactly 0
        return (x == 0).all(dim=1).flatten(1).float().mean(dim=1)

    # D's real/fake task (and G, through it) sees the paintings and G's images as they are ...
    assert seen["real/fake"] and all(zero_share(x).max() == 0 for x in seen["real/fake"])
    if not style_augment:  # ... and so does the head, on the real pass's features
        assert not seen["style head"]
    else:  # ... while the head sees, in a pass of its own, every painting with a hole cut out
        assert len(seen["style head"]) == 0.064 * 1000 // 16
        assert all(zero_share(x).min() > 0.05 for x in seen["style head"])


def test_a_can_style_run_with_ada_generates_exports_exhibits_walks_and_distils(styles: Path, tmp_path: Path, one_torch_thread):
    from belamy.distill import DistillOptions, distill
    from belamy.generate.sample import generate

    run = train(can_options(styles, tmp_path / "run", kimg=0.032, tick_kimg=0.016, augment="ada", **STYLE_ARCH)).run_dir
    written = generate(run, tmp_path / "out", n=3, device="cpu")
    assert len(written.images) == 3
    with pytest.raises(BelamyError, match="not class-conditional"):  # G takes no class, though D knows the styles
        generate(run, tmp_path / "out2", n=1, device="cpu", label="checks")
    student = distill(DistillOptions(teacher=run, out=tmp_path / "student", res=16, ngf=4, kimg=0.016, batch=8,
                                     tick_kimg=0.016, device="cpu")).run_dir
    assert len(generate(student, tmp_path / "out3", n=2, device="cpu").images) == 2
    # Export and the exhibit's engine: an unconditional model (no labels input), as PyTorch draws it.
    import onnxruntime as ort

    from belamy.exhibit.engine import make_engine
    from belamy.export.onnx import export_onnx, read_export_meta
    from belamy.generate.loader import load_generator

    onnx = export_onnx(run, tmp_path / "g.onnx", output="float")
    assert read_export_meta(onnx)["num_classes"] == 0
    gen = load_generator(run, device="cpu")
    z = np.random.default_rng(0).standard_normal((2, gen.z_dim)).astype(np.float32)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    np.testing.assert_allclose(session.run(["image"], {"z": z})[0], gen.synthesize(torch.from_numpy(z)).numpy(), atol=2e-3)
    frames = make_engine(gen, "torch").render(z, None)
    assert len(frames) == 2
    env = {**os.environ, "BELAMY_QUIET": "1"}
    walk = subprocess.run([sys.executable, "-m", "belamy", "walk", str(run), "--seeds", "0,1", "--seconds", "0.5",
                           "--fps", "4", "--out", str(tmp_path / "walk.gif")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert walk.returncode == 0, walk.stderr
    assert (tmp_path / "walk.gif").stat().st_size > 0


# --------------------------------------------------------------------------- refusals


def belamy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAMY_QUIET": "1"}
    env.pop("BELAMY_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "belamy", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.parametrize("extra, message", [
    ([], "--loss can needs the corpus's classes"),
    (["--labels", "label", "--arch", "dcgan", "--r1-gamma", "1"], "--r1-gamma is not used by --arch dcgan with --loss can"),
    (["--labels", "painter"], "no 'painter' label"),
    (["--labels", "folder", "--arch", "fastgan", "--label-noise"], "--label-noise is for the cross-entropy"),
])
def test_can_refuses_missing_labels_and_options_it_does_not_read_in_one_line(styles: Path, tmp_path: Path, extra, message):
    done = belamy("train", str(styles), "--out", "run", "--loss", "can", "--res", "32", *extra, cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_can_refuses_a_corpus_with_one_style_and_can_options_without_can(tmp_path: Path):
    images, _ = synthetic_styles(8, 32)
    one = write_corpus(tmp_path / "one", images, ["baroque"] * 8)
    with pytest.raises(BelamyError, match=r"gives only one class \('baroque'\).*--loss can needs two classes"):
        train(can_options(one, tmp_path / "run"))
    with pytest.raises(BelamyError, match="--can-weight is not used by --arch dcgan with --loss nonsat"):
        train(tiny_train_options(one, tmp_path / "run2", can_weight=2.0))
    with pytest.raises(BelamyError, match="--style-augment is not used by --arch dcgan with --loss nonsat"):
        train(tiny_train_options(one, tmp_path / "run2", style_augment=True))
    with pytest.raises(BelamyError, match="--can-weight"):
        train(can_options(one, tmp_path / "run3", can_weight=-1.0))
