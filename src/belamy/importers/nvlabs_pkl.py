"""NVlabs StyleGAN2 network pickles → belamy's style networks, weight for weight.

Two reference modules write them: ``training.networks`` of NVlabs/stylegan2-ada-pytorch (also what its
``legacy.py`` makes of NVIDIA's TensorFlow releases) and ``training.networks_stylegan2`` of
NVlabs/stylegan3 (``--cfg=stylegan2``, and every StyleGAN3 model's discriminator). They compute the
same function; the second keeps the synthesis settings beside the generator's own and defaults to
``conv_clamp=256``. A pickle names no module (each object carries its class name and the module's
source, which never runs here), so :func:`reference_module` reads the marks each leaves.

The pickle is read by :mod:`belamy.importers.safe_unpickle` (no code runs). Each network's
constructor keyword arguments choose the belamy config; anything that would make the reference
compute a function belamy does not (another architecture, filter, activation, learning-rate
multiplier, label embedding width) is refused by name. Parameter names then map one to one:
``synthesis.b<res>.*`` → ``synthesis.blocks.<i>.*``, ``mapping.fc<i>.*`` → ``mapping.layers.<i>.*``,
D's ``b<res>.*`` → ``blocks.<i>.*`` and its epilogue ``b4.{conv,fc,out}`` → ``{conv,fc,out}``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from belamy.errors import BelamyError
from belamy.importers.imported import ImportedModel
from belamy.importers.safe_unpickle import PersistentObject, RefusedPickle, restricted_load
from belamy.models.style import LAYERS_EXACT, StyleConfig
from belamy.models.style_layers import binomial_filter

NVIDIA_LICENCE_NOTE = ("this file carries the marks of NVIDIA's released models ({marks}): NVIDIA's released "
                       "StyleGAN2 models (and models fine-tuned from them) are under the NVIDIA Source Code "
                       "License-NC, non-commercial use only. Check it before selling or exhibiting the images "
                       "commercially.")
OWN_LICENCE_NOTE = ("this file was saved by a training run ({marks}), not converted like NVIDIA's releases: the "
                    "terms of whoever trained it apply (yours, if you did). If it was fine-tuned from one of "
                    "NVIDIA's models, NVIDIA's non-commercial licence applies too.")

# The reference modules (see the module docstring); StyleGAN3's own is read elsewhere.
SG2ADA, SG3_STYLEGAN2, SG3 = "training.networks", "training.networks_stylegan2", "training.networks_stylegan3"

_NOT_ADA = "belamy imports StyleGAN2 network pickles of NVlabs/stylegan2-ada-pytorch and NVlabs/stylegan3"
_ANY = object()  # any value of this keyword argument computes the same function here

# Positional constructor arguments, by class, in the reference's order (for pickles built that way).
_POSITIONAL = {
    "Generator": ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"),
    "Discriminator": ("c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max",
                      "num_fp16_res", "conv_clamp", "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs"),
}
_FILTER = [1, 3, 3, 1]
# Keyword arguments that change only speed or training, never the function: accepted as they are.
_HARMLESS = {"num_fp16_res", "fp16_channels_last", "channels_last", "freeze_layers", "w_avg_beta",
             "fused_modconv_default"}
_G_OWN = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
# What an absent keyword argument means, by module: NVlabs/stylegan3 clamps convolutions by default.
_DEFAULT_CLAMP = {SG2ADA: None, SG3_STYLEGAN2: 256}


def reference_module(net: PersistentObject) -> str:
    """Which reference module built ``net`` (a Generator or Discriminator). StyleGAN3's synthesis starts
    from an ``input`` layer; NVlabs/stylegan3's layers keep their widths (``in_features``), whose
    stylegan2-ada-pytorch layers do not."""
    synthesis = net.module("synthesis")
    if isinstance(synthesis, PersistentObject) and "input" in synthesis.modules():
        return SG3
    path = ("mapping", "fc0") if net.class_name == "Generator" else ("b4", "fc")
    layer: Any = net
    for part in path:
        layer = layer.module(part) if isinstance(layer, PersistentObject) else None
    return SG3_STYLEGAN2 if isinstance(layer, PersistentObject) and "in_features" in layer.state else SG2ADA


def _kwargs(obj: PersistentObject, what: str) -> dict:
    names = _POSITIONAL.get(obj.class_name, ())
    if len(obj.init_args) > len(names):
        raise BelamyError(f"the {what} was built with {len(obj.init_args)} positional arguments", _NOT_ADA)
    kwargs = dict(zip(names, obj.init_args, strict=False))
    kwargs.update(obj.init_kwargs)
    return kwargs


def _check_kwargs(kwargs: Any, expected: dict[str, Any], what: str) -> dict:
    """Refuse keyword arguments that change the network's function; return the accepted ones."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise BelamyError(f"the {what} options are not a dictionary", _NOT_ADA)
    for key, value in kwargs.items():
        if key in _HARMLESS:
            continue
        if key not in expected:
            raise BelamyError(f"the {what} sets {key}={value!r}, which belamy's networks do not have", _NOT_ADA)
        want = expected[key]
        value = list(value) if isinstance(value, tuple) else value  # a filter given as a tuple
        if want is not _ANY and value != want and not (isinstance(want, tuple) and value in want):
            raise BelamyError(f"the {what} sets {key}={value!r}; belamy computes {key}={want!r}", _NOT_ADA)
    return kwargs


