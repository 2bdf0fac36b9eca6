"""The exponential moving average of the generator's weights (``G_ema``), as in StyleGAN2-ADA.

The half-life is given in images (``ema_kimg``) so it does not depend on the batch size, and it
ramps up with training (``ramp``: at most that fraction of the images seen so far), so that
early, fast-changing weights are not averaged over a long, meaningless past.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    """A frozen copy of G in eval mode."""
    return copy.deepcopy(G).eval().requires_grad_(False)


def ema_beta(batch: int, nimg: int, ema_kimg: float, ramp: float | None) -> float:
    ema_nimg = ema_kimg * 1000
    if ramp is not None:
        ema_nimg = min(ema_nimg, nimg * ramp)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


def warmup_beta(step: int, beta: float = 0.999) -> float:
    """A fixed ``beta`` eased in over the first steps (Real-ESRGAN's average), so the random initial
    weights do not dominate an early average."""
    return min(beta, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema ← β·G_ema + (1 − β)·G for parameters; buffers (w_avg, noise) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.lerp_(p.detach().to(p_ema.dtype), 1 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)
