"""GAN losses as classes with named phases, as in stylegan2-ada-pytorch.

A phase computes one loss and back-propagates it into the networks it trains. The loop decides
the order and which optimizer steps after which phase.

The minimax loss is the formula signed on Edmond de Belamy,
``min_G max_D E_x[log D(x)] + E_z[log(1 − D(G(z)))]``: with logits l and D = sigmoid(l),
log D = −softplus(−l) and log(1 − D) = −softplus(l).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DCGANLoss:
    """Phases ``Dmain`` (real and fake, separate batches so BatchNorm sees each alone) and ``Gmain``."""

    phases = ("Dmain", "Gmain")

    def __init__(self, G: nn.Module, D: nn.Module, kind: str = "nonsat"):
        if kind not in ("minimax", "nonsat"):
            raise ValueError(f"unknown loss {kind!r}")
        self.G, self.D, self.kind = G, D, kind

    def accumulate_gradients(self, phase: str, real: torch.Tensor, fake: torch.Tensor, stats) -> None:
        if phase == "Dmain":
            logits_real = self.D(real)
            logits_fake = self.D(fake.detach())
            # D ascends log D(x) + log(1 − D(G(z))), i.e. descends softplus(−l_real) + softplus(l_fake).
            loss = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
            loss.backward()
            stats.add("loss_D", loss)
            stats.add("D_real", torch.sigmoid(logits_real).mean())
            stats.add("D_fake", torch.sigmoid(logits_fake).mean())
        elif phase == "Gmain":
            logits = self.D(fake)
            if self.kind == "minimax":
                loss = -F.softplus(logits).mean()  # descends log(1 − D(G(z))): saturates when D wins
            else:
                loss = F.softplus(-logits).mean()  # descends −log D(G(z)): Goodfellow's practical variant
            loss.backward()
            stats.add("loss_G", loss)
        else:
            raise ValueError(f"unknown phase {phase!r}")
