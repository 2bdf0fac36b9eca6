"""Architectures by name: how to build each from its config, its defaults, and which task trains it.

A model file registers its architecture at its bottom with :func:`register`. Built-in model files
are listed in ``BUILTIN_MODULES``; adding an architecture is one new file plus one line there (or a
``register`` call in a plug-in module, see :mod:`belamy.utils.plugins`). ``train``, ``generate``,
``eval``, ``export``, ``walk``, ``exhibit`` and ``distill`` then pick it up by name: they use only
the model contract (:mod:`belamy.models.contract`) and what is registered here.

The training options an architecture reads are fields of the dataclasses in its ``options`` (see
:mod:`belamy.utils.declared`); ``belamy train`` takes them as flags and refuses them for any other
architecture. Options several architectures read are declared once, below or in a shared dataclass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from belamy.errors import BelamyError
from belamy.utils.declared import option
from belamy.utils.plugins import load_plugins

# One line per built-in model file (each registers its architectures when imported).
BUILTIN_MODULES = (
    "belamy.models.dcgan",
    "belamy.models.fastgan",
    "belamy.models.style",
    "belamy.models.stylegan3",
    "belamy.models.rrdb",
    "belamy.models.pix2pix",
)


@dataclass
class EMAOptions:
    """Architectures whose samples an average of G (G_ema) can draw."""

    ema_kimg: float | None = option(
        help="Half-life in kimg of G_ema, the average of G that draws samples (stylegan2: batch·10/32; fastgan: 10; "
             "dcgan: none unless given).",
        check=lambda v: v >= 0, hint="use 0 (no average) or a positive half-life in kimg")
    ema_rampup: float | None = option(0.05, help="G_ema's ramp-up: its half-life is at most this fraction of the images "
                                                 "seen so far (default: 0.05).",
                                      check=lambda v: v >= 0, hint="use 0 or a fraction such as 0.05")


@dataclass
class LabelOptions:
    """Architectures that can be class-conditional, and losses that read the corpus's classes."""

    labels: str | None = option(help="The corpus's classes: a manifest field (e.g. style) or 'folder' (the source's "
                                     "folder name). stylegan2: class-conditional; --loss can: the styles D learns to name.")


@dataclass(frozen=True)
class Architecture:
    name: str
    config_from_dict: Callable[[dict], Any]  # the config stored in run.json / checkpoints -> config
    make_generator: Callable[[Any], nn.Module]
    make_discriminator: Callable[[Any], nn.Module] | None = None
    # Training options (keywords: res, nz, ngf, ndf, label_names, aspect, conv_clamp and every declared
    # option of the run, by name; unknown ones ignored) -> a validated config.
    make_config: Callable[..., Any] | None = None
    task: str | None = "gan"  # the training task that trains it (belamy.gan.registry), or another command's
    default_loss: str = "nonsat"
    losses: tuple[str, ...] | None = None  # the losses it trains with (None: any loss that takes it)
    options: tuple[type, ...] = ()  # dataclasses of the training options it reads (belamy.utils.declared)
    # A new run's defaults where they are its own: common options (batch, lr, ...) and declared ones;
    # a value, or a callable of the run's options.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # older names that still find it (run.json files keep the name they were made with)
    # What a loss that adds terms to the architecture's own (e.g. CAN) asks of it:
    base_loss: str | None = None  # that own loss (None: such losses do not train it)
    equalized: bool = False  # its layers use the equalised learning rate (a head on D should too)
    feature_hook: Callable[[nn.Module, Any], tuple[Any, Any]] | None = None  # (D, x) -> D's logits and features, one pass
    summary: str = ""  # one line for --help
    design: str = ""  # whose network design it follows, for credits and provenance


def one_pass_features(D: nn.Module, x) -> tuple[Any, Any]:
    """The feature hook of a discriminator with ``logits_and_features``: logits and penultimate features, one pass."""
    return D.logits_and_features(x)


_ARCHITECTURES: dict[str, Architecture] = {}
_ALIASES: dict[str, str] = {}


def register(arch: Architecture) -> Architecture:
    """Make ``arch`` known by name (a later registration of the same name replaces it)."""
    _ARCHITECTURES[arch.name] = arch
    _ALIASES.update(dict.fromkeys(arch.aliases, arch.name))
    return arch


def get_architecture(name: str) -> Architecture:
    load_plugins()
    try:
        return _ARCHITECTURES[_ALIASES.get(name, name)]
    except KeyError:
        raise BelamyError(f"unknown architecture {name!r}", f"choose one of: {', '.join(architecture_names())}") from None


def canonical_name(name: str | None) -> str | None:
    """The name an architecture is registered under, for ``name`` or one of its aliases (unknown: ``name``)."""
    load_plugins()
    return _ALIASES.get(name, name)


def architecture_names(task: str | None = None) -> list[str]:
    """Every registered architecture, or those trained by ``task``."""
    load_plugins()
    return sorted(n for n, a in _ARCHITECTURES.items() if task is None or a.task == task)
