"""NVlabs StyleGAN2-ADA (PyTorch) network pickles → belamy's style networks, weight for weight.

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

LICENCE_NOTE = ("NVIDIA's released StyleGAN2-ADA models (and models fine-tuned from them) are under the NVIDIA "
                "Source Code License-NC: non-commercial use only. Check the licence of this model before selling "
                "or exhibiting its images commercially.")

_NOT_ADA = "belamy imports StyleGAN2-ADA (PyTorch) network pickles"
_ANY = object()  # any value of this keyword argument computes the same function here

# Positional constructor arguments, by class, in the reference's order (for pickles built that way).
_POSITIONAL = {
    "Generator": ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"),
    "Discriminator": ("c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max",
                      "num_fp16_res", "conv_clamp", "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs"),
}
_FILTER = [1, 3, 3, 1]
# Keyword arguments that change only speed or training, never the function: accepted as they are.
_HARMLESS = {"num_fp16_res", "fp16_channels_last", "channels_last", "freeze_layers", "w_avg_beta"}


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


def _generator_config(G: PersistentObject) -> dict:
    kw = _kwargs(G, "generator")
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
        "conv_clamp": synthesis.get("conv_clamp"),
    }


def _discriminator_config(D: PersistentObject) -> dict:
    kw = _kwargs(D, "discriminator")
    _check_kwargs({k: v for k, v in kw.items() if not k.endswith("_kwargs")},
                  {"c_dim": _ANY, "img_resolution": _ANY, "img_channels": 3, "architecture": ("resnet", "orig"),
                   "channel_base": _ANY, "channel_max": _ANY, "conv_clamp": _ANY, "cmap_dim": _ANY}, "discriminator")
    _check_kwargs(kw.get("block_kwargs"), {"activation": "lrelu", "resample_filter": (_FILTER,)}, "discriminator's blocks")
    mapping = _check_kwargs(kw.get("mapping_kwargs"), {
        "num_layers": _ANY, "embed_features": None, "layer_features": None, "activation": "lrelu",
        "lr_multiplier": 0.01}, "discriminator's label mapping")
    epilogue = _check_kwargs(kw.get("epilogue_kwargs"), {
        "mbstd_group_size": _ANY, "mbstd_num_channels": _ANY, "activation": "lrelu"}, "discriminator's epilogue")
    group = epilogue.get("mbstd_group_size", 4)
    return {
        "res": _int(kw.get("img_resolution"), "resolution", 4), "c_dim": _int(kw.get("c_dim", 0), "c_dim"),
        "d_channel_base": _int(kw.get("channel_base", 32768), "channel_base", 1),
        "channel_max": _int(kw.get("channel_max", 512), "channel_max", 1), "conv_clamp": kw.get("conv_clamp"),
        "d_architecture": kw.get("architecture", "resnet"),
        "mbstd_group": 0 if group is None else _int(group, "minibatch-std group", 1),
        "mbstd_channels": _int(epilogue.get("mbstd_num_channels", 1), "minibatch-std channels"),
        "d_map_layers": _int(mapping.get("num_layers", 8), "label mapping depth", 1),
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


def read_nvlabs_pickle(path: Path, label_names: list[str] | None = None) -> ImportedModel:
    with open(path, "rb") as f:
        data = restricted_load(f)
    if not isinstance(data, dict):
        raise RefusedPickle(f"{path.name} holds a {type(data).__name__}, not a network snapshot", _NOT_ADA)
    if "G_ema" not in data:
        raise RefusedPickle(f"{path.name} has no G_ema (found: {', '.join(map(str, data)) or 'nothing'})", _NOT_ADA)
    from belamy.importers.stylegan3_pkl import is_stylegan3, read_stylegan3_pickle

    if is_stylegan3(data["G_ema"]):  # training.networks_stylegan3: its own importer
        return read_stylegan3_pickle(data, path, label_names)
    g_ema = _class(data["G_ema"], "Generator", "G_ema")
    g_cfg = _generator_config(g_ema)
    G = _class(data["G"], "Generator", "G") if data.get("G") is not None else None
    D = _class(data["D"], "Discriminator", "D") if data.get("D") is not None else None
    if G is not None and _generator_config(G) != g_cfg:
        raise BelamyError(f"{path.name}: G and G_ema have different shapes", "the file may be damaged")
    d_cfg = _discriminator_config(D) if D is not None else {}
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
        arch="style", config=cfg, tensors=tensors, format="nvlabs-stylegan2-ada-pkl", details=info,
        seed_latents="numpy-randomstate", licence_note=LICENCE_NOTE,
        notes=[f"the pickle has no {name}: `train --init` starts it afresh" if name == "D" else
               "the pickle has no G: `train --init` starts it from G_ema" for name in missing],
    )
