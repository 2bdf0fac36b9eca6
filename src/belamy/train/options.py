"""What a training run is asked to do, validated before any work starts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from belamy.errors import BelamyError

# Settings a resumed run must keep; the rest (kimg, device, snapshot cadence) may change on resume.
FIXED_ON_RESUME = ("arch", "res", "batch", "loss", "lr", "beta1", "nz", "ngf", "ndf", "seed", "mirror")


@dataclass
class TrainOptions:
    corpus: Path
    out: Path
    arch: str | None = None  # None: "dcgan" for a new run, the stored one on resume
    res: int | None = None  # None: 64 for a new run, the stored one on resume
    kimg: float = 100.0
    batch: int = 64
    loss: str = "nonsat"
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    nz: int = 100
    ngf: int | None = None
    ndf: int | None = None
    mirror: bool = True
    tick_kimg: float = 4.0
    snapshot_ticks: int = 1
    keep: int = 3
    seed: int = 0
    resume: bool = False
    device: str = "auto"
    channels_last: bool = True
    grid_size: int = 36
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        data["corpus"] = str(self.corpus)
        data["out"] = str(self.out)
        return data

    @classmethod
    def from_json(cls, data: dict) -> TrainOptions:
        known = {f.name for f in fields(cls)}
        opts = cls(**{k: v for k, v in data.items() if k in known})
        opts.corpus, opts.out = Path(opts.corpus), Path(opts.out)
        return opts

    def validate(self) -> None:
        def bad(flag: str, value, hint: str) -> BelamyError:
            return BelamyError(f"--{flag} {value} is not valid", hint)

        if not (math.isfinite(self.kimg) and self.kimg > 0):
            raise bad("kimg", self.kimg, "give a positive number of thousands of images, e.g. --kimg 50")
        if not 1 <= self.batch <= 65536:
            raise bad("batch", self.batch, "use a batch size from 1 to 65536 (64 is the DCGAN default)")
        if self.loss not in ("minimax", "nonsat"):
            raise bad("loss", self.loss, "use minimax or nonsat")
        if not (0 < self.lr < 1):
            raise bad("lr", self.lr, "use a learning rate between 0 and 1, e.g. 2e-4")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise bad("beta1", self.beta1, "Adam betas lie in [0, 1)")
        if not (math.isfinite(self.tick_kimg) and self.tick_kimg > 0):
            raise bad("tick-kimg", self.tick_kimg, "use a positive number, e.g. 4")
        if self.snapshot_ticks < 1:
            raise bad("snapshot-ticks", self.snapshot_ticks, "use 1 or more")
        if self.keep < 1:
            raise bad("keep", self.keep, "keep at least 1 checkpoint")
        if not 1 <= self.grid_size <= 256:
            raise bad("grid-size", self.grid_size, "use 1 to 256 images per sample grid")
