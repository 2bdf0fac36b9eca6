"""`belamy import`: models made elsewhere become belamy runs. Every file imported here is built by
the test in the layout its source writes (no downloads): an NVlabs persistence pickle whose embedded
source would leave a marker file if it ever ran, a rosinality checkpoint, the PyTorch DCGAN
tutorial's state dicts, and damaged or hostile files."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import belamy_measured
from torch import nn

from belamy.errors import BelamyError
from belamy.generate.loader import load_generator
from belamy.importers import import_model
from belamy.importers.safe_unpickle import restricted_load
from belamy.models.style import StyleDiscriminator, StyleGenerator, style_config
from belamy.provenance.record import Record
from belamy.trainer import checkpoint as ck

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAMY_QUIET": "1", "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, env=env, cwd=REPO)


def randomised(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter and buffer away from its initial value (zero biases and noise strengths would hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
        persistent = set(module.state_dict())
        for name, b in module.named_buffers():
            if name in persistent and b.is_floating_point():  # (not the fixed resampling filters)
                b.copy_(torch.randn(b.shape, generator=g))
                if name.endswith("running_var"):
                    b.abs_().add_(0.5)
    return module.eval()


# ----------------------------------------------------------------------------- an NVlabs network pickle


class ArmedSource:
    """Stands in for torch_utils.persistence while the test *writes* the pickle, and shows what a plain
    ``pickle.load`` would do with it: execute each object's embedded module source, as the reference does."""

    def __init__(self, marker: Path):
        self.marker = marker
        self.source = f"open({str(marker)!r}, 'w').write('the embedded source ran')\nclass Generator: pass\n"


