"""The PyTorch DCGAN tutorial's networks (``main.0`` … ``main.12``) → belamy's DCGAN.

The tutorial's generator is belamy's layer for layer (transposed convs with BatchNorm and ReLU,
Tanh last), so its keys load as they are; its discriminator's last conv (``main.11`` at 64²)
becomes belamy's ``head``, and its Sigmoid lives in belamy's loss. Sizes come from the shapes:
nz from the first layer, ngf/ndf from the widths, the resolution from the number of layers.
"""

from __future__ import annotations

import re

import torch

from belamy.errors import BelamyError
from belamy.importers.imported import ImportedModel
from belamy.models.dcgan import DCGANConfig, check_resolution

_NOT_TUTORIAL = "belamy imports the PyTorch DCGAN tutorial's Generator/Discriminator state dicts (keys main.0 …)"
_G_NAMES = ("netG", "generator", "G", "netG_state_dict", "generator_state_dict", "model_G")
_D_NAMES = ("netD", "discriminator", "D", "netD_state_dict", "discriminator_state_dict", "model_D")


def _strip(sd: dict) -> dict:
    """Drop DataParallel's ``module.`` prefix (the tutorial wraps its nets in it on several GPUs)."""
    return {(k[len("module."):] if isinstance(k, str) and k.startswith("module.") else k): v for k, v in sd.items()}


def _is_layout(sd: object) -> bool:
    return isinstance(sd, dict) and any(isinstance(k, str) and re.fullmatch(r"(module\.)?main\.\d+\.weight", k) for k in sd)


def looks_like_tutorial(obj: object) -> bool:
    return _is_layout(obj) or (isinstance(obj, dict) and any(_is_layout(obj.get(n)) for n in _G_NAMES + _D_NAMES))


def _convs(sd: dict) -> list[int]:
    """Indices of the 4-D weights (the convolutions), in order."""
    found = []
    for k, v in sd.items():
        m = re.fullmatch(r"main\.(\d+)\.weight", str(k))
        if m and torch.is_tensor(v) and v.ndim == 4:
            found.append(int(m.group(1)))
    return sorted(found)


def _is_generator(sd: dict) -> bool:
    convs = _convs(sd)
    # A generator's first layer maps nz (×1×1) up to a 4×4 map; its weight is [nz, width, 4, 4] and
    # its last layer outputs 3 channels; a discriminator's first conv takes 3 channels in.
    return bool(convs) and sd[f"main.{convs[0]}.weight"].shape[1] != 3 and sd[f"main.{convs[-1]}.weight"].shape[1] == 3


def _split(obj: dict, discriminator: dict | None) -> tuple[dict | None, dict | None]:
    if _is_layout(obj):
        sd = _strip(obj)
        return (sd, discriminator) if _is_generator(sd) else (None, sd)
    g = next((obj[n] for n in _G_NAMES if _is_layout(obj.get(n))), None)
    d = next((obj[n] for n in _D_NAMES if _is_layout(obj.get(n))), None)
    return (_strip(g) if g is not None else None), (_strip(d) if d is not None else discriminator)


def _floats(sd: dict, what: str) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        if not torch.is_tensor(v):
            raise BelamyError(f"the {what}'s {k} is not a tensor", _NOT_TUTORIAL)
        out[str(k)] = v.float() if v.is_floating_point() else v
    return out


def read_tutorial_dcgan(obj: dict, discriminator: object = None, label_names: list[str] | None = None) -> ImportedModel:
    if label_names:
        raise BelamyError("the tutorial's DCGAN is unconditional", "drop --label-names")
    d_extra = None
    if discriminator is not None:
        if not _is_layout(discriminator) and not looks_like_tutorial(discriminator):
            raise BelamyError("the --discriminator file is not a tutorial-layout discriminator", _NOT_TUTORIAL)
        d_extra = _split(discriminator, None)[1] if not _is_layout(discriminator) else _strip(discriminator)
    g_sd, d_sd = _split(obj, d_extra)
    if g_sd is None:
        raise BelamyError("the file holds a discriminator but no generator",
                          "give the generator's file, and the discriminator's with --discriminator")
    g_convs = _convs(g_sd)
    first = g_sd[f"main.{g_convs[0]}.weight"]
    last = g_sd[f"main.{g_convs[-1]}.weight"]
    if first.shape[2:] != (4, 4) or last.shape[1] != 3:
        raise BelamyError(f"the generator's first layer is {tuple(first.shape)}; expected [nz, width, 4, 4]", _NOT_TUTORIAL)
    doublings = len(g_convs) - 1
    res = 4 * 2**doublings
    check_resolution(res, low=16, high=1024)
    ngf = last.shape[0]
    ndf = 64
    if d_sd is not None:
        d_convs = _convs(d_sd)
        if len(d_convs) != doublings + 1:
            raise BelamyError(f"the discriminator has {len(d_convs)} convolutions and the generator {len(g_convs)}",
                              "give a matching pair")
        ndf = d_sd[f"main.{d_convs[0]}.weight"].shape[0]
    cfg = DCGANConfig(res=res, nz=first.shape[0], ngf=ngf, ndf=ndf)
    tensors = {f"G.{k}": v for k, v in _floats(g_sd, "generator").items()}
    notes = []
    if d_sd is not None:
        head = f"main.{_convs(d_sd)[-1]}."
        for k, v in _floats(d_sd, "discriminator").items():
            tensors["D." + ("head." + k[len(head):] if k.startswith(head) else "features." + k[len("main."):])] = v
    else:
        notes.append("no discriminator given: `train --init` starts it afresh (pass --discriminator netD.pth)")
    return ImportedModel(arch="dcgan", config=cfg, tensors=tensors, format="pytorch-tutorial-dcgan", notes=notes)
