"""rosinality/stylegan2-pytorch checkpoints (``.pt``: ``g_ema``, ``g``, ``d``, ``latent_avg``) → belamy.

rosinality's layers compute StyleGAN2's function as belamy's exact layers do (a transposed
convolution then the blur to upsample, the blur then a stride-2 conv to downsample), except that
it adds demodulation's 1e-8 to the *scaled* weights: 1e-8 against sums of squares in the
thousands, below float32 round-off. The names differ; the widths follow rosinality's table (512
up to 32², then 256·m, 128·m, … for the channel multiplier m), which belamy's
``min(channel_base / r, channel_max)`` reproduces for m = 1 and 2.
"""

from __future__ import annotations

import math
import re

import torch

from belamy.errors import BelamyError
from belamy.importers.imported import ImportedModel
from belamy.models.style import LAYERS_EXACT, StyleConfig, StyleGenerator

_NOT_ROSINALITY = "belamy imports rosinality stylegan2-pytorch generators (g_ema, g) and discriminators (d)"
W_AVG_SAMPLES = 10_000  # when the file has no latent_avg: the mean w over this many seeded z


def looks_like_rosinality(obj: object) -> bool:
    if not isinstance(obj, dict):
        return False
    g = obj.get("g_ema", obj.get("g"))
    return isinstance(g, dict) and "input.input" in g and any(str(k).startswith("style.") for k in g)


