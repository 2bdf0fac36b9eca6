"""Recipes by name: whole sets of training settings, chosen by measurement for the compute at hand.

``belamy train`` with neither ``--arch`` nor ``--preset`` uses ``auto``: the best measured recipe
for the device it trains on. Settings given on the command line win over the preset's; the
preset's name, the device it was chosen for and the settings it filled are printed when the run
starts and stored in run.json (``preset``), and a resumed run keeps them.

The figures behind ``cpu-fast`` are in docs/quality-per-compute.md (bench/quality_per_compute.py: held-out SWD and
the two-sample yardstick per CPU budget at 64² and 128²).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from belamy.errors import BelamyError


@dataclass(frozen=True)
class LongerRun:
    """Settings a preset adds at one resolution for a run longer than ``kimg`` thousand images or ``minutes``."""

    res: int
    kimg: float
    minutes: float
    settings: Mapping[str, Any]

    def covers(self, res: int, kimg: float | None, minutes: float | None) -> bool:
        return res == self.res and ((kimg or 0) > self.kimg or (minutes or 0) > self.minutes)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    settings: Mapping[str, Any] = field(default_factory=dict)  # options by name: TrainOptions fields or declared ones
    longer: tuple[LongerRun, ...] = ()  # settings added for long runs

    def settings_for(self, res: int, kimg: float | None, minutes: float | None) -> dict[str, Any]:
        """What the preset sets for a run at ``res``² of ``kimg`` thousand images or ``minutes``."""
        settings = dict(self.settings)
        for extra in self.longer:
            if extra.covers(res, kimg, minutes):
                settings.update(extra.settings)
        return settings


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "cpu-fast",
            "the best pictures per CPU hour at 64² and 128² (measured): a light FastGAN (skip-layer excitation, "
            "a self-supervised D), batch 16, a G average, bf16 where the CPU does it natively; a 64² run "
            "longer than 50 kimg or 10 minutes also halves its learning rates every 50 kimg",
            # Batch 16 without augmentation: twice the steps of the reference's batch 32 in the same
            # time, and DiffAugment's harder task slows the first tens of kimg that a CPU budget buys.
            {"arch": "fastgan", "ngf": 16, "ndf": 16, "batch": 16, "augment": "none", "ema_kimg": 10.0,
             "ema_rampup": 0.05, "precision": "auto"},
            # At 64² a constant rate drifts after 10 CPU minutes (~50 kimg); halving it every 50 kimg keeps
            # 30 and 60 minutes better than 10. Shorter runs (the demo's 6 minutes) are level or better
            # without it, and at 128² it lost 0.09 AUC at an hour: it is set for long 64² runs only.
            longer=(LongerRun(res=64, kimg=50.0, minutes=10.0, settings={"lr_half_life_kimg": 50.0}),),
        ),
        Preset(
            "classic",
            "the DCGAN as art-DCGAN publishes it (widths 64, batch 64, no augmentation, no average)",
            {"arch": "dcgan"},
        ),
    )
}
AUTO = "auto"
PRESET_CHOICES = (AUTO, *PRESETS)


def preset_help() -> str:
    lines = [f"{AUTO}: the best measured recipe for this device (cpu-fast on a CPU, classic on a GPU); "
             "the default when neither --arch nor --preset is given, unless --loss or an option you give "
             "needs another architecture"]
    lines += [f"{p.name}: {p.summary}" for p in PRESETS.values()]
    return "; ".join(lines) + ". Options you give win over the preset's."


def choose(name: str, device_type: str) -> tuple[Preset, str]:
    """The preset ``name`` stands for on a ``device_type`` ('cpu' or 'cuda'), and why."""
    if name == AUTO:
        if device_type == "cpu":
            return PRESETS["cpu-fast"], "auto on a CPU"
        # No recipe has been measured on a GPU yet (the GPU budgets of the quality bench will say).
        return PRESETS["classic"], "auto on a GPU: no GPU recipe measured yet"
    if name not in PRESETS:
        raise BelamyError(f"--preset {name} is not valid", f"use one of {', '.join(PRESET_CHOICES)}")
    return PRESETS[name], "asked for"


def apply_preset(options, device_type: str) -> dict | None:
    """Fill the settings ``options`` leaves unset from its preset (``auto`` when it names neither an
    architecture nor a preset); returns what run.json records, or None when no preset applies."""
    from belamy.models.registry import canonical_name

    asked = options.preset
    if asked is None:
        if options.arch is not None:
            return None  # an architecture chosen by hand trains with its own defaults
        asked = AUTO
    preset, reason = choose(asked, device_type)
    # A new run's resolution as fill_new_run_defaults sets it, and its length (kimg is filled by now when
    # neither was given).
    settings = preset.settings_for(options.res or 64, options.kimg, options.minutes)
    wanted_arch = settings.get("arch")
    if options.preset is None and wanted_arch is not None and _cannot_train(wanted_arch, options):
        return None  # auto by default only: what the user asked for needs another architecture's defaults
    if options.arch is not None and wanted_arch is not None and canonical_name(options.arch) != wanted_arch:
        raise BelamyError(f"--preset {preset.name} trains --arch {wanted_arch}, not {options.arch}",
                          f"drop --arch to use the preset, or drop --preset to train {options.arch} with its defaults")
    filled, kept = {}, {}
    for name, value in settings.items():
        mine = options.get(name)
        if mine is None:
            options.set(name, value)
            filled[name] = value
        else:
            kept[name] = mine
    options.preset = preset.name
    return {"name": preset.name, "asked": asked, "why": reason, "settings": settings, "filled": filled,
            "yours": kept}


def _cannot_train(arch_name: str, options) -> bool:
    """Whether ``arch_name`` cannot train what ``options`` asks for by hand (a loss, or an option it never reads)."""
    from belamy.gan.losses import get_loss
    from belamy.gan.options import trains, unread_settings
    from belamy.models.registry import get_architecture

    arch = get_architecture(arch_name)
    loss = get_loss(options.loss or arch.default_loss)
    return not trains(arch, loss) or bool(unread_settings(options.settings, arch, loss))


def describe(record: dict, precision_note: str = "") -> str:
    """The line printed when a run starts with a preset."""
    settings = ", ".join(f"{k} {v}" for k, v in record["filled"].items())
    yours = ", ".join(f"{k} {v}" for k, v in record["yours"].items())
    text = f"preset {record['name']} ({record['why']}): {settings or 'nothing left to fill'}"
    if yours:
        text += f"; yours: {yours}"
    return text + precision_note
