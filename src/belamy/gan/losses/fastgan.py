"""FastGAN's loss: hinge on patch logits, plus D's self-supervised reconstruction of real pictures.

``Dmain``: ``relu(1 − D(x)) + relu(1 + D(G(z)))`` averaged over D's patch logits, plus the L1
distance between what D's two decoders redraw from its features of the (augmented) real picture
and that picture: the whole at the decoders' size, and one quadrant drawn at random from the run's
stream. FastGAN adds a perceptual distance from a downloaded network; belamy keeps to pixels.
``Gmain``: ``−D(G(z))``, the hinge generator loss. One fake batch serves both phases, as for the
DCGAN; real and fake batches go through D separately, so BatchNorm sees each alone.

``--lecam-weight λ`` adds LeCam's regulariser (Tseng et al., CVPR 2021) to ``Dmain``, for a D that
gets ahead on a small corpus: ``λ·(mean relu(D(x) − α_F)² + mean relu(α_R − D(G(z)))²)``, where
α_R and α_F are running means (decay 0.99) of D's logits on real and fake pictures. It keeps D's
real and fake logits from drifting apart; its two running means are saved with D.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from belamy.gan.losses import register_loss
from belamy.gan.losses.base import GANLoss, Phase, StepBatch
from belamy.models.fastgan import reconstruction_targets
from belamy.trainer.stats import StatsCollector
from belamy.utils.declared import option

RECONSTRUCTION_WEIGHT = 1.0  # the reference's weight for its reconstruction term
LECAM = "lecam"  # the checkpoint prefix of LeCam's running means


@dataclass
class FastGANOptions:
    lecam_weight: float | None = option(
        0.0, help="fastgan loss: weight λ of LeCam's regulariser on D, which keeps its real and fake logits near "
        "each other's running means (0: off; the paper uses 0.1-0.3 with a hinge loss).",
        check=lambda v: 0 <= v <= 100, hint="use 0 (off) or a small positive number, e.g. 0.3")


class LeCamAnchors(nn.Module):
    """The running means α_R, α_F of D's logits on real and fake pictures (buffers: saved, never trained)."""

    def __init__(self, decay: float = 0.99):
        super().__init__()
        self.decay = decay
        self.register_buffer("real", torch.zeros(()))
        self.register_buffer("fake", torch.zeros(()))

    def penalty(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
        """LeCam's term against the means so far, then the means move towards this batch's."""
        logits_real, logits_fake = logits_real.float(), logits_fake.float()
        term = F.relu(logits_real - self.fake).pow(2).mean() + F.relu(self.real - logits_fake).pow(2).mean()
        with torch.no_grad():
            self.real.lerp_(logits_real.mean(), 1 - self.decay)
            self.fake.lerp_(logits_fake.mean(), 1 - self.decay)
        return term


@register_loss
class FastGANLoss(GANLoss):
    name = "fastgan"
    summary = "FastGAN: hinge on patch logits + L1 reconstruction by D's decoders (the default for fastgan)"
    archs = frozenset({"fastgan"})
    phases = (Phase("Dmain", trains="D", freeze_others=False), Phase("Gmain", trains="G"))
    declares = (FastGANOptions,)

    def __init__(self, G, D, options, augment=None, label_names=()):
        super().__init__(G, D, options, augment, label_names)
        self.lecam_weight = options.settings_of(FastGANOptions).lecam_weight or 0.0
        self.anchors = LeCamAnchors().to(next(D.parameters()).device) if self.lecam_weight > 0 else None

    def extra_modules(self) -> dict[str, tuple[nn.Module, str]]:
        return {LECAM: (self.anchors, "D")} if self.anchors is not None else {}

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

    def discriminator_loss(self, batch: StepBatch, fake: torch.Tensor, stats: StatsCollector):
        """D's loss on the real batch and the (detached) ``fake``: the hinge, the reconstruction and LeCam's
        term if asked; with its hinge alone, its real and fake logits and its features of the real pictures."""
        hinge_real, recon, logits_real, features = self.real_terms(batch)
        logits_fake = self.fake_logits(fake, batch.rng)
        hinge = hinge_real + F.relu(1 + logits_fake.float()).mean()
        loss = hinge + RECONSTRUCTION_WEIGHT * recon
        stats.add("recon", recon)
        if self.anchors is not None:
            lecam = self.anchors.penalty(logits_real, logits_fake)
            loss = loss + self.lecam_weight * lecam
            stats.add("lecam", lecam)
        return loss, hinge, logits_real, logits_fake, features

    def accumulate_gradients(self, phase: str, batch: StepBatch, stats: StatsCollector) -> None:
        fake = self.fake(batch)
        if phase == "Dmain":
            loss, hinge, logits_real, logits_fake, _ = self.discriminator_loss(batch, fake.detach(), stats)
            loss.backward()
            self.record_discrimination(stats, hinge, logits_real, logits_fake)
        elif phase == "Gmain":
            loss = -self.fake_logits(fake, batch.rng).float().mean()
            loss.backward()
            stats.add("loss_G", loss)
        else:
            raise ValueError(f"unknown phase {phase!r}")