def fit_widths(widths: dict[int, int]) -> tuple[int, int] | None:
    """(channel_base, channel_max) with min(base // r, max) == widths[r] at every r, or None."""
    cmax = max(widths.values())
    below = sorted((r, w) for r, w in widths.items() if w < cmax)
    base = below[0][0] * below[0][1] if below else cmax * max(widths)
    if all(min(base // r, cmax) == w for r, w in widths.items()):
        return base, cmax
    return None


def _tensor(sd: dict, key: str, what: str) -> torch.Tensor:
    value = sd.get(key)
    if not torch.is_tensor(value):
        raise BelamyError(f"the {what} has no {key}", _NOT_ROSINALITY)
    if not value.is_floating_point():
        raise BelamyError(f"the {what}'s {key} is not a float tensor", "the file may be damaged")
    return value.float()


def _styled(sd: dict, src: str, dst: str, what: str, noise: str | None) -> dict[str, torch.Tensor]:
    out = {
        f"{dst}.weight": _tensor(sd, f"{src}.conv.weight", what).squeeze(0),
        f"{dst}.affine.weight": _tensor(sd, f"{src}.conv.modulation.weight", what),
        f"{dst}.affine.bias": _tensor(sd, f"{src}.conv.modulation.bias", what),
    }
    if noise is None:  # toRGB
        out[f"{dst}.bias"] = _tensor(sd, f"{src}.bias", what).reshape(-1)
    else:
        out[f"{dst}.bias"] = _tensor(sd, f"{src}.activate.bias", what)
        out[f"{dst}.noise_strength"] = _tensor(sd, f"{src}.noise.weight", what).reshape(())
        out[f"{dst}.noise_const"] = _tensor(sd, noise, what)[0, 0]
    return out


def _generator_shape(sd: dict, what: str) -> dict:
    const = _tensor(sd, "input.input", what)
    mlp = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"style\.(\d+)\.weight", str(k))))
    if not mlp or mlp != list(range(1, len(mlp) + 1)):
        raise BelamyError(f"the {what}'s mapping layers are not style.1 … style.N", _NOT_ROSINALITY)
    w_dim = _tensor(sd, "style.1.weight", what).shape[0]
    pairs = sum(1 for k in sd if re.fullmatch(r"convs\.\d+\.conv\.weight", str(k)))
    if pairs % 2:
        raise BelamyError(f"the {what} has an odd number of convolutions", _NOT_ROSINALITY)
    res = 4 * 2 ** (pairs // 2)
    widths = {4: const.shape[1]}
    for j in range(1, pairs // 2 + 1):
        widths[4 * 2**j] = _tensor(sd, f"convs.{2 * (j - 1)}.conv.weight", what).shape[1]
    return {"res": res, "w_dim": w_dim, "map_layers": len(mlp), "widths": widths, "start": tuple(const.shape[2:])}


def _generator_tensors(sd: dict, num_blocks: int, what: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    k = 1
    while f"style.{k}.weight" in sd:
        out[f"mapping.layers.{k - 1}.weight"] = _tensor(sd, f"style.{k}.weight", what)
        out[f"mapping.layers.{k - 1}.bias"] = _tensor(sd, f"style.{k}.bias", what)
        k += 1
    out["synthesis.blocks.0.const"] = _tensor(sd, "input.input", what)[0]
    out.update(_styled(sd, "conv1", "synthesis.blocks.0.conv1", what, "noises.noise_0"))
    out.update(_styled(sd, "to_rgb1", "synthesis.blocks.0.torgb", what, None))
    for j in range(1, num_blocks):
        block = f"synthesis.blocks.{j}"
        out.update(_styled(sd, f"convs.{2 * j - 2}", f"{block}.conv0", what, f"noises.noise_{2 * j - 1}"))
        out.update(_styled(sd, f"convs.{2 * j - 1}", f"{block}.conv1", what, f"noises.noise_{2 * j}"))
        out.update(_styled(sd, f"to_rgbs.{j - 1}", f"{block}.torgb", what, None))
    return out


def _discriminator_tensors(sd: dict, num_blocks: int) -> dict[str, torch.Tensor]:
    what = "discriminator"
    out = {"blocks.0.fromrgb.weight": _tensor(sd, "convs.0.0.weight", what),
           "blocks.0.fromrgb.bias": _tensor(sd, "convs.0.1.bias", what)}
    for i in range(num_blocks - 1):
        src, dst = f"convs.{i + 1}", f"blocks.{i}"
        out[f"{dst}.conv0.weight"] = _tensor(sd, f"{src}.conv1.0.weight", what)
        out[f"{dst}.conv0.bias"] = _tensor(sd, f"{src}.conv1.1.bias", what)
        out[f"{dst}.conv1.weight"] = _tensor(sd, f"{src}.conv2.1.weight", what)
        out[f"{dst}.conv1.bias"] = _tensor(sd, f"{src}.conv2.2.bias", what)
        out[f"{dst}.skip.weight"] = _tensor(sd, f"{src}.skip.1.weight", what)
    out.update({
        "conv.weight": _tensor(sd, "final_conv.0.weight", what), "conv.bias": _tensor(sd, "final_conv.1.bias", what),
        "fc.weight": _tensor(sd, "final_linear.0.weight", what), "fc.bias": _tensor(sd, "final_linear.0.bias", what),
        "out.weight": _tensor(sd, "final_linear.1.weight", what), "out.bias": _tensor(sd, "final_linear.1.bias", what),
    })
    return out


def _d_widths(sd: dict, res: int, num_blocks: int) -> dict[int, int]:
    widths = {res: _tensor(sd, "convs.0.0.weight", "discriminator").shape[0]}
    for i in range(num_blocks - 1):
        widths[res // 2 ** (i + 1)] = _tensor(sd, f"convs.{i + 1}.conv2.1.weight", "discriminator").shape[0]
    return widths


@torch.no_grad()
def _mean_w(cfg: StyleConfig, g_tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    G = StyleGenerator(cfg)
    state = G.mapping.state_dict()
    state.update({k[len("mapping."):]: v for k, v in g_tensors.items() if k.startswith("mapping.")})
    G.mapping.load_state_dict(state)
    z = torch.randn(W_AVG_SAMPLES, cfg.z_dim, generator=torch.Generator().manual_seed(0))
    return G.mapping(z)[:, 0].mean(dim=0)


def read_rosinality(obj: dict, label_names: list[str] | None = None) -> ImportedModel:
    if label_names:
        raise BelamyError("rosinality models are unconditional", "drop --label-names")
    sources = {name: obj[key] for name, key in (("G_ema", "g_ema"), ("G", "g")) if isinstance(obj.get(key), dict)}
    if not sources:
        raise BelamyError("the file has no g_ema or g", _NOT_ROSINALITY)
    first = next(iter(sources.values()))
    shape = _generator_shape(first, "generator")
    if shape["start"] != (4, 4):
        raise BelamyError(f"the generator starts from {shape['start']}, not 4×4", _NOT_ROSINALITY)
    res, blocks = shape["res"], int(math.log2(shape["res"])) - 1
    fit = fit_widths(shape["widths"])
    d_sd = obj.get("d") if isinstance(obj.get("d"), dict) else None
    d_fit = fit_widths(_d_widths(d_sd, res, blocks)) if d_sd is not None else fit
    if fit is None or d_fit is None or d_fit[1] != fit[1]:
        raise BelamyError("the channel widths do not follow min(channel_base / res, channel_max)",
                          "belamy takes rosinality models with --channel_multiplier 1 or 2")
    from belamy.models.dcgan import check_resolution

    check_resolution(res, low=16, high=1024)
    cfg = StyleConfig(res=res, z_dim=shape["w_dim"], w_dim=shape["w_dim"], map_layers=shape["map_layers"],
                      g_channel_base=fit[0], d_channel_base=d_fit[0], channel_max=fit[1], mbstd_group=4,
                      layers=LAYERS_EXACT)
    tensors: dict[str, torch.Tensor] = {}
    notes = []
    latent_avg = obj.get("latent_avg")
    for name, sd in sources.items():
        if _generator_shape(sd, name) != shape:
            raise BelamyError(f"the file's {name} and generator differ in shape", "the file may be damaged")
        g = _generator_tensors(sd, blocks, name)
        if torch.is_tensor(latent_avg) and latent_avg.numel() == cfg.w_dim:
            g["mapping.w_avg"] = latent_avg.float().reshape(-1)
        else:
            g["mapping.w_avg"] = _mean_w(cfg, g)
            if name == "G_ema":
                notes.append(f"no latent_avg in the file: truncation pulls toward the mean w of {W_AVG_SAMPLES:,} seeded z")
        tensors.update({f"{name}.{k}": v for k, v in g.items()})
    if d_sd is not None:
        tensors.update({f"D.{k}": v for k, v in _discriminator_tensors(d_sd, blocks).items()})
    else:
        notes.append("the file has no d: `train --init` starts the discriminator afresh")
    details = {}
    if isinstance(obj.get("ada_aug_p"), float | int):
        details["augment_p"] = float(obj["ada_aug_p"])
    return ImportedModel(arch="stylegan2", config=cfg, tensors=tensors, format="rosinality-stylegan2-pytorch",
                         details=details, notes=notes)
