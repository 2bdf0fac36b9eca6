"""CAN: Creative Adversarial Networks (Elgammal, Liu, Elhoseiny and Mazzone, 2017).

The discriminator learns two things: whether an image is real, and which of the corpus's K styles a
real painting belongs to, with a style head of three fully connected layers (1024, 512 and K wide,
as in the paper) on D's penultimate features. The head belongs to this loss and trains with D. The
generator takes no class; it is rewarded for fooling the first task and confusing the second:

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0) + CE(head(x), style of x)
    L_G = BCE(D(G(z)), 1) + λ · CE(uniform over K, head(G(z)))

The second G term is the paper's style ambiguity loss, −(1/K)·Σ_k log p_k(G(z)): smallest (log K)
when D's posterior over the styles is uniform. ``--can-weight`` is λ (default 1). ``--label-noise``
draws D's real and fake targets from U[0.8, 1.2] and U[0, 0.3] at every step, as the reference
implementation (mlberkeley/Creative-Adversarial-Networks) does. ``--style-augment`` shows the head
shifted and cut-out views of the real paintings, through one more pass of D, instead of
the paintings D's real/fake task sees: a head on a few thousand paintings otherwise learns the
paintings rather than their styles (right on ~98% of its own, ~30% of others', measured at 64² on
WikiArt), and G is then pushed away from particular paintings, not from styles. G and D's
real/fake task still see the paintings as they are, so the augmentation cannot leak into G.

Everything else is the architecture's own loss (``Architecture.base_loss``): the DCGAN's
non-saturating loss (one fake batch for both phases), StyleGAN2's for ``--arch stylegan2`` (style
mixing, lazy R1 and its Adam correction, whose options it then reads too), or FastGAN's for
``--arch fastgan``, whose hinge on patch logits takes the place of the two cross-entropies above
and whose reconstruction term stays in L_D. ADA and DiffAugment augment everything D sees, the
style head's input included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from belamy.errors import BelamyError
from belamy.gan.augment import DiffAugment
from belamy.gan.losses import get_loss, register_loss
from belamy.gan.losses.base import GANLoss, StepBatch
from belamy.gan.losses.fastgan import FastGANLoss
from belamy.gan.losses.stylegan2 import StyleGAN2Loss
from belamy.models.contract import image_shape
from belamy.models.registry import Architecture, LabelOptions, get_architecture
from belamy.trainer.stats import StatsCollector
from belamy.utils.declared import option

HIDDEN = (1024, 512)
HEAD = "can_head"  # the style head's prefix in checkpoints
# --style-augment: DiffAugment's geometric policies, no colour (a painting's palette is part of its style).
STYLE_VIEWS = DiffAugment("translation,cutout")


@dataclass
class CANOptions:
    can_weight: float | None = option(1.0, help="--loss can: λ, the weight of the style-ambiguity term in G's loss "
                                                "(default: 1).",
                                      check=lambda v: 0 <= v <= 1000, hint="use a weight from 0 to 1000, e.g. 1")
    label_noise: bool | None = option(False, help="--loss can: D's real/fake targets drawn from U(0.8, 1.2) and "
                                                  "U(0, 0.3), as the reference CAN does (default: off).")
    style_augment: bool | None = option(False, help="--loss can: the style head learns from shifted and cut-out views "
                                                    "of the paintings (one more pass of D), so it learns styles, not the "
                                                    "paintings; G and D's real/fake task see them as they are (default: off).")


class _Linear(nn.Module):
    """A fully connected layer whose weights start at N(0, std) and are scaled by ``gain`` when used:
    DCGAN's N(0, 0.02) with gain 1, or StyleGAN2's equalised learning rate (N(0, 1), gain 1/√fan_in),
    so the head learns at the pace of the discriminator it sits on."""

    def __init__(self, cin: int, cout: int, equalized: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) * (1.0 if equalized else 0.02))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.gain = 1 / math.sqrt(cin) if equalized else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.gain, self.bias)


class StyleHead(nn.Module):
    """D's features → logits over the K styles: 1024 → 512 → K, leaky ReLU between (the paper's)."""

    def __init__(self, in_features: int, num_styles: int, equalized: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for hidden in HIDDEN:
            layers += [_Linear(width, hidden, equalized), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(_Linear(width, num_styles, equalized))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features.flatten(1).float())


def feature_size(D: nn.Module) -> int:
    """The width of D's penultimate features, from one pass of two blank images (eval mode: no statistics move)."""
    param = next(D.parameters())
    height, width = image_shape(D.cfg)
    was_training = D.training
    D.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(2, getattr(D.cfg, "channels", 3), height, width, device=param.device)
            return int(D.penultimate(x).flatten(1).shape[1])
    finally:
        D.train(was_training)