def install_fake_reference(monkeypatch) -> None:
    """Modules named as the reference's, so that pickle writes the same globals NVlabs pickles hold."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # the reference: exec the source, then build the class
        module = types.ModuleType("_imported_module_test")
        exec(meta["module_src"], module.__dict__)  # noqa: S102 - the behaviour belamy must never reproduce
        return module.__dict__.get(meta["class_name"], object)()

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    for name, module in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, module)


class Persistent:
    """Pickles as a torch_utils.persistence object: (_reconstruct_persistent_obj, (meta,))."""

    def __init__(self, class_name: str, source: str, kwargs: dict | None = None):
        self.class_name, self.source, self.kwargs = class_name, source, kwargs or {}
        self.params: OrderedDict = OrderedDict()
        self.buffers: OrderedDict = OrderedDict()
        self.children: OrderedDict = OrderedDict()
        self.attributes: dict = {}  # more of the module's own attributes, as its __init__ sets them

    def __reduce__(self):
        easy = sys.modules["dnnlib.util"].EasyDict
        state = {
            "training": False, "_parameters": self.params, "_buffers": self.buffers,
            "_non_persistent_buffers_set": set(), "_backward_hooks": OrderedDict(), "_forward_hooks": OrderedDict(),
            "_forward_pre_hooks": OrderedDict(), "_state_dict_hooks": OrderedDict(),
            "_load_state_dict_pre_hooks": OrderedDict(), "_modules": self.children,
            "_init_args": (), "_init_kwargs": easy(self.kwargs), "weight_gain": np.float64(0.125), "activation": "lrelu",
            **self.attributes,
        }
        meta = {"type": "class", "version": 6, "module_src": self.source, "class_name": self.class_name, "state": state}
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,))


CLASS_OF = {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork", "torgb": "ToRGBLayer", "mbstd": "MinibatchStdLayer",
            "affine": "FullyConnectedLayer", "embed": "FullyConnectedLayer", "fc": "FullyConnectedLayer", "out": "FullyConnectedLayer"}
BUFFERS = {"noise_const", "w_avg", "resample_filter"}
FILTER = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64


def persistent_tree(top: str, tensors: dict[str, torch.Tensor], source: str, kwargs: dict,
                    stylegan3_repo: bool = False) -> Persistent:
    root = Persistent(top, source, kwargs)
    for name, value in tensors.items():
        node, *path = [root, *name.split(".")]
        for part in path[:-1]:
            if part not in node.children:
                cls = CLASS_OF.get(part) or CLASS_OF.get(re.sub(r"\d+$", "", part)) or (
                    "SynthesisLayer" if part.startswith("conv") and top == "Generator" else
                    "Conv2dLayer" if part.startswith(("conv", "fromrgb", "skip")) else
                    "DiscriminatorEpilogue" if part == "b4" and top == "Discriminator" else
                    "SynthesisBlock" if top == "Generator" else "DiscriminatorBlock")
                node.children[part] = Persistent(cls, source)
                if stylegan3_repo and cls == "FullyConnectedLayer":  # NVlabs/stylegan3's layers keep their widths
                    node.children[part].attributes = {"in_features": 8, "out_features": 8}
                if part.startswith(("conv", "b", "fromrgb", "skip")):  # the reference keeps its filters as buffers
                    node.children[part].buffers["resample_filter"] = FILTER.clone()
            node = node.children[part]
        (node.buffers if path[-1] in BUFFERS else node.params)[path[-1]] = (
            value.clone() if path[-1] in BUFFERS else nn.Parameter(value.clone(), requires_grad=False))
    return root


def reference_names_G(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """belamy → StyleGAN2-ADA parameter names (the inverse of what the importer does)."""
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^mapping\.layers\.(\d+)\.", r"mapping.fc\1.", k)
        k = re.sub(r"^synthesis\.blocks\.(\d+)\.", lambda m: f"synthesis.b{4 * 2 ** int(m.group(1))}.", k)
        out[k] = v
    return out


def reference_names_D(sd: dict[str, torch.Tensor], res: int) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^blocks\.(\d+)\.", lambda m: f"b{res // 2 ** int(m.group(1))}.", k)
        k = re.sub(r"^(conv|fc|out)\.", r"b4.\1.", k)
        k = re.sub(r"^mapping\.layers\.(\d+)\.", r"mapping.fc\1.", k)
        out[k] = v
    return out


def nvlabs_discriminator(cfg, D: nn.Module, source: str, layout: str = "ada", d_extra: dict | None = None) -> Persistent:
    """A StyleGAN2 discriminator as ``layout`` pickles it (see :func:`nvlabs_pickle`; StyleGAN3 runs pickle this D too)."""
    d_kwargs = {"c_dim": cfg.num_classes, "img_resolution": cfg.res, "img_channels": 3, "architecture": cfg.d_architecture,
                "channel_base": cfg.d_channel_base, "channel_max": cfg.channel_max, "num_fp16_res": 4,
                "conv_clamp": cfg.conv_clamp, "block_kwargs": {}, "mapping_kwargs": {"num_layers": cfg.d_map_layers},
                "epilogue_kwargs": {"mbstd_group_size": cfg.mbstd_group}}
    if layout == "legacy":  # every keyword argument convert_tf_discriminator sets
        d_kwargs.update(num_fp16_res=0, cmap_dim=None, block_kwargs={"activation": "lrelu", "resample_filter": [1, 3, 3, 1],
                                                                     "freeze_layers": 0},
                        mapping_kwargs={"num_layers": 0, "embed_features": None, "layer_features": None,
                                        "activation": "lrelu", "lr_multiplier": 0.1},
                        epilogue_kwargs={"mbstd_group_size": None if cfg.mbstd_group == 0 else cfg.mbstd_group,
                                         "mbstd_num_channels": 1, "activation": "lrelu"})
    if layout == "sg3":  # conv_clamp 256 by default there
        del d_kwargs["conv_clamp"], d_kwargs["num_fp16_res"]
        d_kwargs["block_kwargs"] = {"freeze_layers": 0}
    d_kwargs.update(d_extra or {})
    d_tree = persistent_tree("Discriminator", reference_names_D(D.state_dict(), cfg.res), source, d_kwargs, layout == "sg3")
    d_tree.children["b4"].children["mbstd"] = Persistent("MinibatchStdLayer", source, {"group_size": cfg.mbstd_group})
    return d_tree


def nvlabs_pickle(path: Path, cfg, G: nn.Module, D: nn.Module, G_ema: nn.Module, source: str,
                  g_synthesis_extra: dict | None = None, layout: str = "ada", protocol: int = 4,
                  d_extra: dict | None = None) -> Path:
    """A snapshot as ``layout`` writes it: "ada" stylegan2-ada-pytorch's training loop, "legacy" its
    legacy.py converting one of NVIDIA's TensorFlow releases, "sg3" NVlabs/stylegan3 with --cfg=stylegan2."""
    synthesis = {"channel_base": cfg.g_channel_base, "channel_max": cfg.channel_max, "num_fp16_res": 4,
                 "conv_clamp": cfg.conv_clamp, **(g_synthesis_extra or {})}
    g_kwargs = {"z_dim": cfg.z_dim, "c_dim": cfg.num_classes, "w_dim": cfg.w_dim, "img_resolution": cfg.res, "img_channels": 3,
                "mapping_kwargs": {"num_layers": cfg.map_layers}, "synthesis_kwargs": synthesis}
    training_set = {"class_name": "training.dataset.ImageFolderDataset", "path": "/data/portraits.zip",
                    "use_labels": bool(cfg.num_classes), "max_size": 1336, "xflip": True, "resolution": cfg.res}
    if layout == "legacy":  # every keyword argument convert_tf_generator sets
        g_kwargs["mapping_kwargs"].update(embed_features=None, layer_features=None, activation="lrelu",
                                          lr_multiplier=0.01, w_avg_beta=0.995)
        synthesis.update(num_fp16_res=0, architecture="skip", resample_filter=[1, 3, 3, 1], use_noise=True,
                         activation="lrelu")
        training_set = None  # load_network_pkl's "missing field"
    if layout == "sg3":  # synthesis settings beside the generator's own; conv_clamp 256 unless told otherwise
        assert cfg.conv_clamp == 256
        del g_kwargs["synthesis_kwargs"], synthesis["conv_clamp"]
        g_kwargs.update(synthesis, fused_modconv_default="inference_only")
    snapshot = {
        "training_set_kwargs": training_set,
        "G": persistent_tree("Generator", reference_names_G(G.state_dict()), source, g_kwargs, layout == "sg3"),
        "D": nvlabs_discriminator(cfg, D, source, layout, d_extra),
        "G_ema": persistent_tree("Generator", reference_names_G(G_ema.state_dict()), source, g_kwargs, layout == "sg3"),
    }
    if layout == "legacy":
        snapshot["augment_pipe"] = None
    with open(path, "wb") as f:
        pickle.dump(snapshot, f, protocol=protocol)
    return path


