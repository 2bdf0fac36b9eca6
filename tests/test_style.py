"""The style-based GAN: shapes at every resolution and aspect, deterministic generation,
truncation, style mixing, class conditioning, training with G_ema/R1/ADA, exact resume, --init."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_portraits, tiny_train_options, write_corpus
from safetensors.torch import load_file

from belamy.errors import BelamyError
from belamy.gan import train
from belamy.models.registry import get_architecture
from belamy.models.style import StyleDiscriminator, StyleGenerator, style_config
from belamy.provenance.record import Record
from belamy.trainer.checkpoint import latest_checkpoint
from belamy.utils.atomic import read_jsonl


def tiny_cfg(res=16, **kw):
    settings = dict(res=res, nz=16, ngf=4, ndf=4, w_dim=16, map_layers=1, channel_max=32)
    settings.update(kw)
    return style_config(**settings)


def style_options(corpus: Path, out: Path, **overrides):
    settings = dict(arch="style", res=16, ngf=4, ndf=4, nz=16, w_dim=16, map_layers=1, channel_max=32, batch=8,
                    kimg=0.064, tick_kimg=0.032, snapshot_ticks=1, grid_size=4, r1_interval=2)
    settings.update(overrides)
    return tiny_train_options(corpus, out, **settings)


@pytest.fixture(scope="module")
def style_corpus(tmp_path_factory) -> Path:
    """32 portraits at 32², two classes in the manifest's 'label' field."""
    root = tmp_path_factory.mktemp("style-corpus")
    return write_corpus(root / "corpus", synthetic_portraits(32, 32, seed=1), labels=["warm", "cool"] * 16)


