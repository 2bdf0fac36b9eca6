"""NVlabs/stylegan3 StyleGAN3 (-T and -R) network pickles → belamy's ``stylegan3`` networks.

Read by the same restricted unpickler as StyleGAN2-ADA pickles (no code runs); told apart from them
by the generator's parts (``training.networks_stylegan3``'s synthesis has an ``input`` layer of
Fourier features). The generator's keyword arguments become the config; the low-pass filters are
designed again from it and must equal the pickle's (otherwise the file computes something else).
Parameter names map one to one: ``mapping.fc<i>`` → ``mapping.layers.<i>``,
``synthesis.L<i>_<size>_<channels>`` → ``synthesis.layers.<i>``. D is StyleGAN2's and imports as
StyleGAN2-ADA's does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from belamy.errors import BelamyError
from belamy.importers.imported import ImportedModel
from belamy.importers.nvlabs_pkl import (
    _ANY,
    SG3,
    _check_kwargs,
    _class,
    _discriminator_config,
    _int,
    _network_tensors,
    _rename_discriminator,
    reference_module,
)
from belamy.importers.safe_unpickle import PersistentObject
from belamy.models.stylegan3 import StyleGAN3Config, StyleGAN3Generator

FORMAT = "nvlabs-stylegan3-pkl"
_NOT_SG3 = "belamy imports StyleGAN3 pickles of NVlabs/stylegan3"
# NVIDIA trained its StyleGAN3 releases with the same code users train with (no legacy.py conversion), so
# no mark in the file tells them apart: the note says which terms apply in each case.
LICENCE_NOTE = ("a StyleGAN3 pickle carries no mark that tells NVIDIA's releases from a model someone trained: if "
                "this is one of NVIDIA's released models (or fine-tuned from one), the NVIDIA Source Code License-NC "
                "applies, non-commercial use only; if you trained it yourself, your own terms apply.")
_POSITIONAL = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
# The reference's synthesis keywords that are belamy config fields of the same name.
_SYNTHESIS = ("channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
              "last_stopband_rel", "margin_size", "output_scale", "conv_kernel", "filter_size", "lrelu_upsampling",
              "use_radial_filters", "conv_clamp", "magnitude_ema_beta")
_FILTER_TOLERANCE = 1e-6  # float32 round-off of the designed taps (scipy's Bessel function vs torch's)


def is_stylegan3(g_ema: Any) -> bool:
    """A generator of ``training.networks_stylegan3``: its synthesis starts with Fourier features."""
    return isinstance(g_ema, PersistentObject) and reference_module(g_ema) == SG3


def _generator_config(G: PersistentObject) -> dict:
    if len(G.init_args) > len(_POSITIONAL):
        raise BelamyError(f"the generator was built with {len(G.init_args)} positional arguments", _NOT_SG3)
    kw = dict(zip(_POSITIONAL, G.init_args, strict=False))
    kw.update(G.init_kwargs)
    harmless = {"num_fp16_res": _ANY}  # speed only: the layers that run in fp16 on a GPU
    _check_kwargs({k: v for k, v in kw.items() if k != "mapping_kwargs"},
                  {"z_dim": _ANY, "c_dim": _ANY, "w_dim": _ANY, "img_resolution": _ANY, "img_channels": 3,
                   **{k: _ANY for k in _SYNTHESIS}, **harmless}, "generator")
    mapping = _check_kwargs(kw.get("mapping_kwargs"), {"num_layers": _ANY, "lr_multiplier": 0.01}, "generator's mapping")
    _class(G.module("synthesis"), "SynthesisNetwork", "generator's synthesis network")
    _class(G.module("mapping"), "MappingNetwork", "generator's mapping network")
    cfg = {"res": _int(kw.get("img_resolution"), "resolution", 16), "z_dim": _int(kw.get("z_dim"), "z_dim", 1),
           "w_dim": _int(kw.get("w_dim"), "w_dim", 1), "num_classes": _int(kw.get("c_dim", 0), "c_dim"),
           "map_layers": _int(mapping.get("num_layers", 2), "mapping depth", 1)}
    return {**cfg, **{key: kw[key] for key in _SYNTHESIS if key in kw}}  # (each checked by the config)


def _generator_tensors(obj: PersistentObject, G: StyleGAN3Generator, what: str) -> dict[str, torch.Tensor]:
    """The pickle's tensors under belamy's names; its filters checked against the ones designed here."""
    layers = [name for name in obj.module("synthesis").modules() if re.fullmatch(r"L\d+_\d+_\d+", name)]
    layers = {name: i for i, name in enumerate(layers)}  # in the reference's (construction) order
    out = {}
    for name, value in obj.tensors().items():
        if not value.is_floating_point():
            raise BelamyError(f"the {what}'s {name} is not a float tensor", "the file may be damaged")
        m = re.fullmatch(r"synthesis\.(L\d+_\d+_\d+)\.(.+)", name)
        if m and m.group(1) in layers:
            index, rest = layers[m.group(1)], m.group(2)
            if rest in ("up_filter", "down_filter"):
                ours = getattr(G.synthesis.layers[index], rest) if index < len(G.synthesis.layers) else None
                if ours is None or ours.shape != value.shape or \
                        (ours - value.float()).abs().max() > _FILTER_TOLERANCE * float(ours.abs().max()):
                    raise BelamyError(f"the {what}'s {name} is not the filter its settings design", _NOT_SG3)
                continue
            name = f"synthesis.layers.{index}.{rest}"
        else:
            name = re.sub(r"^mapping\.fc(\d+)\.", r"mapping.layers.\1.", name)
        out[name] = value.float()
    return out


def read_stylegan3_pickle(data: dict, path: Path, label_names: list[str] | None = None) -> ImportedModel:
    """An unpickled NVlabs/stylegan3 snapshot (its G_ema is a StyleGAN3 generator) as an imported model."""
    g_ema = _class(data["G_ema"], "Generator", "G_ema")
    g_cfg = _generator_config(g_ema)
    G = _class(data["G"], "Generator", "G") if data.get("G") is not None else None
    if G is not None and (not is_stylegan3(G) or _generator_config(G) != g_cfg):
        raise BelamyError(f"{path.name}: G and G_ema have different shapes", "the file may be damaged")
    D = _class(data["D"], "Discriminator", "D") if data.get("D") is not None else None
    d_cfg = _discriminator_config(D, reference_module(D)) if D is not None else {}
    for key in ("res", "c_dim"):
        if d_cfg and d_cfg[key] != {"res": g_cfg["res"], "c_dim": g_cfg["num_classes"]}[key]:
            raise BelamyError(f"{path.name}: the discriminator's {key} differs from the generator's", "the file may be damaged")
    c_dim = g_cfg["num_classes"]
    names = list(label_names) if label_names else [str(i) for i in range(c_dim)]
    if len(names) != c_dim:
        raise BelamyError(f"{len(names)} label names for a model with {c_dim} classes",
                          f"give {c_dim} names" if c_dim else "this model is unconditional: drop --label-names")
    d_fields = {"d_channel_base": "d_channel_base", "d_channel_max": "channel_max", "mbstd_group": "mbstd_group",
                "mbstd_channels": "mbstd_channels", "d_architecture": "d_architecture", "d_map_layers": "d_map_layers",
                "cmap_dim": "cmap_dim", "d_conv_clamp": "conv_clamp"}
    extra = {ours: d_cfg[theirs] for ours, theirs in d_fields.items() if theirs in d_cfg}
    cfg = StyleGAN3Config(**g_cfg, label_names=tuple(names), **extra)
    model = StyleGAN3Generator(cfg)
    tensors = {f"G_ema.{k}": v for k, v in _generator_tensors(g_ema, model, "G_ema").items()}
    if G is not None:
        tensors.update({f"G.{k}": v for k, v in _generator_tensors(G, model, "G").items()})
    if D is not None:
        tensors.update({f"D.{k}": v for k, v in _rename_discriminator(_network_tensors(D, "D"), cfg.res).items()})
    missing = [name for name in ("G", "D") if data.get(name) is None]
    return ImportedModel(
        arch="stylegan3", config=cfg, tensors=tensors, format=FORMAT, details={"stylegan3_config": cfg.variant},
        seed_latents="numpy-randomstate", licence_note=LICENCE_NOTE,
        notes=[f"the pickle has no {name}: `train --init` starts it afresh" if name == "D" else
               "the pickle has no G: `train --init` starts it from G_ema" for name in missing],
    )
