"""One optimisation step per architecture, shared by the training loop and the benchmarks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from belamy.runs.stats import StatsCollector
from belamy.train.loss import DCGANLoss
from belamy.utils.device import autocast_context


def dcgan_step(G, D, opt_G, opt_D, loss: DCGANLoss, real: torch.Tensor, z: torch.Tensor, stats: StatsCollector,
               autocast_dtype: torch.dtype | None = None,
               reduce_gradients: Callable[[nn.Module], None] | None = None) -> None:
    """One DCGAN iteration: a D update on a real and a fake batch, then a G update through the same fake.

    ``reduce_gradients(module)`` averages a phase's gradients over torchrun ranks before its step.
    """
    with autocast_context(z.device, autocast_dtype):
        fake = G(z)
        D.requires_grad_(True)
        opt_D.zero_grad(set_to_none=True)
        loss.accumulate_gradients("Dmain", real, fake, stats)
        if reduce_gradients is not None:
            reduce_gradients(D)
        opt_D.step()
        # D's weight gradients from the G phase would be discarded: freezing D skips computing them.
        D.requires_grad_(False)
        opt_G.zero_grad(set_to_none=True)
        loss.accumulate_gradients("Gmain", real, fake, stats)
        if reduce_gradients is not None:
            reduce_gradients(G)
        opt_G.step()