def make_head(D: nn.Module, arch: Architecture, num_styles: int) -> StyleHead:
    return StyleHead(feature_size(D), num_styles, equalized=arch.equalized).to(next(D.parameters()).device)


def logits_and_features(arch: Architecture, D: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if arch.feature_hook is not None:
        return arch.feature_hook(D, x)
    return D(x), D.penultimate(x)  # an architecture without the one-pass hook: two passes


def style_ambiguity_loss(style_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the uniform distribution over K styles and the posterior: −mean_k log p_k."""
    return -F.log_softmax(style_logits.float(), dim=1).mean()


def normalized_entropy(style_logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the posterior over log K, per image: 1 = maximally ambiguous."""
    logp = F.log_softmax(style_logits.float(), dim=1)
    return -(logp.exp() * logp).sum(dim=1) / math.log(style_logits.shape[1])


@register_loss
class CANLoss(GANLoss):
    name = "can"
    summary = ("Creative Adversarial Networks (Elgammal et al. 2017): D also names the style (--labels), "
               "G is rewarded for styles D cannot name (--can-weight); dcgan, stylegan2 or fastgan")
    declares = (CANOptions, LabelOptions)
    conditions_model = False  # G takes no class: the classes train D's style head
    needs_labels = True

    def __init__(self, G, D, options, augment=None, label_names=()):
        super().__init__(G, D, options, augment, label_names)
        if len(self.label_names) < 2:
            raise BelamyError("--loss can needs two styles or more", "add --labels folder, or a manifest field that varies")
        self.arch = get_architecture(options.arch)
        self.base = get_loss(self.arch.base_loss)(G, D, options, augment)
        self.phases = self.base.phases
        own = options.settings_of(CANOptions)
        self.weight = float(own.can_weight)
        self.label_noise = bool(own.label_noise)
        self.style_augment = bool(own.style_augment)
        self.head = make_head(D, self.arch, len(self.label_names))

    @classmethod
    def trains(cls, arch) -> bool:
        return arch.base_loss is not None

    @classmethod
    def option_types(cls, arch) -> tuple[type, ...]:
        """Its own options, and those of the architecture's own loss it adds its terms to (e.g. R1's)."""
        return cls.declares + get_loss(arch.base_loss).option_types(arch)

    @classmethod
    def check(cls, options, label_names: list[str]) -> None:
        arch = get_architecture(options.arch)
        if options.settings_of(CANOptions).label_noise and issubclass(get_loss(arch.base_loss), FastGANLoss):
            raise BelamyError(f"--label-noise is for the cross-entropy of dcgan and stylegan2; {arch.name}'s D trains "
                              "with a hinge", "drop --label-noise, or train --arch dcgan")

    def extra_modules(self) -> dict[str, tuple[nn.Module, str]]:
        return {HEAD: (self.head, "D"), **self.base.extra_modules()}

    def optimizer_settings(self, trains, lr, betas):
        return self.base.optimizer_settings(trains, lr, betas)

    # ------------------------------------------------------------------ the pieces

    def _fake(self, batch: StepBatch, phase: str) -> torch.Tensor:
        """G(z) as the architecture's own loss draws it for this phase."""
        if isinstance(self.base, StyleGAN2Loss):
            if phase == "Gmain":
                return self.base.run_G(batch.z, None, batch.rng)
            z = torch.randn(batch.z.shape, generator=batch.rng, device=batch.z.device)  # fresh latents for D's fakes
            with torch.no_grad():
                return self.base.run_G(z, None, batch.rng)
        fake = self.base.fake(batch)  # one batch for both phases, as dcgan.torch
        return fake.detach() if phase == "Dmain" else fake

    def _targets(self, logits: torch.Tensor, low: float, high: float, rng: torch.Generator) -> torch.Tensor:
        return torch.rand(logits.shape, generator=rng, device=logits.device) * (high - low) + low

    def _bce(self, logits: torch.Tensor, target: float, rng: torch.Generator) -> torch.Tensor:
        """Binary cross-entropy with logits against 1 (real) or 0 (fake), or against noisy targets."""
        logits = logits.float()
        if not self.label_noise:
            return F.softplus(-logits).mean() if target == 1 else F.softplus(logits).mean()
        t = self._targets(logits, 0.8, 1.2, rng) if target == 1 else self._targets(logits, 0.0, 0.3, rng)
        return (F.softplus(logits) - t * logits).mean()  # BCE(σ(l), t) for any t, also outside [0, 1]

    def _style_view(self, real: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The real paintings as the style head alone sees them: what D's real/fake task sees, shifted by
        up to an eighth and with a quarter of the area cut out (the corpus's mirroring already flips them)."""
        return STYLE_VIEWS(self.augment_images(real, rng), rng)

    # ------------------------------------------------------------------ phases

    def _discriminate(self, batch: StepBatch, fake: torch.Tensor, stats: StatsCollector):
        """D's own real/fake loss on the batch, its real and fake logits, and its features of the real images."""
        rng = batch.rng
        if isinstance(self.base, FastGANLoss):  # hinge on patch logits, plus D's redrawing of the real batch
            loss, _, logits_real, logits_fake, features = self.base.discriminator_loss(batch, fake, stats)
            return loss, logits_real, logits_fake, features
        logits_real, features = logits_and_features(self.arch, self.D, self.augment_images(batch.real, rng))
        logits_fake = self.D(self.augment_images(fake, rng))
        return self._bce(logits_real, 1, rng) + self._bce(logits_fake, 0, rng), logits_real, logits_fake, features

    def _fool(self, fake: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """G's own adversarial loss on its images, and D's features of them."""
        if isinstance(self.base, FastGANLoss):
            logits, features = self.D.patch_logits_and_features(self.augment_images(fake, rng))
            return -logits.float().mean(), features  # the hinge generator loss
        logits, features = logits_and_features(self.arch, self.D, self.augment_images(fake, rng))
        return F.softplus(-logits.float()).mean(), features

    def accumulate_gradients(self, phase: str, batch: StepBatch, stats: StatsCollector) -> None:
        if phase == "Dmain":
            adversarial, logits_real, logits_fake, features = self._discriminate(batch, self._fake(batch, phase), stats)
            if self.style_augment:
                features = self.D.penultimate(self._style_view(batch.real, batch.rng))
            style_logits = self.head(features)
            style_loss = F.cross_entropy(style_logits, batch.real_labels)
            loss = adversarial + style_loss
            loss.backward()
            self.record_discrimination(stats, loss, logits_real, logits_fake, sign_real=True)
            stats.add("style_loss_D", style_loss.detach())
            stats.add("style_acc_real", (style_logits.detach().argmax(dim=1) == batch.real_labels).float().mean())
        elif phase == "Gmain":
            adversarial, features = self._fool(self._fake(batch, phase), batch.rng)
            style_logits = self.head(features)
            loss = adversarial + self.weight * style_ambiguity_loss(style_logits)
            loss.backward()
            stats.add("loss_G", loss)
            stats.add("style_ambiguity_G", normalized_entropy(style_logits.detach()).mean())
        elif phase == "Dreg":
            self.base.accumulate_gradients(phase, batch, stats)
        else:
            raise ValueError(f"unknown phase {phase!r}")


class RunStyleHead:
    """A CAN run's own style classifier at one checkpoint: its discriminator and style head (eval mode)."""

    def __init__(self, checkpoint_json: Path, device: str = "cpu"):
        from belamy.trainer import checkpoint as ck

        tensors, meta = ck.load_checkpoint(checkpoint_json)
        names = list(meta.get("label_names") or [])
        if not any(k.startswith(HEAD + ".") for k in tensors) or len(names) < 2:
            raise BelamyError(f"{checkpoint_json.name} is not from a CAN run", "train with --loss can --labels folder")
        arch = get_architecture(meta["arch"])
        cfg = arch.config_from_dict(meta["model"])
        D = arch.make_discriminator(cfg)
        ck.load_module_tensors("D", D, tensors, checkpoint_json.name)
        self.device = torch.device(device)
        self.D = D.to(self.device).eval().requires_grad_(False)
        self.head = make_head(self.D, arch, len(names))
        ck.load_module_tensors(HEAD, self.head, tensors, checkpoint_json.name)
        self.head.eval().requires_grad_(False)
        self.names = names
        self.shape = image_shape(cfg)

    @torch.no_grad()
    def posterior(self, images) -> torch.Tensor:
        """[N, K] style probabilities for uint8 NHWC arrays (any size: resized to D's input)."""
        x = torch.as_tensor(images).permute(0, 3, 1, 2).float().to(self.device)
        if tuple(x.shape[2:]) != self.shape:
            x = F.interpolate(x, size=self.shape, mode="area" if x.shape[2] >= self.shape[0] else "bilinear")
        x = x / 127.5 - 1.0
        return self.head(self.D.penultimate(x)).softmax(dim=1).cpu()
