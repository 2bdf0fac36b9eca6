"""Losses by name. A loss file defines a :class:`~belamy.gan.losses.base.GANLoss` subclass and
registers it; built-in loss files are listed in ``BUILTIN_MODULES`` (one line each), plug-ins load
through :mod:`belamy.utils.plugins`."""

from __future__ import annotations

from belamy.errors import BelamyError
from belamy.gan.losses.base import GANLoss, Phase, StepBatch
from belamy.utils.plugins import load_plugins

BUILTIN_MODULES = (
    "belamy.gan.losses.dcgan",
    "belamy.gan.losses.fastgan",
    "belamy.gan.losses.stylegan2",
    "belamy.gan.losses.pix2pix",
    "belamy.gan.losses.can",
)

_LOSSES: dict[str, type[GANLoss]] = {}


def register_loss(cls: type[GANLoss]) -> type[GANLoss]:
    """Make a loss known by its ``name`` (usable as a class decorator)."""
    _LOSSES[cls.name] = cls
    return cls


def get_loss(name: str) -> type[GANLoss]:
    load_plugins()
    try:
        return _LOSSES[name]
    except KeyError:
        raise BelamyError(f"--loss {name} is not valid", f"choose one of: {', '.join(loss_names())}") from None


def loss_names() -> list[str]:
    load_plugins()
    return sorted(_LOSSES)


__all__ = ["GANLoss", "Phase", "StepBatch", "get_loss", "loss_names", "register_loss"]
