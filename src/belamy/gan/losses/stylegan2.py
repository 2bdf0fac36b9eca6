"""StyleGAN2's loss for the stylegan2 (and stylegan3) architectures, with named phases as in stylegan2-ada-pytorch.

  ``Gmain``  non-saturating logistic loss on fakes, softplus(−D(aug(G(z))));
  ``Dmain``  logistic loss on fakes and reals, softplus(D(aug(G(z)))) + softplus(−D(aug(x)));
  ``Dreg``   lazy R1: (γ/2)·‖∇_x D(aug(x))‖², every ``r1_interval`` steps, scaled by the interval
             so its average strength does not depend on how often it runs; in full precision.
G runs with style mixing (from a random layer on, styles come from a second z). Both real and
fake images go through the same augmentation; ADA's heuristic reads D's logits on reals in ``Dmain``.
Every random draw comes from the run's one ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from belamy.gan.losses import register_loss
from belamy.gan.losses.base import GANLoss, Phase, StepBatch
from belamy.trainer.stats import StatsCollector
from belamy.utils.declared import option


@dataclass
class StyleGAN2Options:
    r1_gamma: float | None = option(
        help="stylegan2 loss: R1 weight γ (default: 0.0002·res²/batch).", check=lambda v: v >= 0,
        hint="use 0 or a positive number",
        derive=lambda run: round(0.0002 * run.res * run.res / run.batch, 6))  # StyleGAN2-ADA 'auto'
    r1_interval: int | None = option(16, help="stylegan2 loss: steps between lazy R1 passes (default: 16).",
                                     check=lambda v: v >= 0, hint="use 0 (never) or a number of steps, e.g. 16")
    style_mixing: float | None = option(0.9, help="stylegan2 loss: probability of mixing two latents' styles (default: 0.9).",
                                        check=lambda v: 0 <= v <= 1, hint="use a probability in [0, 1]")


@register_loss
class StyleGAN2Loss(GANLoss):
    name = "stylegan2"
    summary = "StyleGAN2: non-saturating logistic loss, lazy R1, style mixing (the default for stylegan2)"
    archs = frozenset({"stylegan2", "stylegan3"})  # NVlabs/stylegan3 trains its generators with this loss too
    declares = (StyleGAN2Options,)

    def __init__(self, G, D, options, augment=None, label_names=()):
        super().__init__(G, D, options, augment, label_names)
        own = options.settings_of(StyleGAN2Options)
        self.r1_gamma, self.r1_interval, self.style_mixing = own.r1_gamma, own.r1_interval, own.style_mixing
        phases = [Phase("Gmain", trains="G"), Phase("Dmain", trains="D")]
        if self.r1_gamma > 0 and self.r1_interval > 0:
            phases.append(Phase("Dreg", trains="D", interval=self.r1_interval, full_precision=True))
        self.phases = tuple(phases)

    def optimizer_settings(self, trains, lr, betas):
        """StyleGAN2's correction for lazy regularisation: D's optimizer steps interval+1 times per interval."""
        interval = self.r1_interval if self.r1_gamma > 0 else 0
        if trains != "D" or interval <= 0:
            return lr, betas
        ratio = interval / (interval + 1)
        return lr * ratio, (betas[0] ** ratio, betas[1] ** ratio)

    def run_G(self, z: torch.Tensor, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        G = self.G
        ws = G.mapping(z, labels, update_w_avg=True)
        if self.style_mixing > 0:
            n = z.shape[0]
            cutoff = torch.randint(1, ws.shape[1], (n,), generator=rng, device=z.device)
            use = torch.rand(n, generator=rng, device=z.device) < self.style_mixing
            cutoff = torch.where(use, cutoff, torch.full_like(cutoff, ws.shape[1]))
            z2 = torch.randn(z.shape, generator=rng, device=z.device)
            ws2 = G.mapping(z2, labels, update_w_avg=False)
            layer = torch.arange(ws.shape[1], device=z.device)[None, :]
            ws = torch.where((layer >= cutoff[:, None])[:, :, None], ws2, ws)
        return G.synthesis(ws, noise_mode="random", generator=rng)

    def accumulate_gradients(self, phase: str, batch: StepBatch, stats: StatsCollector) -> None:
        rng = batch.rng
        if phase == "Gmain":
            fake = self.run_G(batch.z, batch.gen_labels, rng)
            logits = self.D(self.augment_images(fake, rng), batch.gen_labels)
            loss = F.softplus(-logits).mean()
            loss.backward()
            stats.add("loss_G", loss)
        elif phase == "Dmain":
            z = torch.randn(batch.z.shape, generator=rng, device=batch.z.device)  # fresh latents for D's fakes
            with torch.no_grad():
                fake = self.run_G(z, batch.gen_labels, rng)
            logits_fake = self.D(self.augment_images(fake, rng), batch.gen_labels)
            logits_real = self.D(self.augment_images(batch.real, rng), batch.real_labels)
            loss = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
            loss.backward()
            self.record_discrimination(stats, loss, logits_real, logits_fake, sign_real=True)
        elif phase == "Dreg":
            # R1 on the real images before augmentation, as ADA does: grid_sample's double backward
            # carries the penalty through the augmentation.
            x = batch.real.detach().requires_grad_(True)
            logits = self.D(self.augment_images(x, rng), batch.real_labels)
            (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
            penalty = grad.float().square().sum(dim=(1, 2, 3))
            loss = penalty.mean() * (self.r1_gamma / 2) * self.r1_interval
            loss.backward()
            stats.add("r1_penalty", penalty.mean().detach())
        else:
            raise ValueError(f"unknown phase {phase!r}")
