"""StyleGAN3 (-T and -R): NVlabs/stylegan3 pickles, built here in the reference's layout and armed
(their embedded source would leave a marker file if it ever ran), import as ``stylegan3`` runs; the
imported run then generates, walks, exports to ONNX, shows in the exhibit, distils, attributes and
fine-tunes (`train --init`)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_run, synthetic_portraits, tiny_train_options, write_corpus
from PIL import Image
from test_import import (
    ArmedSource,
    Persistent,
    install_fake_reference,
    nvlabs_discriminator,
    randomised,
    run_cli,
)
from torch import nn

from belamy.errors import BelamyError
from belamy.generate.loader import load_generator
from belamy.importers import import_model
from belamy.models.style import StyleDiscriminator
from belamy.models.stylegan3 import StyleGAN3Config, StyleGAN3Generator
from belamy.provenance.embed import read_provenance
from belamy.provenance.record import Record
from belamy.trainer import checkpoint as ck

# Tiny, but every part of the design: 4 layers (2 critically sampled), -R's radial filters on the others.
SIZES = dict(res=16, z_dim=8, w_dim=8, map_layers=2, channel_base=64, channel_max=8, num_layers=4, num_critical=2,
             margin_size=2, magnitude_ema_beta=0.998, d_channel_base=32, d_channel_max=8, mbstd_group=4)


def tiny_config(variant: str) -> StyleGAN3Config:
    r = variant == "r"
    # (output scales that give these random networks pictures with contrast, not saturated)
    return StyleGAN3Config(**SIZES, conv_kernel=1 if r else 3, use_radial_filters=r, output_scale=1.0 if r else 0.1)


def trained_like(G: StyleGAN3Generator, seed: int) -> StyleGAN3Generator:
    """Every weight and buffer away from its initial value, input magnitudes positive, as after training."""
    randomised(G, seed)
    with torch.no_grad():
        for layer in G.synthesis.layers:
            layer.magnitude_ema.abs_().add_(0.3)
    return G


class ReferenceNode(Persistent):
    """A torch_utils.persistence object of networks_stylegan3, with the numpy sizes its layers keep."""

    def __reduce__(self):
        fn, (meta,) = super().__reduce__()
        meta["state"]["size"] = np.broadcast_to(np.asarray(20), [2])
        meta["state"]["sampling_rate"] = np.float64(16.0)
        return fn, (meta,)


BUFFERS = {"w_avg", "transform", "freqs", "phases", "magnitude_ema", "up_filter", "down_filter"}
CLASSES = {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork", "input": "SynthesisInput"}


def reference_generator(G: StyleGAN3Generator, cfg: StyleGAN3Config, source: str) -> ReferenceNode:
    """belamy → networks_stylegan3 names (``mapping.fc<i>``, ``synthesis.L<i>_<size>_<channels>``), filters as buffers."""
    names = [f"L{i}_{layer.out_size}_{layer.out_channels}" for i, layer in enumerate(G.synthesis.layers)]
    tensors = {}
    for k, v in G.state_dict().items():
        k = re.sub(r"^mapping\.layers\.(\d+)\.", r"mapping.fc\1.", k)
        tensors[re.sub(r"^synthesis\.layers\.(\d+)\.", lambda m: f"synthesis.{names[int(m.group(1))]}.", k)] = v
    for name, layer in zip(names, G.synthesis.layers, strict=True):
        for kind in ("up_filter", "down_filter"):
            if getattr(layer, kind) is not None:
                tensors[f"synthesis.{name}.{kind}"] = getattr(layer, kind)
    kwargs = {"z_dim": cfg.z_dim, "c_dim": cfg.num_classes, "w_dim": cfg.w_dim, "img_resolution": cfg.res,
              "img_channels": 3, "mapping_kwargs": {"num_layers": cfg.map_layers}, "num_fp16_res": 4, "conv_clamp": 256,
              **{k: getattr(cfg, k) for k in ("channel_base", "channel_max", "num_layers", "num_critical", "margin_size",
                                              "conv_kernel", "use_radial_filters", "magnitude_ema_beta",
                                              "output_scale")}}
    root = ReferenceNode("Generator", source, kwargs)
    for name, value in tensors.items():
        node, *path = [root, *name.split(".")]
        for part in path[:-1]:
            if part not in node.children:
                node.children[part] = ReferenceNode(
                    CLASSES.get(part) or ("SynthesisLayer" if part[0] == "L" else "FullyConnectedLayer"), source)
            node = node.children[part]
        buffer = path[-1] in BUFFERS
        (node.buffers if buffer else node.params)[path[-1]] = (
            value.clone() if buffer else nn.Parameter(value.clone(), requires_grad=False))
    return root


def stylegan3_pickle(path: Path, cfg: StyleGAN3Config, source: str, edit=None):
    """A training snapshot as NVlabs/stylegan3 writes it: G, D (StyleGAN2's) and G_ema; the networks returned."""
    torch.manual_seed(0)  # the initial weights too: the same networks in every run of the tests
    G, G_ema = trained_like(StyleGAN3Generator(cfg), 1), trained_like(StyleGAN3Generator(cfg), 2)
    D = randomised(StyleDiscriminator(cfg.discriminator_config()), 3)
    snapshot = {"G": reference_generator(G, cfg, source), "D": nvlabs_discriminator(cfg.discriminator_config(), D, source),
                "G_ema": reference_generator(G_ema, cfg, source), "augment_pipe": None,
                "training_set_kwargs": {"path": "/data/portraits.zip", "resolution": cfg.res}}
    if edit is not None:
        edit(snapshot)
    with open(path, "wb") as f:
        pickle.dump(snapshot, f, protocol=4)
    return path, G, G_ema, D


@pytest.fixture
def armed(tmp_path, monkeypatch) -> ArmedSource:
    install_fake_reference(monkeypatch)
    return ArmedSource(tmp_path / "EXECUTED")


@pytest.mark.parametrize("variant", ["t", "r"])
def test_stylegan3_pickle_imports_without_running_its_source(armed, tmp_path, variant, one_torch_thread):
    cfg = tiny_config(variant)
    pkl, G, G_ema, D = stylegan3_pickle(tmp_path / f"stylegan3-{variant}.pkl", cfg, armed.source)
    with open(pkl, "rb") as f:  # armed: a plain pickle.load, with the reference's persistence module, runs it
        pickle.load(f)
    assert armed.marker.exists()
    armed.marker.unlink()

    result = import_model(pkl, tmp_path / "run")
    assert not armed.marker.exists()
    assert result.imported_from["format"] == "nvlabs-stylegan3-pkl" and result.imported_from["stylegan3_config"] == variant
    gen = load_generator(tmp_path / "run", device="cpu")
    assert gen.arch == "stylegan3" and gen.G.cfg == cfg
    z = gen.latents([3, 4])  # generate.py's seeds: np.random.RandomState(seed).randn(z_dim)
    assert torch.equal(z[0], torch.from_numpy(np.random.RandomState(3).randn(cfg.z_dim)).float())
    with torch.no_grad():
        for psi in (1.0, 0.7):
            x = gen.G.synthesize(z, truncation=psi)
            assert x.std() > 0.05 and torch.equal(x, G_ema.synthesize(z, truncation=psi))
        tensors, _ = ck.load_checkpoint(result.checkpoint)
        G2, D2 = StyleGAN3Generator(cfg), StyleDiscriminator(cfg.discriminator_config())
        ck.load_module_tensors("G", G2, tensors)
        ck.load_module_tensors("D", D2, tensors)
        assert torch.equal(G2.synthesize(z), G.synthesize(z))
        img = torch.randn(4, 3, 16, 16)
        assert torch.equal(D2(img), D(img))


def test_stylegan3_import_through_the_cli_then_generate(armed, tmp_path):
    pkl = stylegan3_pickle(tmp_path / "model.pkl", tiny_config("r"), armed.source)[0]
    proc = run_cli("import", str(pkl), "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "StyleGAN3" in proc.stderr and not armed.marker.exists()
    # Nothing in the file tells NVIDIA's releases from the user's own model: the note names both cases.
    assert "NVIDIA's released models" in proc.stderr and "your own terms apply" in proc.stderr
    from belamy.generate.sample import generate

    png = generate(tmp_path / "run", tmp_path / "imgs", n=1, seed=5, truncation=0.7, device="cpu").images[0]
    assert png.name == "seed-000005.png"
    drawn = np.asarray(Image.open(png).convert("RGB"))
    gen = load_generator(tmp_path / "run", device="cpu")
    with torch.no_grad():
        x = gen.synthesize(gen.latents([5]), truncation=0.7)
    expected = (x[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()  # gen_images.py's pixels
    assert np.array_equal(drawn, expected)
    record = Record.from_dict(read_provenance(png))  # the picture says where it came from
    assert "StyleGAN3" in record.code["design"] and record.model["parents"]["imported_from"]["file"] == "model.pkl"


def _other_filter(snapshot):
    layer = snapshot["G_ema"].children["synthesis"].children["L0_20_8"]
    layer.buffers["down_filter"] = layer.buffers["down_filter"].flip(0) * 1.01


def _unknown_option(snapshot):
    snapshot["G_ema"].kwargs["layer_kwargs_from_the_future"] = 3


@pytest.mark.parametrize("edit,message", [
    (_other_filter, "L0_20_8.down_filter is not the filter its settings design"),
    (_unknown_option, "sets layer_kwargs_from_the_future=3, which belamy's networks do not have"),
])
def test_a_stylegan3_pickle_belamy_does_not_compute_is_refused_by_name(armed, tmp_path, edit, message):
    pkl = stylegan3_pickle(tmp_path / "odd.pkl", tiny_config("t"), armed.source, edit=edit)[0]
    with pytest.raises(BelamyError, match=re.escape(message)):
        import_model(pkl, tmp_path / "run")
    assert not (tmp_path / "run" / "run.json").exists() and not armed.marker.exists()


# ----------------------------------------------------------------------------- the imported run at work


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sg3")
    with pytest.MonkeyPatch.context() as mp:
        install_fake_reference(mp)
        pkl = stylegan3_pickle(root / "sg3.pkl", tiny_config("t"), ArmedSource(root / "EXECUTED").source)[0]
        run = import_model(pkl, root / "run").run_dir
    assert not (root / "EXECUTED").exists()
    return run


def test_walk_and_onnx_export_of_a_stylegan3_run(imported, tmp_path, one_torch_thread):
    from test_export import ort_run
    from test_walk import read_video

    from belamy.export.onnx import export_onnx
    from belamy.walk.video import write_walk

    frames = read_video(write_walk(imported, tmp_path / "walk.mp4", "1,2", seconds=1, fps=4, loop=True, device="cpu"))
    assert frames.shape == (4, 16, 16, 3) and frames.std() > 5

    out = export_onnx(imported, tmp_path / "g.onnx", truncation=0.7, output="float")
    gen = load_generator(imported, device="cpu")
    for batch in (1, 3):  # the batch dimension is dynamic
        z = np.random.default_rng(batch).standard_normal((batch, 8)).astype(np.float32)
        with torch.no_grad():
            expected = gen.G.synthesize(torch.from_numpy(z), truncation=0.7, batch_invariant=False).numpy()
        got = ort_run(out, z)
        assert got.shape == (batch, 3, 16, 16) and expected.std() > 0.05
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_exhibit_frame_and_attribution_from_a_stylegan3_run(imported, tmp_path, one_torch_thread):
    from test_exhibit import decode, producer_for

    from belamy.attribute import attribute_images
    from belamy.generate.sample import generate

    frames = producer_for(imported, res=None).generator.next_frames()
    assert decode(frames[0]).shape == (16, 16, 3) and decode(frames[0]).std() > 5

    own = generate(imported, tmp_path / "own", n=1, seed=500, device="cpu").images
    other = tmp_path / "other.png"
    Image.fromarray(synthetic_portraits(1, 16, seed=99)[0]).save(other)
    elsewhere = random_run(tmp_path / "elsewhere", res=16, nz=8, ngf=4, ndf=4)  # another model's pictures calibrate
    results, _ = attribute_images([*own, other], imported, restarts=2, steps=8, references=2, reference_runs=[elsewhere],
                                  out=tmp_path / "attr")
    # The search through StyleGAN3's w+ finds the model's own picture far closer than a painting it never drew.
    rmse = {r.image.name: r.rmse for r in results}
    assert rmse[own[0].name] < 0.5 * rmse["other.png"], rmse
    assert all(r.reconstruction.is_file() for r in results)


def test_distil_a_stylegan3_teacher(imported, tmp_path, one_torch_thread):
    from belamy.distill import DistillOptions, distill

    result = distill(DistillOptions(teacher=imported, out=tmp_path / "student", kimg=0.032, batch=8, tick_kimg=0.016,
                                    device="cpu", truncation=0.7))
    assert not result.interrupted
    student = load_generator(result.run_dir, device="cpu")
    assert student.synthesize(student.latents([1])).shape == (1, 3, 16, 16)


def test_fine_tune_a_stylegan3_run(imported, tmp_path, one_torch_thread):
    from belamy.gan import train

    corpus = write_corpus(tmp_path / "corpus", synthetic_portraits(16, 16, seed=5))
    start = ck.load_checkpoint(ck.latest_checkpoint(imported / "checkpoints"))[0]
    options = tiny_train_options(corpus, tmp_path / "tuned", init=str(imported), arch=None, res=None, nz=None, ngf=None,
                                 ndf=None, batch=8, kimg=0.016, tick_kimg=0.016, snapshot_ticks=1, r1_interval=2,
                                 augment="none")
    tuned = ck.load_checkpoint(ck.latest_checkpoint(train(options).run_dir / "checkpoints"))[0]
    for key in ("G.mapping.layers.0.weight", "G.synthesis.layers.1.weight", "G.synthesis.input.weight",
                "D.blocks.0.conv1.weight"):
        assert not torch.equal(tuned[key], start[key]) and (tuned[key] - start[key]).abs().mean() < 0.1, key
    # The input-magnitude averages moved with the fakes shown to D, as the reference's do.
    assert not torch.equal(tuned["G.synthesis.layers.1.magnitude_ema"], start["G.synthesis.layers.1.magnitude_ema"])
