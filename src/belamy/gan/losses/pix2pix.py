"""The pix2pix loss (Isola et al. 2017): a conditional GAN term, L1 to the real picture, and an optional
feature-matching term on the run's own discriminator against blur.

D judges concat(condition, picture) patch by patch: real pairs should score 1, generated ones 0
(softplus on logits; the D loss is halved, as the paper does, so D learns slower than G). G descends
the non-saturating GAN term, plus ``l1_weight`` (λ, 100 as published) times the mean absolute error to
the real painting, plus ``fm_weight`` times the L1 between D's layer activations for the real pair and
for the generated one (Wang et al. 2018, pix2pixHD): a perceptual-style term that sharpens what L1
alone averages into blur, with no downloaded network.

One generated batch serves both phases: D learns from it detached, G back-propagates through it.
The condition travels in ``batch.cache["condition"]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from belamy.gan.losses import register_loss
from belamy.gan.losses.base import GANLoss, Phase, StepBatch
from belamy.trainer.stats import StatsCollector


@register_loss
class Pix2PixLoss(GANLoss):
    name = "pix2pix"
    summary = "conditional GAN + λ·L1 to the real picture (+ D feature matching): pix2pix"
    archs = frozenset({"pix2pix"})
    phases = (Phase("Dmain", trains="D", freeze_others=False), Phase("Gmain", trains="G"))

    def __init__(self, G, D, options, augment=None):
        super().__init__(G, D, options, augment)
        self.l1_weight = float(options.settings["l1_weight"])  # declared by the pix2pix task (belamy.gan.pix2pix)
        self.fm_weight = float(options.settings["fm_weight"])

    def fake(self, batch: StepBatch) -> torch.Tensor:
        if "fake" not in batch.cache:
            batch.cache["fake"] = self.G(batch.cache["condition"])
        return batch.cache["fake"]

    def accumulate_gradients(self, phase: str, batch: StepBatch, stats: StatsCollector) -> None:
        condition, real = batch.cache["condition"], batch.real
        fake = self.fake(batch)
        if phase == "Dmain":
            logits_real = self.D(condition, real)
            logits_fake = self.D(condition, fake.detach())
            loss = 0.5 * (F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean())
            loss.backward()
            self.record_discrimination(stats, loss, logits_real, logits_fake)
        elif phase == "Gmain":
            want_features = self.fm_weight > 0
            out = self.D(condition, fake, features=want_features)
            logits, fake_features = out if want_features else (out, None)
            gan = F.softplus(-logits).mean()
            l1 = (fake - real).abs().mean()
            loss = gan + self.l1_weight * l1
            if want_features:
                with torch.no_grad():
                    _, real_features = self.D(condition, real, features=True)
                fm = sum((f - r).abs().mean() for f, r in zip(fake_features, real_features, strict=True)) / len(real_features)
                loss = loss + self.fm_weight * fm
                stats.add("loss_G_fm", fm)
            loss.backward()
            stats.add("loss_G", gan)
            stats.add("loss_G_l1", l1)
        else:
            raise ValueError(f"unknown phase {phase!r}")
