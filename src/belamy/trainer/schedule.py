"""A learning rate that halves every so many images: the schedule of `sr train` and, as an option, of `belamy train`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from belamy.utils.declared import option


@dataclass
class ScheduleOptions:
    lr_half_life_kimg: float | None = option(
        0.0, help="The learning rate halves every this many kimg (0: constant), for G and D alike.",
        check=lambda v: v >= 0, hint="use 0 (constant) or a number of kimg, e.g. 50")


def halve_learning_rates(optimizers: list[tuple[torch.optim.Optimizer, float]], nimg: int, half_life_kimg: float) -> None:
    """Set each optimizer's rate to its starting rate halved once per ``half_life_kimg`` of images seen.
    Stateless (a function of ``nimg``), so a resumed run takes the same rates; 0 leaves the rates alone."""
    if not half_life_kimg:
        return
    factor = 0.5 ** (nimg / (half_life_kimg * 1000))
    for optimizer, start in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = start * factor
