"""What a distillation is asked to do, validated before any work starts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from belamy.errors import BelamyError
from belamy.trainer.options import RunOptions

MAX_NGF = 1024


@dataclass(kw_only=True)
class DistillOptions(RunOptions):
    teacher: Path
    checkpoint: str = "latest"  # which teacher checkpoint (resolved to a file name when the run starts)
    res: int | None = None  # None: the teacher's resolution
    ngf: int = 16
    batch: int = 32
    truncation: float = 1.0  # the teacher's ψ, baked into what the student learns
    lr: float = 2e-3
    beta1: float = 0.9
    beta2: float = 0.99
    pixel_weight: float = 1.0  # L1 at the student's resolution
    scale_weight: float = 1.0  # L1 at each of 2 lower scales (½ and ¼, area-averaged)
    feature_weight: float = 0.2  # L1 between the teacher discriminator's activations (when it has one)
    ema_kimg: float = 1.0  # half-life of the student's weight average in kimg (0: no average)
    sample_count: int = 8  # columns in the teacher-over-student comparison image

    # Settings a resumed distillation must keep (the rest: kimg, cadence, device, may change).
    KIND: ClassVar[str] = "a run"
    FIXED_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "teacher", "checkpoint", "res", "ngf", "batch", "truncation", "lr", "beta1", "beta2", "pixel_weight",
        "scale_weight", "feature_weight", "ema_kimg", "seed",
    )
    MATCH_ON_RESUME: ClassVar[tuple[str, ...]] = ("res",)

    def check_stored_run(self, run: dict, root: Path) -> None:
        if "distilled_from" not in run or "options" not in run:
            raise BelamyError(f"{root} is not a distilled run", "give a folder made by `belamy distill`, or drop --resume")

    def take_stored(self, stored: DistillOptions, root: Path) -> None:
        teacher_path = self.teacher  # where the teacher lies now (it may have moved since)
        super().take_stored(stored, root)
        self.teacher = teacher_path

    def validate(self) -> None:
        super().validate()
        if self.res is not None and (self.res < 1 or self.res & (self.res - 1)):
            raise BelamyError(f"--res {self.res} is not a power of two", "use e.g. 64, 128 or 256 (at most the teacher's)")
        checks = (
            ("ngf", 1 <= self.ngf <= MAX_NGF, f"use a width from 1 to {MAX_NGF} (16 runs live on a CPU)"),
            ("batch", 2 <= self.batch <= 4096, "use 2 to 4096 (BatchNorm needs 2 or more)"),
            ("truncation", math.isfinite(self.truncation) and 0 <= self.truncation <= 2, "use ψ between 0 and 2 (1 = none)"),
            ("lr", math.isfinite(self.lr) and 0 < self.lr < 1, "use e.g. 2e-3"),
            ("beta1", 0 <= self.beta1 < 1, "use 0 to 0.99"),
            ("beta2", 0 <= self.beta2 < 1, "use 0 to 0.999"),
            ("pixel-weight", _weight(self.pixel_weight), "loss weights are finite and >= 0"),
            ("scale-weight", _weight(self.scale_weight), "loss weights are finite and >= 0"),
            ("feature-weight", _weight(self.feature_weight), "loss weights are finite and >= 0"),
            ("ema-kimg", math.isfinite(self.ema_kimg) and self.ema_kimg >= 0, "use 0 (off) or a positive half-life"),
            ("sample-count", 1 <= self.sample_count <= 64, "use 1 to 64"),
        )
        for flag, ok, hint in checks:
            if not ok:
                raise BelamyError(f"--{flag} {getattr(self, flag.replace('-', '_'))} is not valid", hint)
        if self.pixel_weight + self.scale_weight + self.feature_weight <= 0:
            raise BelamyError("all loss weights are 0", "give --pixel-weight (or another weight) a positive value")


def _weight(value: float) -> bool:
    return math.isfinite(value) and value >= 0
