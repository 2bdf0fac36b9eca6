"""FastGAN's loss: hinge on patch logits, plus D's self-supervised reconstruction of real pictures.

``Dmain``: ``relu(1 − D(x)) + relu(1 + D(G(z)))`` averaged over D's patch logits, plus the L1
distance between what D's two decoders redraw from its features of the (augmented) real picture
and that picture: the whole at the decoders' size, and one quadrant drawn at random from the run's
stream. FastGAN adds a perceptual distance from a downloaded network; belamy keeps to pixels.
``Gmain``: ``−D(G(z))``, the hinge generator loss. One fake batch serves both phases, as for the
DCGAN; real and fake batches go through D separately, so BatchNorm sees each alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from belamy.gan.losses import register_loss
from belamy.gan.losses.base import GANLoss, Phase, StepBatch
from belamy.models.fastgan import reconstruction_targets
from belamy.trainer.stats import StatsCollector

RECONSTRUCTION_WEIGHT = 1.0  # the reference's weight for its reconstruction term


@register_loss
class FastGANLoss(GANLoss):
    name = "fastgan"
    summary = "FastGAN: hinge on patch logits + L1 reconstruction by D's decoders (the default for fastgan)"
    archs = frozenset({"fastgan"})
    phases = (Phase("Dmain", trains="D", freeze_others=False), Phase("Gmain", trains="G"))

    def fake(self, batch: StepBatch) -> torch.Tensor:
        if "fake" not in batch.cache:
            batch.cache["fake"] = self.G(batch.z, batch.gen_labels)
        return batch.cache["fake"]

    def real_terms(self, batch: StepBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """D on the (augmented) real batch: its hinge term, the reconstruction term, its patch logits and
        its features (for a loss that adds a head, as CAN does)."""
        real = self.augment_images(batch.real, batch.rng)
        quadrant = int(torch.randint(4, (1,), generator=batch.rng, device=batch.rng.device))
        logits_real, whole, part, features = self.D.logits_and_reconstructions(real, quadrant)
        target_whole, target_part = reconstruction_targets(real, quadrant, tuple(whole.shape[2:]))
        recon = F.l1_loss(whole.float(), target_whole.float()) + F.l1_loss(part.float(), target_part.float())
        return F.relu(1 - logits_real.float()).mean(), recon, logits_real, features

    def fake_logits(self, fake: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return self.D.patch_logits(self.augment_images(fake, rng))

    def accumulate_gradients(self, phase: str, batch: StepBatch, stats: StatsCollector) -> None:
        fake = self.fake(batch)
        if phase == "Dmain":
            hinge_real, recon, logits_real, _ = self.real_terms(batch)
            logits_fake = self.fake_logits(fake.detach(), batch.rng)
            hinge = hinge_real + F.relu(1 + logits_fake.float()).mean()
            (hinge + RECONSTRUCTION_WEIGHT * recon).backward()
            self.record_discrimination(stats, hinge, logits_real, logits_fake)
            stats.add("recon", recon)
        elif phase == "Gmain":
            loss = -self.fake_logits(fake, batch.rng).float().mean()
            loss.backward()
            stats.add("loss_G", loss)
        else:
            raise ValueError(f"unknown phase {phase!r}")