@pytest.fixture(scope="module")
def style_run(style_corpus: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("style-run") / "run"
    return train(style_options(style_corpus, out, metric_kimg=0.032, metric_n=16)).run_dir


@pytest.mark.parametrize("res", [64, 128, 256])
def test_generator_and_discriminator_run_at_each_resolution(res):
    # Narrow widths keep this fast; the layer structure is the one of the default widths.
    cfg = style_config(res=res, channel_base=512 * res // 64, channel_max=64, nz=32, w_dim=32)
    G, D = StyleGenerator(cfg), StyleDiscriminator(cfg)
    with torch.no_grad():
        img = G(torch.randn(1, 32))
        assert img.shape == (1, 3, res, res)
        assert D(img).shape == (1,)
    assert G.num_ws == 2 * int(np.log2(res)) - 2


@pytest.mark.parametrize("res", [512, 1024])
def test_large_resolutions_build_with_config_f_widths(res):
    cfg = style_config(res=res)
    assert cfg.channel_max == 512 and cfg.g_channels(4) == 512 and cfg.g_channels(res) == 32768 // res
    with torch.device("meta"):
        G, D = StyleGenerator(cfg), StyleDiscriminator(cfg)
        img = G(torch.randn(1, cfg.z_dim), noise_mode="const")
        assert img.shape == (1, 3, res, res)
        assert D(img).shape == (1,)
    assert sum(p.numel() for p in G.parameters()) > 20e6  # config-f class, not a toy


def test_defaults_are_small_at_64_and_grow():
    small, big = style_config(64), style_config(256)
    assert small.map_layers == 2 and big.map_layers == 8
    assert small.g_channels(64) < big.g_channels(64)


@pytest.mark.parametrize(("aspect", "shape"), [("4:5", (40, 32)), ("3:4", (32, 24)), ("1:1", (32, 32))])
def test_portrait_aspects_start_from_a_non_square_grid(aspect, shape):
    cfg = tiny_cfg(32, aspect=aspect)
    G, D = StyleGenerator(cfg), StyleDiscriminator(cfg)
    img = G(torch.randn(2, 16))
    assert img.shape[2:] == shape
    assert D(img).shape == (2,)
    # the discriminator's last stage works on the same start grid as the generator's first
    assert G.synthesis.blocks[0].const.shape[1:] == cfg.start


def test_const_noise_is_deterministic_and_random_noise_is_not():
    torch.manual_seed(0)
    G = StyleGenerator(tiny_cfg())
    with torch.no_grad():
        G.synthesis.blocks[1].conv1.noise_strength.fill_(0.5)
        z = torch.randn(2, 16)
        assert torch.equal(G.synthesize(z), G.synthesize(z))
        a = G(z, noise_mode="random", generator=torch.Generator().manual_seed(1))
        b = G(z, noise_mode="random", generator=torch.Generator().manual_seed(2))
        c = G(z, noise_mode="random", generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a, b) and torch.equal(a, c)


def test_truncation_pulls_toward_the_average_image():
    torch.manual_seed(0)
    G = StyleGenerator(tiny_cfg())
    with torch.no_grad():
        G(torch.randn(64, 16), update_w_avg=True)  # track some w_avg
        assert G.mapping.w_avg.abs().sum() > 0
        z = torch.randn(4, 16)
        at_mean = G.synthesize(z, truncation=0.0)
        assert torch.allclose(at_mean[0], at_mean[3], atol=1e-5)  # ψ = 0: every z gives the mean image
        full, half = G.synthesize(z), G.synthesize(z, truncation=0.5)
    assert full.std(dim=0).mean() > half.std(dim=0).mean() > at_mean.std(dim=0).mean()


def test_style_mixing_takes_coarse_styles_from_the_first_latent():
    torch.manual_seed(0)
    G = StyleGenerator(tiny_cfg(32))
    z1, z2 = torch.randn(2, 16), torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(G.mix(z1, z2, crossover=G.num_ws), G.synthesize(z1), atol=1e-5)
        assert torch.allclose(G.mix(z1, z2, crossover=0), G.synthesize(z2), atol=1e-5)
        mixed = G.mix(z1, z2, crossover=2)
    assert not torch.allclose(mixed, G.synthesize(z1)) and not torch.allclose(mixed, G.synthesize(z2))
    with pytest.raises(BelamyError, match="crossover"):
        G.mix(z1, z2, crossover=99)


def test_class_conditioning_changes_images_and_scores():
    torch.manual_seed(0)
    cfg = tiny_cfg(label_names=["a", "b", "c"])
    G, D = StyleGenerator(cfg), StyleDiscriminator(cfg)
    z = torch.randn(1, 16).repeat(3, 1)
    with torch.no_grad():
        img = G.synthesize(z, torch.tensor([0, 1, 2]))
        assert not torch.allclose(img[0], img[1])
        same = img[:1].repeat(3, 1, 1, 1)
        scores = D(same, torch.tensor([0, 1, 2]))
    assert len(set(scores.tolist())) == 3  # the projection head scores one image differently per class
    with pytest.raises(BelamyError, match="label"):
        G(z)


def test_registry_builds_style_with_extra_options():
    arch = get_architecture("style")
    cfg = arch.make_config(res=32, nz=16, ngf=4, ndf=4, w_dim=8, map_layers=3, aspect="4:5", unknown_option=1)
    assert cfg.map_layers == 3 and cfg.w_dim == 8 and cfg.shape == (40, 32)
    assert arch.config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(BelamyError, match="aspect"):
        arch.make_config(res=32, aspect="16:9")


def test_style_training_writes_ema_metrics_and_best(style_run: Path):
    metrics = read_jsonl(style_run / "metrics.jsonl")
    assert [m["tick"] for m in metrics] == [1, 2]
    for key in ("loss_G", "loss_D", "D_real", "D_fake", "r1_penalty", "augment_p", "swd"):
        assert any(key in m for m in metrics), key
    assert all(np.isfinite(m["loss_G"]) and np.isfinite(m["loss_D"]) for m in metrics)
    ckpt = latest_checkpoint(style_run / "checkpoints")
    tensors = load_file(str(ckpt.with_suffix(".safetensors")))
    assert any(k.startswith("G_ema.") for k in tensors) and "augment.p" in tensors
    meta = json.loads(ckpt.read_text())
    assert meta["arch"] == "stylegan2" and "augment_p" in meta  # --arch style is an alias: runs record the name
    best = json.loads((style_run / "checkpoints" / "best.json").read_text())
    assert best["swd"] == pytest.approx(min(m["swd"] for m in metrics), abs=1e-3)
    assert (style_run / "checkpoints" / "best.safetensors").exists()
    # G_ema differs from G (it averages), and is what the loader draws from
    g_keys = [k for k in tensors if k.startswith("G.") and "weight" in k]
    assert any(not torch.equal(tensors[k], tensors["G_ema." + k[2:]]) for k in g_keys)


def test_generation_from_a_style_run_is_reproducible_and_labelled(style_run: Path, tmp_path: Path):
    from belamy.generate.loader import load_generator
    from belamy.generate.sample import generate
    from belamy.provenance.embed import read_provenance

    gen = load_generator(style_run, "best", device="cpu")
    assert gen.arch == "stylegan2" and gen.num_classes == 0
    a = generate(style_run, tmp_path / "a", n=2, seed=3, device="cpu", truncation=0.7)
    b = generate(style_run, tmp_path / "b", n=1, seed=4, device="cpu", truncation=0.7)
    pa = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(a.images[1]))
    pb = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(b.images[0]))
    assert np.array_equal(pa, pb) and pa.shape == (16, 16, 3)
    assert Record.from_dict(read_provenance(a.images[0])).truncation == 0.7
    with pytest.raises(BelamyError, match="not class-conditional"):
        generate(style_run, tmp_path / "c", n=1, label="warm", device="cpu")


def test_conditional_training_and_generate_label(style_corpus: Path, tmp_path: Path):
    from belamy.generate.sample import generate
    from belamy.provenance.embed import read_provenance

    run = train(style_options(style_corpus, tmp_path / "run", labels="label", kimg=0.032, augment="diffaugment")).run_dir
    assert json.loads((run / "run.json").read_text())["label_names"] == ["cool", "warm"]
    result = generate(run, tmp_path / "out", n=2, label="warm", device="cpu")
    assert Record.from_dict(read_provenance(result.images[0])).label == "warm"
    with pytest.raises(BelamyError, match="knows: cool, warm"):
        generate(run, tmp_path / "x", n=1, label="purple", device="cpu")


