"""Losses by name. A loss file defines a :class:`~belamy.train.losses.base.GANLoss` subclass and
registers it; built-in loss files are listed in ``BUILTIN_MODULES`` (one line each)."""

from __future__ import annotations

import importlib

from belamy.errors import BelamyError
from belamy.train.losses.base import GANLoss, Phase, StepBatch

BUILTIN_MODULES = (
    "belamy.train.losses.dcgan",
    "belamy.train.losses.fastgan",
    "belamy.train.losses.stylegan2",
    "belamy.train.losses.pix2pix",
    "belamy.train.losses.can",
)

_LOSSES: dict[str, type[GANLoss]] = {}
_loaded = False


def register_loss(cls: type[GANLoss]) -> type[GANLoss]:
    """Make a loss known by its ``name`` (usable as a class decorator)."""
    _LOSSES[cls.name] = cls
    return cls


def get_loss(name: str) -> type[GANLoss]:
    _load_builtin()
    try:
        return _LOSSES[name]
    except KeyError:
        raise BelamyError(f"--loss {name} is not valid", f"choose one of: {', '.join(loss_names())}") from None


def loss_names() -> list[str]:
    _load_builtin()
    return sorted(_LOSSES)


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


__all__ = ["GANLoss", "Phase", "StepBatch", "get_loss", "loss_names", "register_loss"]