def _class(obj: Any, name: str, what: str) -> PersistentObject:
    if not isinstance(obj, PersistentObject):
        raise BelamyError(f"the pickle's {what} is not a network", _NOT_ADA)
    if obj.class_name != name:
        raise BelamyError(f"the pickle's {what} is a {obj.class_name}, not StyleGAN2-ADA's {name}", _NOT_ADA)
    return obj


def _int(value: Any, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BelamyError(f"the pickle's {what} is {value!r}", "the file may be damaged")
    return value


def _generator_config(G: PersistentObject, module: str) -> dict:
    kw = _kwargs(G, "generator")
    if module == SG3_STYLEGAN2:  # the synthesis settings sit beside the generator's own
        kw = {**{k: v for k, v in kw.items() if k in _G_OWN},
              "synthesis_kwargs": {k: v for k, v in kw.items() if k not in _G_OWN}}
    _check_kwargs({k: v for k, v in kw.items() if k not in ("mapping_kwargs", "synthesis_kwargs")},
                  {"z_dim": _ANY, "c_dim": _ANY, "w_dim": _ANY, "img_resolution": _ANY, "img_channels": 3},
                  "generator")
    mapping = _check_kwargs(kw.get("mapping_kwargs"), {
        "num_layers": _ANY, "embed_features": (None, kw.get("w_dim")), "layer_features": (None, kw.get("w_dim")),
        "activation": "lrelu", "lr_multiplier": 0.01}, "generator's mapping")
    synthesis = _check_kwargs(kw.get("synthesis_kwargs"), {
        "channel_base": _ANY, "channel_max": _ANY, "conv_clamp": _ANY, "architecture": "skip",
        "resample_filter": (_FILTER,), "use_noise": True, "activation": "lrelu", "kernel_size": 3}, "generator's synthesis")
    sub = G.modules()
    if set(sub) != {"mapping", "synthesis"}:
        raise BelamyError(f"the generator has parts {sorted(sub)}", f"{_NOT_ADA} and NVlabs/stylegan3 StyleGAN3 pickles")
    _class(sub["synthesis"], "SynthesisNetwork", "generator's synthesis network")
    _class(sub["mapping"], "MappingNetwork", "generator's mapping network")
    res = _int(kw.get("img_resolution"), "resolution", 4)
    return {
        "res": res, "z_dim": _int(kw.get("z_dim"), "z_dim", 1), "w_dim": _int(kw.get("w_dim"), "w_dim", 1),
        "c_dim": _int(kw.get("c_dim", 0), "c_dim"), "map_layers": _int(mapping.get("num_layers", 8), "mapping depth", 1),
        "g_channel_base": _int(synthesis.get("channel_base", 32768), "channel_base", 1),
        "channel_max": _int(synthesis.get("channel_max", 512), "channel_max", 1),
        "conv_clamp": synthesis.get("conv_clamp", _DEFAULT_CLAMP[module]),
    }


def _discriminator_config(D: PersistentObject, module: str) -> dict:
    kw = _kwargs(D, "discriminator")
    _check_kwargs({k: v for k, v in kw.items() if not k.endswith("_kwargs")},
                  {"c_dim": _ANY, "img_resolution": _ANY, "img_channels": 3, "architecture": ("resnet", "orig"),
                   "channel_base": _ANY, "channel_max": _ANY, "conv_clamp": _ANY, "cmap_dim": _ANY}, "discriminator")
    _check_kwargs(kw.get("block_kwargs"), {"activation": "lrelu", "resample_filter": (_FILTER,)}, "discriminator's blocks")
    # The label mapping exists only for labels, and its learning-rate multiplier scales only its FC layers:
    # legacy.py gives every converted D depth 0 and ×0.1, which compute nothing here.
    c_dim = _int(kw.get("c_dim", 0), "c_dim")
    mapping_kw = kw.get("mapping_kwargs") if isinstance(kw.get("mapping_kwargs"), dict) else {}
    depth = _int(mapping_kw.get("num_layers", 8), "label mapping depth (a count of layers)")
    same = (None, kw.get("cmap_dim"))  # the projection width, given or not
    _check_kwargs(kw.get("mapping_kwargs"), {
        "num_layers": _ANY, "embed_features": same if c_dim else _ANY, "layer_features": same if c_dim else _ANY,
        "activation": "lrelu" if c_dim and depth else _ANY, "lr_multiplier": 0.01 if c_dim and depth else _ANY},
        "discriminator's label mapping")
    epilogue = _check_kwargs(kw.get("epilogue_kwargs"), {
        "mbstd_group_size": _ANY, "mbstd_num_channels": _ANY, "activation": "lrelu"}, "discriminator's epilogue")
    group = epilogue.get("mbstd_group_size", 4)
    return {
        "res": _int(kw.get("img_resolution"), "resolution", 4), "c_dim": c_dim,
        "d_channel_base": _int(kw.get("channel_base", 32768), "channel_base", 1),
        "channel_max": _int(kw.get("channel_max", 512), "channel_max", 1),
        "conv_clamp": kw.get("conv_clamp", _DEFAULT_CLAMP[module]),
        "d_architecture": kw.get("architecture", "resnet"),
        "mbstd_group": 0 if group is None else _int(group, "minibatch-std group", 1),
        "mbstd_channels": _int(epilogue.get("mbstd_num_channels", 1), "minibatch-std channels"),
        "d_map_layers": depth,
        "cmap_dim": 0 if kw.get("cmap_dim") is None else _int(kw.get("cmap_dim"), "cmap_dim", 1),
    }


def _rename_generator(tensors: dict[str, torch.Tensor], res: int) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in tensors.items():
        m = re.fullmatch(r"synthesis\.b(\d+)\.(.+)", name)
        if m:
            r = int(m.group(1))
            name = f"synthesis.blocks.{int(math.log2(r)) - 2}.{m.group(2)}"
        else:
            name = re.sub(r"^mapping\.fc(\d+)\.", r"mapping.layers.\1.", name)
        out[name] = value
    return out


def _rename_discriminator(tensors: dict[str, torch.Tensor], res: int) -> dict[str, torch.Tensor]:
    out = {}
    top = int(math.log2(res))
    for name, value in tensors.items():
        m = re.fullmatch(r"b(\d+)\.(.+)", name)
        if m and m.group(1) == "4":
            name = m.group(2)  # the epilogue: conv, fc, out
        elif m:
            name = f"blocks.{top - int(math.log2(int(m.group(1))))}.{m.group(2)}"
        else:
            name = re.sub(r"^mapping\.fc(\d+)\.", r"mapping.layers.\1.", name)
        out[name] = value
    return out


def _network_tensors(obj: PersistentObject, what: str) -> dict[str, torch.Tensor]:
    """Parameters and buffers as float32, without the resampling filters (belamy builds its own)."""
    tensors = obj.tensors()
    expected = binomial_filter()
    out = {}
    for name, value in tensors.items():
        if name == "resample_filter" or name.endswith(".resample_filter"):
            if value.shape != expected.shape or not torch.allclose(value.float(), expected):
                raise BelamyError(f"the {what}'s {name} is not the [1, 3, 3, 1] filter", _NOT_ADA)
            continue
        if not value.is_floating_point():
            raise BelamyError(f"the {what}'s {name} is not a float tensor", "the file may be damaged")
        out[name] = value.float()
    return out


def licence_note(data: dict, D: PersistentObject | None) -> str:
    """NVIDIA's licence where the file carries the marks of NVIDIA's releases, else the trainer's own.

    NVIDIA's StyleGAN2(-ADA) releases were trained in TensorFlow and converted by the reference's
    ``legacy.py``, which records no training set (``training_set_kwargs`` None) and gives the
    discriminator's label mapping a ×0.1 learning rate (a training run writes ×0.01 or nothing).
    """
    marks = []
    if data.get("training_set_kwargs") is None:
        marks.append("no training set recorded")
    d_mapping = _kwargs(D, "discriminator").get("mapping_kwargs") if D is not None else None
    if isinstance(d_mapping, dict) and d_mapping.get("lr_multiplier") == 0.1:
        marks.append("a discriminator converted from TensorFlow by legacy.py")
    if marks:
        return NVIDIA_LICENCE_NOTE.format(marks="; ".join(marks))
    dataset = data["training_set_kwargs"].get("path") if isinstance(data["training_set_kwargs"], dict) else None
    return OWN_LICENCE_NOTE.format(marks=f"its training set: {Path(dataset).name}" if isinstance(dataset, str)
                                   else "it records its training set")


def read_nvlabs_pickle(path: Path, label_names: list[str] | None = None) -> ImportedModel:
    with open(path, "rb") as f:
        data = restricted_load(f)
    if not isinstance(data, dict):
        raise RefusedPickle(f"{path.name} holds a {type(data).__name__}, not a network snapshot", _NOT_ADA)
    if "G_ema" not in data:
        raise RefusedPickle(f"{path.name} has no G_ema (found: {', '.join(map(str, data)) or 'nothing'})", _NOT_ADA)
    g_ema = _class(data["G_ema"], "Generator", "G_ema")
    module = reference_module(g_ema)
    if module == SG3:  # training.networks_stylegan3: its own importer
        from belamy.importers.stylegan3_pkl import read_stylegan3_pickle

        return read_stylegan3_pickle(data, path, label_names)
    g_cfg = _generator_config(g_ema, module)
    G = _class(data["G"], "Generator", "G") if data.get("G") is not None else None
    D = _class(data["D"], "Discriminator", "D") if data.get("D") is not None else None
    if G is not None and _generator_config(G, reference_module(G)) != g_cfg:
        raise BelamyError(f"{path.name}: G and G_ema have different shapes", "the file may be damaged")
    d_cfg = _discriminator_config(D, reference_module(D)) if D is not None else {}
    if d_cfg:
        for key in ("res", "c_dim", "channel_max", "conv_clamp"):
            if d_cfg[key] != g_cfg[key]:
                raise BelamyError(f"{path.name}: the discriminator's {key} ({d_cfg[key]!r}) differs from the "
                                  f"generator's ({g_cfg[key]!r})", "belamy's G and D share it")
    c_dim = g_cfg["c_dim"]
    names = list(label_names) if label_names else [str(i) for i in range(c_dim)]
    if len(names) != c_dim:
        raise BelamyError(f"{len(names)} label names for a model with {c_dim} classes",
                          f"give {c_dim} names" if c_dim else "this model is unconditional: drop --label-names")
    from belamy.models.dcgan import check_resolution

    check_resolution(g_cfg["res"], low=16, high=1024)
    cfg = StyleConfig(
        res=g_cfg["res"], z_dim=g_cfg["z_dim"], w_dim=g_cfg["w_dim"], map_layers=g_cfg["map_layers"],
        g_channel_base=g_cfg["g_channel_base"], d_channel_base=d_cfg.get("d_channel_base", g_cfg["g_channel_base"]),
        channel_max=g_cfg["channel_max"], num_classes=c_dim, label_names=tuple(names),
        mbstd_group=d_cfg.get("mbstd_group", 4), conv_clamp=g_cfg["conv_clamp"], layers=LAYERS_EXACT,
        mbstd_channels=d_cfg.get("mbstd_channels", 1), d_architecture=d_cfg.get("d_architecture", "resnet"),
        d_map_layers=d_cfg.get("d_map_layers", 8), cmap_dim=d_cfg.get("cmap_dim", 0),
    )
    res = cfg.res
    tensors = {f"G_ema.{k}": v for k, v in _rename_generator(_network_tensors(g_ema, "G_ema"), res).items()}
    if G is not None:
        tensors.update({f"G.{k}": v for k, v in _rename_generator(_network_tensors(G, "G"), res).items()})
    if D is not None:
        tensors.update({f"D.{k}": v for k, v in _rename_discriminator(_network_tensors(D, "D"), res).items()})
    info: dict[str, Any] = {}
    ts = data.get("training_set_kwargs")
    if isinstance(ts, dict):
        for key in ("path", "resolution", "use_labels", "max_size", "xflip"):
            if isinstance(ts.get(key), str | int | float | bool):
                info[f"training_set_{key}"] = Path(ts[key]).name if key == "path" else ts[key]
    aug = data.get("augment_pipe")
    if isinstance(aug, PersistentObject):
        p = aug.tensors().get("p")
        if p is not None and p.numel() == 1:
            info["augment_p"] = round(float(p), 6)
    missing = [name for name in ("G", "D") if data.get(name) is None]
    return ImportedModel(
        arch="stylegan2", config=cfg, tensors=tensors, details=info, seed_latents="numpy-randomstate",
        format="nvlabs-stylegan2-ada-pkl" if module == SG2ADA else "nvlabs-stylegan3-stylegan2-pkl",
        licence_note=licence_note(data, D),
        notes=[f"the pickle has no {name}: `train --init` starts it afresh" if name == "D" else
               "the pickle has no G: `train --init` starts it from G_ema" for name in missing],
    )
