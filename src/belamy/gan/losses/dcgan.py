"""The losses of the Belamy DCGAN: the minimax formula signed on the painting, and its practical variant.

``minimax`` is ``min_G max_D E_x[log D(x)] + E_z[log(1 − D(G(z)))]``: with logits l and
D = sigmoid(l), log D = −softplus(−l) and log(1 − D) = −softplus(l). ``nonsat`` is the same D loss
with Goodfellow's non-saturating G loss, −log D(G(z)), which trains better in practice.

One fake batch G(z) serves both phases, as in dcgan.torch: D's phase learns from it detached, G's
phase back-propagates through it (so G is not frozen during D's phase). Real and fake batches go
through D separately so BatchNorm sees each alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from belamy.gan.losses import register_loss
from belamy.gan.losses.base import GANLoss, Phase, StepBatch
from belamy.trainer.stats import StatsCollector


class _DCGANLoss(GANLoss):
    phases = (Phase("Dmain", trains="D", freeze_others=False), Phase("Gmain", trains="G"))

    def fake(self, batch: StepBatch) -> torch.Tensor:
        if "fake" not in batch.cache:
            batch.cache["fake"] = self.G(batch.z, batch.gen_labels)
        return batch.cache["fake"]

    def generator_loss(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def accumulate_gradients(self, phase: str, batch: StepBatch, stats: StatsCollector) -> None:
        fake = self.fake(batch)
        if phase == "Dmain":
            logits_real = self.D(self.augment_images(batch.real, batch.rng), batch.real_labels)
            logits_fake = self.D(self.augment_images(fake.detach(), batch.rng), batch.gen_labels)
            # D ascends log D(x) + log(1 − D(G(z))), i.e. descends softplus(−l_real) + softplus(l_fake).
            loss = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
            loss.backward()
            self.record_discrimination(stats, loss, logits_real, logits_fake)
        elif phase == "Gmain":
            loss = self.generator_loss(self.D(self.augment_images(fake, batch.rng), batch.gen_labels))
            loss.backward()
            stats.add("loss_G", loss)
        else:
            raise ValueError(f"unknown phase {phase!r}")


@register_loss
class NonSaturatingLoss(_DCGANLoss):
    name = "nonsat"
    summary = "non-saturating: G descends −log D(G(z)) (trains better; the default for dcgan)"

    def generator_loss(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-logits).mean()


@register_loss
class MinimaxLoss(_DCGANLoss):
    name = "minimax"
    summary = "the formula signed on Edmond de Belamy: G descends log(1 − D(G(z))) (saturates when D wins)"

    def generator_loss(self, logits: torch.Tensor) -> torch.Tensor:
        return -F.softplus(logits).mean()
