"""Architectures by name: how to build each from its config, its defaults, and which task trains it.

A model file registers its architecture at its bottom with :func:`register`. Built-in model files
are listed in ``BUILTIN_MODULES``; adding an architecture is one new file plus one line there (or a
``register`` call from your own code, before ``belamy.train.train``). ``train``, ``generate``,
``eval``, ``export``, ``walk``, ``exhibit`` and ``distill`` then pick it up by name: they use only
the model contract (:mod:`belamy.models.contract`) and what is registered here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from belamy.errors import BelamyError

# One line per built-in model file (each registers its architectures when imported).
BUILTIN_MODULES = (
    "belamy.models.dcgan",
    "belamy.models.fastgan",
    "belamy.models.style",
    "belamy.models.stylegan3",
    "belamy.models.rrdb",
    "belamy.models.pix2pix",
)


@dataclass(frozen=True)
class Architecture:
    name: str
    config_from_dict: Callable[[dict], Any]  # the config stored in run.json / checkpoints -> config
    make_generator: Callable[[Any], nn.Module]
    make_discriminator: Callable[[Any], nn.Module] | None = None
    # Training options (keywords: res, nz, ngf, ndf, w_dim, map_layers, channel_base, channel_max,
    # label_names, aspect, conv_clamp; unknown ones ignored) -> a validated config.
    make_config: Callable[..., Any] | None = None
    task: str | None = "gan"  # the training task that trains it (belamy.train.tasks), or another command's
    default_loss: str = "nonsat"
    losses: tuple[str, ...] | None = None  # the losses it trains with (None: any loss that takes it)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # option defaults for a new run
    derive_defaults: Callable[[Any], None] | None = None  # defaults that depend on other options
    uses: frozenset[str] = frozenset()  # options only some architectures take, that this one reads
    summary: str = ""  # one line for --help
    design: str = ""  # whose network design it follows, for credits and provenance


_ARCHITECTURES: dict[str, Architecture] = {}
_loaded = False


def register(arch: Architecture) -> Architecture:
    """Make ``arch`` known by name (a later registration of the same name replaces it)."""
    _ARCHITECTURES[arch.name] = arch
    return arch


def get_architecture(name: str) -> Architecture:
    _load_builtin()
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        raise BelamyError(f"unknown architecture {name!r}", f"choose one of: {', '.join(architecture_names())}") from None


def architecture_names(task: str | None = None) -> list[str]:
    """Every registered architecture, or those trained by ``task``."""
    _load_builtin()
    return sorted(n for n, a in _ARCHITECTURES.items() if task is None or a.task == task)


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