def test_labels_from_folder_names_and_missing_fields():
    from belamy.trainer.data import corpus_labels

    manifest = [{"source": "/data/wikiart-styles/baroque/a.jpg"}, {"source": "/data/wikiart-styles/cubism/b.jpg"},
                {"source": "/data/wikiart-styles/baroque/c.jpg"}]
    names, index = corpus_labels(manifest, "folder")
    assert names == ["baroque", "cubism"] and index.tolist() == [0, 1, 0]
    with pytest.raises(BelamyError, match="no 'style' label"):
        corpus_labels(manifest, "style")


def test_portrait_training_crops_the_square_corpus(style_corpus: Path, tmp_path: Path):
    from belamy.trainer.data import fit_shape

    images = synthetic_portraits(4, 32)
    out = fit_shape(images, 20, 16)
    assert out.shape == (4, 20, 16, 3)
    run = train(style_options(style_corpus, tmp_path / "run", aspect="4:5", kimg=0.016, tick_kimg=0.016,
                              augment="ada")).run_dir
    from PIL import Image

    grid = Image.open(sorted((run / "samples").glob("*.png"))[-1])
    assert grid.size[1] > grid.size[0]  # 2×2 grid of portrait tiles is taller than wide


def test_style_resume_reproduces_the_uninterrupted_run_with_ada(style_corpus: Path, tmp_path: Path):
    # A fast ADA speed so p moves within a few steps; p (and the half-gathered r_t of the interval
    # the checkpoint falls in) must be restored on resume.
    opts = dict(ada_kimg=1.0, augment_p=0.5, kimg=0.048, tick_kimg=0.024, snapshot_ticks=1)
    whole = train(style_options(style_corpus, tmp_path / "whole", **opts)).run_dir
    train(style_options(style_corpus, tmp_path / "split", **{**opts, "kimg": 0.024}))
    split = train(style_options(style_corpus, tmp_path / "split", resume=True, **opts)).run_dir
    a = load_file(str(latest_checkpoint(whole / "checkpoints").with_suffix(".safetensors")))
    b = load_file(str(latest_checkpoint(split / "checkpoints").with_suffix(".safetensors")))
    assert a.keys() == b.keys()
    assert 0 < float(a["augment.p"]) != 0.5
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_init_starts_from_another_run_and_refuses_a_mismatch(style_run: Path, style_corpus: Path, tmp_path: Path):
    source = load_file(str(latest_checkpoint(style_run / "checkpoints").with_suffix(".safetensors")))
    # another seed than the source's (3): the weights must come from --init, not from the seed
    run = train(style_options(style_corpus, tmp_path / "tuned", init=str(style_run), kimg=0.008,
                              tick_kimg=0.008, seed=11)).run_dir
    tuned = load_file(str(latest_checkpoint(run / "checkpoints").with_suffix(".safetensors")))
    fresh_run = train(style_options(style_corpus, tmp_path / "fresh", kimg=0.008, tick_kimg=0.008, seed=11)).run_dir
    fresh = load_file(str(latest_checkpoint(fresh_run / "checkpoints").with_suffix(".safetensors")))
    # one step later the weights are still next to the source's, far from a fresh start's
    for key in ("G.mapping.layers.0.weight", "G_ema.synthesis.blocks.0.const", "D.blocks.0.conv0.weight"):
        assert (tuned[key] - source[key]).abs().mean() < 0.2 * (fresh[key] - source[key]).abs().mean(), key
    assert not any(k.startswith("opt_") and k in source and torch.equal(tuned[k], source[k]) for k in tuned)
    with pytest.raises(BelamyError, match="does not fit"):
        train(style_options(style_corpus, tmp_path / "bad", init=str(style_run), ngf=8, kimg=0.008))


@pytest.mark.parametrize(("overrides", "named"), [
    ({"labels": "label"}, "--labels"), ({"w_dim": 16}, "--w-dim"), ({"r1_gamma": 1.0}, "--r1-gamma"),
    ({"style_mixing": 0.5}, "--style-mixing"), ({"map_layers": 2}, "--map-layers"),
])
def test_options_the_architecture_does_not_read_are_refused_by_name(style_corpus: Path, tmp_path: Path, overrides,
                                                                    named):
    with pytest.raises(BelamyError, match=f"{named} is not used by --arch dcgan.*--arch style"):
        train(tiny_train_options(style_corpus, tmp_path / "run", **overrides))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_loss_that_does_not_train_the_architecture_is_refused(style_corpus: Path, tmp_path: Path):
    with pytest.raises(BelamyError, match="--loss minimax does not train --arch style.*stylegan2"):
        train(style_options(style_corpus, tmp_path / "run", loss="minimax"))
    with pytest.raises(BelamyError, match="--loss stylegan2 does not train --arch dcgan"):
        train(tiny_train_options(style_corpus, tmp_path / "run", loss="stylegan2"))
