"""Architectures by name: how to build each from its JSON config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from belamy.errors import BelamyError


@dataclass(frozen=True)
class Architecture:
    name: str
    make_config: Callable[..., Any]        # CLI-level options -> config dataclass (validated)
    config_from_dict: Callable[[dict], Any]
    make_generator: Callable[[Any], nn.Module]
    make_discriminator: Callable[[Any], nn.Module]


_ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> None:
    _ARCHITECTURES[arch.name] = arch


def get_architecture(name: str) -> Architecture:
    _load_builtin()
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(_ARCHITECTURES))
        raise BelamyError(f"unknown architecture {name!r}", f"choose one of: {known}") from None


def architecture_names() -> list[str]:
    _load_builtin()
    return sorted(_ARCHITECTURES)


def _load_builtin() -> None:
    if "dcgan" in _ARCHITECTURES and "style" in _ARCHITECTURES:
        return
    from belamy.models import dcgan, style

    register(
        Architecture(
            name="dcgan",
            make_config=lambda res=64, nz=None, ngf=None, ndf=None, aspect="1:1", **_: dcgan.dcgan_config(
                res, nz or 100, ngf, ndf, aspect or "1:1"),
            config_from_dict=dcgan.DCGANConfig.from_dict,
            make_generator=dcgan.DCGANGenerator,
            make_discriminator=dcgan.DCGANDiscriminator,
        )
    )
    # StyleGAN2-class: extra options (w_dim, map_layers, channel_base, channel_max, label_names, aspect)
    # arrive as keyword arguments; unknown ones are ignored so every arch takes the same call.
    register(
        Architecture(
            name="style",
            make_config=style.style_config,
            config_from_dict=style.StyleConfig.from_dict,
            make_generator=style.StyleGenerator,
            make_discriminator=style.StyleDiscriminator,
        )
    )
