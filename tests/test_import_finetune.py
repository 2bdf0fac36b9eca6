"""Fine-tuning an imported model (`train --init`) and resuming it exactly; runs made before the exact
style layers resume with the layers they were trained with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import synthetic_portraits, tiny_train_options, write_corpus
from safetensors.torch import load_file
from test_import import install_fake_reference, nvlabs_pickle, randomised

from belamy.errors import BelamyError
from belamy.gan import train
from belamy.importers import import_model
from belamy.models.style import LAYERS_V1, StyleConfig, StyleDiscriminator, StyleGenerator, style_config
from belamy.trainer.checkpoint import latest_checkpoint

NEW_KEYS = ("layers", "mbstd_channels", "d_architecture", "d_map_layers", "cmap_dim")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ft-corpus")
    return write_corpus(root / "corpus", synthetic_portraits(24, 32, seed=5), labels=["warm", "cool", "dark"] * 8)


def options(corpus: Path, out: Path, **overrides):
    settings = dict(arch="style", batch=8, kimg=0.032, tick_kimg=0.016, snapshot_ticks=1, grid_size=4, r1_interval=2,
                    ada_kimg=1.0, augment_p=0.3)
    settings.update(overrides)
    return tiny_train_options(corpus, out, **settings)


def tensors_of(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run / "checkpoints").with_suffix(".safetensors")))


def test_fine_tuning_an_imported_model_resumes_exactly(corpus, tmp_path, monkeypatch, one_torch_thread):
    install_fake_reference(monkeypatch)
    marker = tmp_path / "EXECUTED"
    source = f"open({str(marker)!r}, 'w')\n"
    cfg = style_config(res=16, nz=8, w_dim=8, ngf=2, ndf=2, channel_max=8, map_layers=2, mbstd_group=8, conv_clamp=256)
    nets = [randomised(m, i) for i, m in enumerate((StyleGenerator(cfg), StyleDiscriminator(cfg), StyleGenerator(cfg)))]
    imported = import_model(nvlabs_pickle(tmp_path / "ffhq-like.pkl", cfg, *nets, source), tmp_path / "imported").run_dir
    start = tensors_of(imported)

    # No width options: the new run takes the imported model's res, widths, layers, mbstd group and clamp.
    from_source = dict(init=str(imported), arch=None, res=None, nz=None, ngf=None, ndf=None)
    whole = train(options(corpus, tmp_path / "whole", **from_source)).run_dir
    model = json.loads((whole / "run.json").read_text())["model"]
    assert {k: model[k] for k in ("res", "layers", "mbstd_group", "conv_clamp", "g_channel_base")} == {
        "res": 16, "layers": "stylegan2-ada", "mbstd_group": 8, "conv_clamp": 256, "g_channel_base": 32}
    tuned = tensors_of(whole)
    for key in ("G.mapping.layers.0.weight", "G.synthesis.blocks.1.conv0.weight", "D.blocks.0.conv1.weight"):
        assert not torch.equal(tuned[key], start[key]) and (tuned[key] - start[key]).abs().mean() < 0.1, key
    # (G_ema's ramp-up makes it follow G closely at first; the test's G and G_ema were drawn apart)
    key = "G_ema.synthesis.blocks.1.conv0.weight"
    assert (tuned[key] - start["G." + key[6:]]).abs().mean() < 0.1
    assert float(tuned["augment.p"]) != 0.3  # ADA steered p while fine-tuning

    train(options(corpus, tmp_path / "split", **from_source, kimg=0.016))
    split = train(options(corpus, tmp_path / "split", resume=True, arch=None, res=None, nz=None, ngf=None,
                          ndf=None)).run_dir
    resumed = tensors_of(split)
    assert resumed.keys() == tuned.keys()
    for key in tuned:
        assert torch.equal(resumed[key], tuned[key]), key
    assert not marker.exists()

    with pytest.raises(BelamyError, match="does not fit --ngf 4"):
        train(options(corpus, tmp_path / "bad", **{**from_source, "ngf": 4}))
    with pytest.raises(BelamyError, match="has no classes.*drop --labels"):
        train(options(corpus, tmp_path / "bad2", **from_source, labels="label"))


def test_a_run_made_before_the_exact_layers_resumes_with_its_own(corpus, tmp_path, monkeypatch, one_torch_thread):
    """A class-conditional style run as belamy wrote it before layer variants (no "layers" in its
    config, D's two-layer label_map, "arch": "style") resumes with those layers, exactly as if never stopped."""
    import belamy.gan.task as gan

    def old_config(opts, arch, label_names):
        current = style_config(res=opts.res, nz=opts.nz, ngf=opts.ngf, ndf=opts.ndf, w_dim=opts.settings["w_dim"],
                               map_layers=opts.settings["map_layers"], channel_max=opts.settings["channel_max"],
                               label_names=label_names)
        return StyleConfig.from_dict({k: v for k, v in current.to_dict().items() if k not in NEW_KEYS})

    widths = dict(res=16, nz=8, ngf=2, ndf=2, w_dim=8, map_layers=1, channel_max=8, labels="label")
    with monkeypatch.context() as patch:  # what the code before the change built
        patch.setattr(gan, "model_config", old_config)
        whole = train(options(corpus, tmp_path / "whole", **widths)).run_dir
        train(options(corpus, tmp_path / "split", **{**widths, "kimg": 0.016}))
    for path in [tmp_path / "split" / "run.json", *(tmp_path / "split" / "checkpoints").glob("*.json")]:
        data = json.loads(path.read_text())  # strip the keys an old run never wrote, and give it its old name
        data["model"] = {k: v for k, v in data["model"].items() if k not in NEW_KEYS}
        data["arch"] = "style"
        if isinstance(data.get("options"), dict):
            data["options"]["arch"] = "style"
        path.write_text(json.dumps(data))
    split = train(options(corpus, tmp_path / "split", resume=True, **widths)).run_dir  # today's code
    meta = json.loads(latest_checkpoint(split / "checkpoints").read_text())
    assert meta["model"]["layers"] == LAYERS_V1 and meta["arch"] == "stylegan2"
    a, b = tensors_of(whole), tensors_of(split)
    assert any(k.startswith("D.label_map.") for k in b) and not any(k.startswith("D.mapping.") for k in b)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
