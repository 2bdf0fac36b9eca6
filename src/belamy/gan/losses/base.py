"""GAN losses as classes with named phases, as in StyleGAN2-ADA's ``StyleGAN2Loss``.

A loss lists its phases: each names the network whose optimizer steps after it and how often it
runs. The GAN task runs the phases in order each step: it unfreezes the network a phase trains
(and freezes the others, unless the phase says not to), zeroes its gradients, lets the loss
accumulate them, averages them over torchrun ranks and steps the optimizer. A loss never steps an
optimizer itself, so a new loss is one file: its phases and ``accumulate_gradients``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from belamy.trainer.stats import StatsCollector


@dataclass(frozen=True)
class Phase:
    name: str  # e.g. "Gmain", "Dmain", "Dreg"
    trains: str  # "G" or "D": whose optimizer steps after this phase
    interval: int = 1  # runs on steps where step % interval == 0
    freeze_others: bool = True  # freeze the other network while this phase runs (its gradients would be thrown away)
    full_precision: bool = False  # run outside autocast (e.g. R1's double backward)


@dataclass
class StepBatch:
    """What one step's phases share."""

    real: torch.Tensor
    real_labels: torch.Tensor | None  # the corpus labels of ``real`` (None without --labels)
    z: torch.Tensor
    gen_labels: torch.Tensor | None  # classes for a class-conditional G (None otherwise)
    rng: torch.Generator  # the run's one random stream: every draw comes from it
    step: int
    cache: dict[str, Any] = field(default_factory=dict)  # e.g. a fake batch shared by two phases


class GANLoss(ABC):
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    archs: ClassVar[frozenset[str] | None] = None  # architectures it trains (None: any that keeps the contract)
    declares: ClassVar[tuple[type, ...]] = ()  # dataclasses of the training options it reads (belamy.utils.declared)
    conditions_model: ClassVar[bool] = True  # with --labels, is G (and D) class-conditional?
    needs_labels: ClassVar[bool] = False  # does it train only with --labels (two classes or more)?

    phases: tuple[Phase, ...]

    def __init__(self, G: nn.Module, D: nn.Module, options, augment: nn.Module | None = None,
                 label_names: tuple[str, ...] | list[str] = ()):
        self.G, self.D, self.options, self.augment = G, D, options, augment
        self.label_names = list(label_names)  # the corpus's classes with --labels (whether or not G takes them)

    @classmethod
    def trains(cls, arch) -> bool:
        """Whether it can train the architecture ``arch`` (a registered Architecture)."""
        return cls.archs is None or arch.name in cls.archs

    @classmethod
    def option_types(cls, arch) -> tuple[type, ...]:
        """The options dataclasses it reads when it trains ``arch``."""
        return cls.declares

    @classmethod
    def check(cls, options, label_names: list[str]) -> None:
        """Refuse settings this loss cannot train with, in one clear line."""
        return None

    def extra_modules(self) -> dict[str, tuple[nn.Module, str]]:
        """Networks the loss adds (name -> (module, "G" or "D": whose optimizer trains it)), saved in checkpoints.
        Each trains as part of its owner: frozen with it, its gradients averaged over ranks with it."""
        return {}

    def optimizer_settings(self, trains: str, lr: float, betas: tuple[float, float]) -> tuple[float, tuple[float, float]]:
        """Adam settings for G's or D's optimizer (e.g. corrected for lazy regularisation)."""
        return lr, betas

    def augment_images(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The same augmentation for real and fake images D sees (identity without --augment)."""
        return images if self.augment is None else self.augment(images, rng)

    def observe_real_logits(self, logits: torch.Tensor) -> None:
        """Feed ADA's heuristic (the sign of D on reals)."""
        if self.augment is not None and hasattr(self.augment, "accumulate"):
            self.augment.accumulate(logits)

    def record_discrimination(self, stats: StatsCollector, loss: torch.Tensor, logits_real: torch.Tensor,
                              logits_fake: torch.Tensor, sign_real: bool = False) -> None:
        """After D's main phase: feed ADA, and log D's loss and how real it finds real and fake images."""
        self.observe_real_logits(logits_real)
        stats.add("loss_D", loss)
        stats.add("D_real", torch.sigmoid(logits_real.detach().float()).mean())
        stats.add("D_fake", torch.sigmoid(logits_fake.detach().float()).mean())
        if sign_real:
            stats.add("sign_real", logits_real.detach().float().sign().mean())

    @abstractmethod
    def accumulate_gradients(self, phase: str, batch: StepBatch, stats: StatsCollector) -> None:
        """Compute the phase's loss and back-propagate it (the task zeroes and steps the optimizer)."""