def small_cfg(**kw):
    settings = dict(res=16, nz=8, w_dim=8, ngf=2, ndf=2, channel_max=8, map_layers=2, mbstd_group=8, conv_clamp=256)
    settings.update(kw)
    return style_config(**settings)


@pytest.fixture
def armed(tmp_path, monkeypatch) -> ArmedSource:
    install_fake_reference(monkeypatch)
    return ArmedSource(tmp_path / "EXECUTED")


@pytest.mark.parametrize("conditional", [False, True])
def test_nvlabs_pickle_imports_without_running_its_source(armed, tmp_path, conditional, one_torch_thread):
    cfg = small_cfg(label_names=["0", "1", "2"] if conditional else [])
    G, G_ema, D = randomised(StyleGenerator(cfg), 1), randomised(StyleGenerator(cfg), 2), randomised(StyleDiscriminator(cfg), 3)
    pkl = nvlabs_pickle(tmp_path / "network-snapshot-000100.pkl", cfg, G, D, G_ema, armed.source)

    # The file is armed: a plain pickle.load, with the reference's persistence module, runs the source.
    with open(pkl, "rb") as f:
        pickle.load(f)
    assert armed.marker.exists()
    armed.marker.unlink()

    result = import_model(pkl, tmp_path / "run", label_names=["cat", "dog", "owl"] if conditional else None)
    assert not armed.marker.exists()
    source = result.imported_from
    assert source["sha256"] == hashlib.sha256(pkl.read_bytes()).hexdigest() and source["file"] == pkl.name
    assert source["training_set_path"] == "portraits.zip" and "whoever trained it" in result.licence_note
    run_info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_info["imported_from"]["sha256"] == source["sha256"]
    model = run_info["model"]
    assert (model["layers"], model["mbstd_group"], model["conv_clamp"], model["res"]) == ("stylegan2-ada", 8, 256, 16)

    # The imported networks compute what the originals compute: G_ema (what generate draws), G and D.
    gen = load_generator(tmp_path / "run", device="cpu")
    z = torch.randn(4, cfg.z_dim)
    labels = torch.tensor([0, 1, 2, 0]) if conditional else None
    with torch.no_grad():
        assert torch.equal(gen.G.synthesize(z, labels, truncation=0.7), G_ema.synthesize(z, labels, truncation=0.7))
        tensors, meta = ck.load_checkpoint(result.checkpoint)
        D2, G2 = StyleDiscriminator(cfg), StyleGenerator(cfg)
        ck.load_module_tensors("D", D2, tensors)
        ck.load_module_tensors("G", G2, tensors)
        img = torch.randn(8, 3, 16, 16)
        d_labels = torch.arange(8) % 3 if conditional else None
        assert torch.equal(D2(img, d_labels), D(img, d_labels))
        assert torch.equal(G2.synthesize(z, labels), G.synthesize(z, labels))
    assert meta["imported_from"]["format"] == "nvlabs-stylegan2-ada-pkl"
    # Seeds draw StyleGAN2-ADA's generate.py latents: np.random.RandomState(seed).randn(1, z_dim).
    assert torch.equal(gen.latents([7])[0], torch.from_numpy(np.random.RandomState(7).randn(cfg.z_dim)).float())
    if conditional:
        assert gen.meta["label_names"] == ["cat", "dog", "owl"]


