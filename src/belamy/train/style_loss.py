"""StyleGAN2's loss with named phases, and one optimisation step of the style-based GAN.

Phases (as in stylegan2-ada-pytorch's ``StyleGAN2Loss``):
  ``Gmain``  non-saturating logistic loss on fakes, softplus(−D(aug(G(z))));
  ``Dmain``  logistic loss on fakes and reals, softplus(D(aug(G(z)))) + softplus(−D(aug(x)));
  ``Dreg``   lazy R1: (γ/2)·‖∇_x D(aug(x))‖², every ``r1_interval`` D steps, scaled by the interval
             so its average strength does not depend on how often it runs.
Both real and fake images go through the same augmentation; its ADA heuristic reads D's logits on
reals in ``Dmain``. Every random draw comes from the one ``rng`` generator the loop saves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from belamy.runs.distributed import DistInfo, average_gradients
from belamy.runs.stats import StatsCollector
from belamy.utils.device import autocast_context


class StyleGANLoss:
    phases = ("Gmain", "Dmain", "Dreg")

    def __init__(self, G: nn.Module, D: nn.Module, augment: nn.Module | None = None, r1_gamma: float = 1.0,
                 r1_interval: int = 16, style_mixing: float = 0.9):
        self.G, self.D, self.augment = G, D, augment
        self.r1_gamma, self.r1_interval, self.style_mixing = r1_gamma, r1_interval, style_mixing

    def _aug(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return images if self.augment is None else self.augment(images, rng)

    def run_G(self, z: torch.Tensor, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        G = self.G
        ws = G.mapping(z, labels, update_w_avg=True)
        if self.style_mixing > 0:
            # Style-mixing regularisation: from a random layer on, styles come from another z.
            n = z.shape[0]
            cutoff = torch.randint(1, ws.shape[1], (n,), generator=rng, device=z.device)
            use = torch.rand(n, generator=rng, device=z.device) < self.style_mixing
            cutoff = torch.where(use, cutoff, torch.full_like(cutoff, ws.shape[1]))
            z2 = torch.randn(z.shape, generator=rng, device=z.device)
            ws2 = G.mapping(z2, labels, update_w_avg=False)
            layer = torch.arange(ws.shape[1], device=z.device)[None, :]
            ws = torch.where((layer >= cutoff[:, None])[:, :, None], ws2, ws)
        return G.synthesis(ws, noise_mode="random", generator=rng)

    def accumulate_gradients(self, phase: str, real: torch.Tensor, real_labels, z: torch.Tensor, gen_labels,
                             rng: torch.Generator, stats: StatsCollector) -> None:
        if phase == "Gmain":
            fake = self.run_G(z, gen_labels, rng)
            logits = self.D(self._aug(fake, rng), gen_labels)
            loss = F.softplus(-logits).mean()
            loss.backward()
            stats.add("loss_G", loss)
        elif phase == "Dmain":
            with torch.no_grad():
                fake = self.run_G(z, gen_labels, rng)
            logits_fake = self.D(self._aug(fake, rng), gen_labels)
            logits_real = self.D(self._aug(real, rng), real_labels)
            loss = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
            loss.backward()
            if self.augment is not None and hasattr(self.augment, "accumulate"):
                self.augment.accumulate(logits_real)
            stats.add("loss_D", loss)
            stats.add("D_real", torch.sigmoid(logits_real.detach().float()).mean())
            stats.add("D_fake", torch.sigmoid(logits_fake.detach().float()).mean())
            stats.add("sign_real", logits_real.detach().float().sign().mean())
        elif phase == "Dreg":
            # R1 on the real images before augmentation, as ADA does: grid_sample's double backward
            # carries the penalty through the augmentation.
            x = real.detach().requires_grad_(True)
            logits = self.D(self._aug(x, rng), real_labels)
            (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
            penalty = grad.float().square().sum(dim=(1, 2, 3))
            loss = penalty.mean() * (self.r1_gamma / 2) * self.r1_interval
            loss.backward()
            stats.add("r1_penalty", penalty.mean().detach())
        else:
            raise ValueError(f"unknown phase {phase!r}")


def lazy_adam_settings(lr: float, betas: tuple[float, float], interval: int) -> tuple[float, tuple[float, float]]:
    """StyleGAN2's correction for lazy regularisation: the optimizer steps interval+1 times per interval."""
    if interval <= 0:
        return lr, betas
    ratio = interval / (interval + 1)
    return lr * ratio, (betas[0] ** ratio, betas[1] ** ratio)


def style_step(G, D, opt_G, opt_D, loss: StyleGANLoss, real, real_labels, z, gen_labels, rng: torch.Generator,
               stats: StatsCollector, step: int, autocast_dtype: torch.dtype | None = None,
               dist_info: DistInfo | None = None) -> None:
    """One iteration: G update, D update, and every ``r1_interval`` steps an R1 update of D."""
    info = dist_info or DistInfo()
    with autocast_context(z.device, autocast_dtype):
        # G phase: D frozen (its weight gradients would be thrown away).
        G.requires_grad_(True)
        D.requires_grad_(False)
        opt_G.zero_grad(set_to_none=True)
        loss.accumulate_gradients("Gmain", real, real_labels, z, gen_labels, rng, stats)
        average_gradients(info, G)
        opt_G.step()
        # D phase: G frozen.
        G.requires_grad_(False)
        D.requires_grad_(True)
        opt_D.zero_grad(set_to_none=True)
        z_d = torch.randn(z.shape, generator=rng, device=z.device)
        loss.accumulate_gradients("Dmain", real, real_labels, z_d, gen_labels, rng, stats)
        average_gradients(info, D)
        opt_D.step()
    if loss.r1_gamma > 0 and loss.r1_interval > 0 and step % loss.r1_interval == 0:
        # R1 in fp32: its double backward is where reduced precision hurts most.
        opt_D.zero_grad(set_to_none=True)
        loss.accumulate_gradients("Dreg", real, real_labels, z, gen_labels, rng, stats)
        average_gradients(info, D)
        opt_D.step()
    G.requires_grad_(True)