def test_import_cli_prints_the_licence_and_generate_reads_the_run(armed, tmp_path):
    cfg = small_cfg()
    nets = [randomised(m, i) for i, m in enumerate((StyleGenerator(cfg), StyleDiscriminator(cfg), StyleGenerator(cfg)))]
    pkl = nvlabs_pickle(tmp_path / "model.pkl", cfg, *nets, armed.source)
    proc = run_cli("import", str(pkl), "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "whoever trained it" in proc.stderr and "sha256" in proc.stderr  # (messages go to stderr, the run to stdout)
    assert proc.stdout.strip() == str(tmp_path / "run")
    assert not armed.marker.exists()
    from belamy.generate.sample import generate
    from belamy.provenance.embed import read_provenance

    generate(tmp_path / "run", tmp_path / "imgs", n=2, device="cpu")
    generate(tmp_path / "run", tmp_path / "cut", n=2, device="cpu", truncation=0.5, truncation_cutoff=2)
    assert Record.from_dict(read_provenance(tmp_path / "cut" / "seed-000001.png")).generation["truncation_cutoff"] == 2
    with pytest.raises(BelamyError, match="truncation-cutoff"):
        generate(tmp_path / "run", tmp_path / "bad", n=1, device="cpu", truncation_cutoff=-1)

    source = Record.from_dict(read_provenance(tmp_path / "imgs" / "seed-000001.png")).model["parents"]["imported_from"]
    assert source["file"] == "model.pkl" and "portraits.zip" in source["licence"]
    # importing again into the same folder is refused, and the run is untouched
    before = (tmp_path / "run" / "run.json").read_bytes()
    proc = run_cli("import", str(pkl), "--out", str(tmp_path / "run"))
    assert proc.returncode == 2 and "already holds a run" in proc.stderr
    assert (tmp_path / "run" / "run.json").read_bytes() == before


class Exploit:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def test_hostile_and_damaged_files_are_refused_in_one_line(armed, tmp_path):
    cfg = small_cfg()
    nets = [randomised(m, i) for i, m in enumerate((StyleGenerator(cfg), StyleDiscriminator(cfg), StyleGenerator(cfg)))]
    good = nvlabs_pickle(tmp_path / "good.pkl", cfg, *nets, armed.source).read_bytes()
    marker = armed.marker
    cases = {
        "os-system.pkl": pickle.dumps({"G_ema": Exploit(os.system, f"touch {marker}")}),
        "exec.pkl": pickle.dumps(Exploit(exec, f"open({str(marker)!r}, 'w')")),
        "py2-eval.pkl": pickle.dumps(Exploit(eval, f"open({str(marker)!r}, 'w')"), protocol=2),  # __builtin__.eval
        "py2-codecs.pkl": pickle.dumps(Exploit(__import__("codecs").encode, "x", "rot13"), protocol=2),
        "tf.pkl": b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00.",
        "ndarray.pkl": pickle.dumps({"G_ema": np.zeros(3)}),  # numbers are data (StyleGAN3 keeps sizes so), not a network
        "object-array.pkl": pickle.dumps({"G_ema": np.array([Exploit(os.system, f"touch {marker}")], dtype=object)}),
        "truncated.pkl": good[: len(good) // 2],
        "noise.pkl": b"\x80\x04" + np.random.default_rng(0).bytes(256),
        "text.pkl": b"hello, this is not a model\n",
        "empty.pkl": b"",
    }
    torch.save({"g_ema": {"input.input": torch.zeros(1)}, "extra": Exploit(os.system, "true")}, tmp_path / "obj.pt")
    cases["obj.pt"] = (tmp_path / "obj.pt").read_bytes()
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2), "input.input": torch.zeros(1, 4, 4, 4)}}, tmp_path / "r.pt")
    cases["truncated.pt"] = (tmp_path / "r.pt").read_bytes()[:300]
    expected = {"os-system.pkl": "posix.system", "exec.pkl": "builtins.exec", "ndarray.pkl": "G_ema is not a network",
                "object-array.pkl": "numpy dtype", "py2-eval.pkl": "builtins.eval", "py2-codecs.pkl": "protocol 2",
                "tf.pkl": "TensorFlow StyleGAN pickle",
                "truncated.pkl": "truncated", "noise.pkl": "", "text.pkl": "not a model file", "empty.pkl": "is empty",
                "obj.pt": "will not load", "truncated.pt": "damaged or truncated"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(BelamyError) as err:
            import_model(path, tmp_path / f"run-{name}")
        assert expected[name] in str(err.value) and "\n" not in str(err.value), (name, str(err.value))
        assert not (tmp_path / f"run-{name}" / "run.json").exists()
    # and from the command line: one line, exit 2
    for name in ("os-system.pkl", "truncated.pt"):
        proc = run_cli("import", str(tmp_path / name), "--out", str(tmp_path / f"run-{name}"))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("error:") and expected[name] in lines[0], (name, proc.stderr)
    assert not marker.exists()


def test_networks_belamy_does_not_compute_are_refused_by_name(armed, tmp_path):
    cfg = small_cfg()
    nets = [randomised(m, i) for i, m in enumerate((StyleGenerator(cfg), StyleDiscriminator(cfg), StyleGenerator(cfg)))]
    pkl = nvlabs_pickle(tmp_path / "resnet-g.pkl", cfg, *nets, armed.source, g_synthesis_extra={"architecture": "resnet"})
    with pytest.raises(BelamyError, match="architecture='resnet'"):
        import_model(pkl, tmp_path / "run")
    # A StyleGAN3-like generator (a synthesis input layer instead of a constant) is named, not guessed at.
    sg3 = Persistent("Generator", armed.source, {"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 16, "img_channels": 3})
    sg3.children["mapping"] = Persistent("MappingNetwork", armed.source)
    sg3.children["synthesis"] = Persistent("SynthesisNetwork", armed.source)
    sg3.children["input"] = Persistent("SynthesisInput", armed.source)
    with open(tmp_path / "sg3.pkl", "wb") as f:
        pickle.dump({"G_ema": sg3}, f)
    with pytest.raises(BelamyError, match="StyleGAN3"):
        import_model(tmp_path / "sg3.pkl", tmp_path / "run3")
    with pytest.raises(BelamyError, match="label names"):
        import_model(nvlabs_pickle(tmp_path / "u.pkl", cfg, *nets, armed.source), tmp_path / "run4", label_names=["a"])
    assert not armed.marker.exists()


def imports_exactly(pkl: Path, out: Path, cfg, G_ema: nn.Module, D: nn.Module, label_names=None):
    """Import ``pkl`` and check that G_ema (ψ 1 and 0.7) and D compute what the originals compute."""
    result = import_model(pkl, out, label_names=label_names)
    gen = load_generator(out, device="cpu")
    z = torch.randn(4, cfg.z_dim)
    labels = torch.tensor([0, 1, 2, 0]) if cfg.num_classes else None
    with torch.no_grad():
        for psi in (1.0, 0.7):
            assert torch.equal(gen.G.synthesize(z, labels, truncation=psi), G_ema.synthesize(z, labels, truncation=psi))
        tensors, _ = ck.load_checkpoint(result.checkpoint)
        D2 = StyleDiscriminator(gen.G.cfg)
        ck.load_module_tensors("D", D2, tensors)
        img = torch.randn(8, 3, cfg.res, cfg.res)
        assert torch.equal(D2(img, torch.arange(8) % 3 if cfg.num_classes else None),
                           D(img, torch.arange(8) % 3 if cfg.num_classes else None))
    return result, json.loads((out / "run.json").read_text())["model"]


@pytest.mark.parametrize("conditional", [False, True])
def test_nvidia_releases_converted_by_legacy_py_import(armed, tmp_path, conditional, one_torch_thread):
    # NVIDIA's released pickles (ffhq, metfaces, afhq, brecahad, cifar10) are TensorFlow models that legacy.py
    # converted: D's label mapping of depth 0 at lr ×0.1, no minibatch group size, no training set, no clamp.
    # Written here with pickle protocol 2, whose names are Python 2's (__builtin__.set, _codecs.encode).
    cfg = dataclasses.replace(small_cfg(label_names=["0", "1", "2"] if conditional else [], conv_clamp=None), mbstd_group=0,
                              d_map_layers=0, d_architecture="orig" if conditional else "resnet")
    G, G_ema, D = randomised(StyleGenerator(cfg), 1), randomised(StyleGenerator(cfg), 2), randomised(StyleDiscriminator(cfg), 3)
    pkl = nvlabs_pickle(tmp_path / "cifar10.pkl", cfg, G, D, G_ema, armed.source, layout="legacy", protocol=2)
    assert b"c__builtin__\nset" in pkl.read_bytes()
    with open(pkl, "rb") as f:  # armed, as the other files are
        pickle.load(f)
    assert armed.marker.exists()
    armed.marker.unlink()

    result, model = imports_exactly(pkl, tmp_path / "run", cfg, G_ema, D)
    assert (model["d_map_layers"], model["mbstd_group"], model["conv_clamp"]) == (0, 0, None)
    assert "NVIDIA Source Code License-NC" in result.licence_note and "legacy.py" in result.licence_note
    assert "no training set recorded" in result.licence_note
    assert not armed.marker.exists()


def test_stylegan2_pickles_from_the_stylegan3_repository_import(armed, tmp_path, one_torch_thread):
    # NVlabs/stylegan3 --cfg=stylegan2: the synthesis settings beside z_dim and w_dim, conv_clamp 256 when not given.
    cfg = small_cfg(conv_clamp=256)
    G, G_ema, D = randomised(StyleGenerator(cfg), 4), randomised(StyleGenerator(cfg), 5), randomised(StyleDiscriminator(cfg), 6)
    pkl = nvlabs_pickle(tmp_path / "network-snapshot-000200.pkl", cfg, G, D, G_ema, armed.source, layout="sg3")
    result, model = imports_exactly(pkl, tmp_path / "run", cfg, G_ema, D)
    assert model["conv_clamp"] == 256 and result.imported_from["format"] == "nvlabs-stylegan3-stylegan2-pkl"
    assert "whoever trained it" in result.licence_note and "portraits.zip" in result.licence_note
    assert not armed.marker.exists()


def test_label_mappings_that_compute_something_else_are_refused(armed, tmp_path):
    cfg = small_cfg(label_names=["0", "1", "2"])
    nets = [randomised(m, i) for i, m in enumerate((StyleGenerator(cfg), StyleDiscriminator(cfg), StyleGenerator(cfg)))]
    cases = {"lr_multiplier=0.1": {"num_layers": 2, "lr_multiplier": 0.1},  # layers to scale: not belamy's function
             "label mapping depth": {"num_layers": -1}}  # a damaged file
    for i, (message, mapping) in enumerate(cases.items()):
        pkl = nvlabs_pickle(tmp_path / f"{i}.pkl", cfg, *nets, armed.source, d_extra={"mapping_kwargs": mapping})
        with pytest.raises(BelamyError, match=message):
            import_model(pkl, tmp_path / f"run{i}")
    assert not armed.marker.exists()


# ----------------------------------------------------------------------------- rosinality stylegan2-pytorch


def rosinality_layout(G: StyleGenerator) -> dict[str, torch.Tensor]:
    """belamy G → rosinality's Generator state dict (style.*, input.input, conv1, to_rgb1, convs, to_rgbs, noises)."""
    sd = G.state_dict()
    out = {}
    blur = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64

    def styled(src, dst, noise):
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"]
        if noise is None:
            out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(1, -1, 1, 1)
        else:
            out[f"{dst}.noise.weight"] = sd[f"{src}.noise_strength"].reshape(1)
            out[f"{dst}.activate.bias"] = sd[f"{src}.bias"]
            out[f"noises.noise_{noise}"] = sd[f"{src}.noise_const"][None, None]

    for i in range(G.cfg.map_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.layers.{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.layers.{i}.bias"]
    out["input.input"] = sd["synthesis.blocks.0.const"][None]
    styled("synthesis.blocks.0.conv1", "conv1", 0)
    styled("synthesis.blocks.0.torgb", "to_rgb1", None)
    for j in range(1, len(G.synthesis.blocks)):
        styled(f"synthesis.blocks.{j}.conv0", f"convs.{2 * j - 2}", 2 * j - 1)
        out[f"convs.{2 * j - 2}.conv.blur.kernel"] = blur * 4
        styled(f"synthesis.blocks.{j}.conv1", f"convs.{2 * j - 1}", 2 * j)
        styled(f"synthesis.blocks.{j}.torgb", f"to_rgbs.{j - 1}", None)
        out[f"to_rgbs.{j - 1}.upsample.kernel"] = blur * 4
    return out


def rosinality_d_layout(D: StyleDiscriminator) -> dict[str, torch.Tensor]:
    sd = D.state_dict()
    blur = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64
    out = {"convs.0.0.weight": sd["blocks.0.fromrgb.weight"], "convs.0.1.bias": sd["blocks.0.fromrgb.bias"]}
    for i in range(len(D.blocks)):
        src, dst = f"blocks.{i}", f"convs.{i + 1}"
        out.update({f"{dst}.conv1.0.weight": sd[f"{src}.conv0.weight"], f"{dst}.conv1.1.bias": sd[f"{src}.conv0.bias"],
                    f"{dst}.conv2.0.kernel": blur, f"{dst}.conv2.1.weight": sd[f"{src}.conv1.weight"],
                    f"{dst}.conv2.2.bias": sd[f"{src}.conv1.bias"], f"{dst}.skip.0.kernel": blur,
                    f"{dst}.skip.1.weight": sd[f"{src}.skip.weight"]})
    out.update({"final_conv.0.weight": sd["conv.weight"], "final_conv.1.bias": sd["conv.bias"],
                "final_linear.0.weight": sd["fc.weight"], "final_linear.0.bias": sd["fc.bias"],
                "final_linear.1.weight": sd["out.weight"], "final_linear.1.bias": sd["out.bias"]})
    return out


@pytest.mark.parametrize("with_latent_avg", [True, False])
def test_rosinality_checkpoint_imports_with_weights_only_loading(tmp_path, with_latent_avg, one_torch_thread):
    cfg = style_config(res=16, nz=8, w_dim=8, ngf=2, ndf=2, channel_max=8, map_layers=2, mbstd_group=4)
    G, G_ema, D = randomised(StyleGenerator(cfg), 4), randomised(StyleGenerator(cfg), 5), randomised(StyleDiscriminator(cfg), 6)
    ckpt = {"g": rosinality_layout(G), "g_ema": rosinality_layout(G_ema), "d": rosinality_d_layout(D),
            "g_optim": torch.optim.Adam([nn.Parameter(torch.zeros(2))]).state_dict(),
            "args": argparse.Namespace(size=16, n_mlp=2, channel_multiplier=2, lr=0.002), "ada_aug_p": 0.25}
    if with_latent_avg:
        ckpt["latent_avg"] = G_ema.mapping.w_avg.clone()
    torch.save(ckpt, tmp_path / "050000.pt")
    result = import_model(tmp_path / "050000.pt", tmp_path / "run")
    assert result.imported_from["format"] == "rosinality-stylegan2-pytorch" and result.licence_note is None
    gen = load_generator(tmp_path / "run", device="cpu")
    z = torch.randn(3, 8)
    with torch.no_grad():
        if with_latent_avg:
            assert torch.equal(gen.G.synthesize(z, truncation=0.6), G_ema.synthesize(z, truncation=0.6))
        else:  # the mean w comes from seeded samples; without truncation the image is the same
            assert torch.equal(gen.G.synthesize(z), G_ema.synthesize(z))
            assert any("latent_avg" in n for n in result.notes)
        tensors, _ = ck.load_checkpoint(result.checkpoint)
        D2 = StyleDiscriminator(gen.G.cfg)
        ck.load_module_tensors("D", D2, tensors)
        img = torch.randn(4, 3, 16, 16)
        assert torch.equal(D2(img), D(img))


# ----------------------------------------------------------------------------- the PyTorch DCGAN tutorial


def tutorial_networks(nz=16, ngf=4, ndf=4, nc=3):
    """The DCGAN tutorial's Generator and Discriminator, as its code writes them (64×64)."""
    netG = nn.Module()
    netG.main = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    netD = nn.Module()
    netD.main = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    return randomised(netG, 7), randomised(netD, 8)


@pytest.mark.parametrize("layout", ["separate", "dict", "data-parallel"])
def test_tutorial_dcgan_imports_layer_for_layer(tmp_path, layout, one_torch_thread):
    netG, netD = tutorial_networks()
    g_sd, d_sd = netG.state_dict(), netD.state_dict()
    d_apart = False
    if layout == "separate":
        torch.save(g_sd, tmp_path / "netG.pth")
        torch.save(d_sd, tmp_path / "netD.pth")
        d_apart = True
    elif layout == "dict":
        torch.save({"netG": g_sd, "netD": d_sd, "epoch": 5}, tmp_path / "netG.pth")
    else:
        torch.save({"module." + k: v for k, v in g_sd.items()}, tmp_path / "netG.pth")
    result = import_model(tmp_path / "netG.pth", tmp_path / "run", discriminator=tmp_path / "netD.pth" if d_apart else None)
    gen = load_generator(tmp_path / "run", device="cpu")
    assert (gen.arch, gen.res, gen.z_dim) == ("dcgan", 64, 16)
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(gen.G(z), netG.main(z[:, :, None, None]), atol=1e-6)
        tensors, meta = ck.load_checkpoint(ck.resolve_checkpoint(tmp_path / "run"))
        if layout != "data-parallel":
            from belamy.models.dcgan import DCGANConfig, DCGANDiscriminator

            D = DCGANDiscriminator(DCGANConfig.from_dict(meta["model"])).eval()
            ck.load_module_tensors("D", D, tensors)
            img = torch.rand(3, 3, 64, 64) * 2 - 1
            assert torch.allclose(torch.sigmoid(D(img)), netD.main(img).reshape(-1), atol=1e-6)  # logits before the Sigmoid
        else:
            assert not any(k.startswith("D.") for k in tensors) and "discriminator" in result.notes[0]


# ----------------------------------------------------------------------------- memory and time bombs


def _short(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def hash_bomb_pickle(levels: int = 40) -> bytes:
    """{T: None} where T = (T', T'), 40 levels of shared tuples: 2⁴⁰ values to hash, in 200 bytes."""
    out = b"\x80\x04})"
    for i in range(levels):
        out += b"\x94h" + bytes([i]) + b"\x86"  # MEMOIZE, BINGET i, TUPLE2
    return out + b"Ns."


def self_containing_module_pickle() -> bytes:
    """A persistent object whose _modules (filled in after it is built, through the memo) holds itself."""
    return (b"\x80\x04ctorch_utils.persistence\n_reconstruct_persistent_obj\n}(" + _short("type") + _short("class")
            + _short("class_name") + _short("Generator") + _short("state") + b"}q\x01u\x85Rq\x02"
            + b"h\x01" + _short("_modules") + b"}q\x03s0h\x03" + _short("self") + b"h\x02s0}"
            + _short("G_ema") + b"h\x02s.")


class ZeroStride:
    """Pickles as a tensor of 2³⁰ floats over a storage of one: 4 GB for whoever copies it."""

    def __reduce__(self):
        storage = torch.zeros(1).__reduce_ex__(4)[1][0]  # a storage of one float, as torch pickles it
        return (torch._utils._rebuild_tensor_v2, (storage, 0, (2**15, 2**15), (0, 0), False, OrderedDict()))


def shared_list_bomb(levels: int = 40) -> list:
    value: list = []
    for _ in range(levels):
        value = [value, value]  # pickled once per level (the memo), 2⁴⁰ values when walked
    return value


def test_pickle_bombs_are_refused_before_they_grow(armed, tmp_path):
    """A few hundred bytes that claim gigabytes or 2⁴⁰ values: one line, exit 2, small and quick."""
    cfg = small_cfg()
    nets = [randomised(m, i) for i, m in enumerate((StyleGenerator(cfg), StyleDiscriminator(cfg), StyleGenerator(cfg)))]
    g_kwargs = {"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 16, "img_channels": 3,
                "mapping_kwargs": {"num_layers": 2, "activation": shared_list_bomb()}}
    tree = Persistent("Generator", armed.source, {k: v for k, v in g_kwargs.items() if k != "mapping_kwargs"})
    tree.children["mapping"] = Persistent("MappingNetwork", armed.source)
    level = tree.children["synthesis"] = Persistent("SynthesisNetwork", armed.source)
    for _ in range(25):  # a synthesis tree of 2²⁵ blocks, each part named twice (75 levels of nesting)
        child = Persistent("SynthesisBlock", armed.source)
        level.children["a"] = level.children["b"] = child
        level = child
    level.params["weight"] = nn.Parameter(torch.zeros(2), requires_grad=False)
    zero = Persistent("Generator", armed.source, g_kwargs)
    zero.params["weight"] = ZeroStride()
    cases = {
        "args-bomb.pkl": (pickle.dumps({"G_ema": Persistent("Generator", armed.source, g_kwargs)}, protocol=4),
                          "expands to more than"),
        "tree-bomb.pkl": (pickle.dumps({"G_ema": tree}, protocol=4), "expands to more than"),
        "zero-stride.pkl": (pickle.dumps({"G_ema": zero}, protocol=4), "zero or overlapping stride"),
        "hash-bomb.pkl": (hash_bomb_pickle(), "tuple or set of more than"),
        "itself.pkl": (self_containing_module_pickle(), "contains itself"),
        "deep.pkl": (b"\x80\x04" + b"]" * 200_000 + b"a" * 199_999 + b".", "nested more than"),
    }
    torch.save({"g_ema": {"input.input": torch.zeros(1).expand(2**15, 2**15)}}, tmp_path / "zero-stride.pt")
    cases["zero-stride.pt"] = ((tmp_path / "zero-stride.pt").read_bytes(), "zero or overlapping stride")
    torch.save({"g_ema": {"input.input": torch.zeros(4_000_000)}}, tmp_path / "stored.pt")
    with zipfile.ZipFile(tmp_path / "stored.pt") as stored, zipfile.ZipFile(tmp_path / "z.pt", "w", zipfile.ZIP_DEFLATED) as z:
        for record in stored.infolist():  # 16 MB of zeros in a few KB: torch.load would inflate it
            z.writestr(record.filename, stored.read(record.filename))
    cases["deflated.pt"] = ((tmp_path / "z.pt").read_bytes(), "compressed records claiming")
    good = nvlabs_pickle(tmp_path / "good.pkl", cfg, *nets, armed.source)
    assert import_model(good, tmp_path / "run-good").run_dir.is_dir()  # the limits leave a real snapshot alone
    big = {"weight": torch.randn(600, 1000)}  # a storage of 2.4 MB in one bytes value, as a real network's
    assert torch.equal(restricted_load(io.BytesIO(pickle.dumps(big, protocol=4)))["weight"], big["weight"])
    for name, (data, expected) in cases.items():
        assert len(data) < 600_000, name
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BelamyError) as err:
            import_model(tmp_path / name, tmp_path / f"run-{name}")
        assert expected in str(err.value) and "\n" not in str(err.value), (name, str(err.value))
    for name in ("tree-bomb.pkl", "zero-stride.pkl"):
        proc = belamy_measured("import", str(tmp_path / name), "--out", str(tmp_path / f"run-{name}"))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and cases[name][1] in lines[0], (name, proc.stderr)
        assert proc.peak_mb < 1000, (name, proc.peak_mb)
        assert not (tmp_path / f"run-{name}").exists()
    assert not armed.marker.exists()
