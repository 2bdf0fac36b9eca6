"""What a training run is asked to do, validated before any work starts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from belamy.errors import BelamyError
from belamy.utils.aspect import ASPECTS

# Settings a resumed run must keep; the rest (kimg, device, snapshot cadence) may change on resume.
FIXED_ON_RESUME = (
    "arch", "res", "batch", "loss", "lr", "beta1", "beta2", "nz", "ngf", "ndf", "seed", "mirror",
    "augment", "ada_target", "ada_kimg", "augment_p", "r1_gamma", "r1_interval", "ema_kimg", "ema_rampup", "style_mixing",
    "aspect", "labels", "w_dim", "map_layers", "channel_base", "channel_max", "init",
)

# Per-architecture defaults for settings left as None: DCGAN as Radford et al. / art-DCGAN,
# style as StyleGAN2-ADA's 'auto' config (Adam lr 0.0025, betas (0, 0.99)).
ARCH_DEFAULTS = {
    "dcgan": {"batch": 64, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "augment": "none"},
    "style": {"batch": 32, "lr": 2.5e-3, "beta1": 0.0, "beta2": 0.99, "augment": "ada"},
}
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
ASPECT_CHOICES = tuple(ASPECTS)


@dataclass
class TrainOptions:
    corpus: Path
    out: Path
    arch: str | None = None  # None: "dcgan" for a new run, the stored one on resume
    res: int | None = None  # None: 64 for a new run, the stored one on resume
    kimg: float = 100.0
    batch: int | None = None  # None: the architecture's default (ARCH_DEFAULTS)
    loss: str = "nonsat"
    lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    nz: int | None = None  # None: 100 for dcgan, 256/512 for style
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
    precision: str = "fp32"
    compile: bool = False
    # style-based GAN (issue 3)
    augment: str | None = None  # ada | diffaugment | none
    ada_target: float = 0.6
    ada_kimg: float = 500.0
    augment_p: float = 0.0  # ADA's starting probability (its --p)
    r1_gamma: float | None = None  # None: 0.0002·res²/batch (StyleGAN2-ADA 'auto')
    r1_interval: int = 16
    ema_kimg: float | None = None  # None: batch·10/32
    ema_rampup: float = 0.05
    style_mixing: float = 0.9
    w_dim: int | None = None
    map_layers: int | None = None
    channel_base: int | None = None
    channel_max: int | None = None
    aspect: str | None = None  # None: the corpus's own shape
    labels: str | None = None  # manifest field, or "folder"
    init: str | None = None  # another run (or checkpoint) to start from
    metric_kimg: float = 0.0  # SWD every this many kimg (0: off)
    metric_n: int = 256
    extra: dict = field(default_factory=dict)

    def fill_arch_defaults(self) -> None:
        """Resolve settings left as None to the architecture's defaults (a new run only)."""
        defaults = ARCH_DEFAULTS.get(self.arch or "dcgan", ARCH_DEFAULTS["dcgan"])
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.arch == "style":
            res = self.res or 64
            if self.r1_gamma is None:
                self.r1_gamma = round(0.0002 * res * res / self.batch, 6)
            if self.ema_kimg is None:
                self.ema_kimg = self.batch * 10 / 32

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
        if self.batch is None or not 1 <= self.batch <= 65536:
            raise bad("batch", self.batch, "use a batch size from 1 to 65536 (64 is the DCGAN default)")
        if self.precision not in PRECISIONS:
            raise bad("precision", self.precision, f"use one of {', '.join(PRECISIONS)}")
        if self.aspect is not None and self.aspect not in ASPECT_CHOICES:
            raise bad("aspect", self.aspect, f"use one of {', '.join(ASPECT_CHOICES)}")
        if self.augment is not None and self.augment not in ("ada", "diffaugment", "none"):
            raise bad("augment", self.augment, "use ada, diffaugment or none")
        if self.arch == "dcgan" and (self.augment not in (None, "none") or self.labels):
            raise BelamyError("--augment and --labels need --arch style", "add --arch style, or drop them")
        if not 0 <= self.ada_target <= 1:
            raise bad("ada-target", self.ada_target, "use a value in [0, 1], e.g. 0.6")
        if not 0 <= self.augment_p <= 1:
            raise bad("augment-p", self.augment_p, "use a probability in [0, 1]")
        if not (math.isfinite(self.ada_kimg) and self.ada_kimg > 0):
            raise bad("ada-kimg", self.ada_kimg, "use a positive number, e.g. 500")
        if self.r1_gamma is not None and not (math.isfinite(self.r1_gamma) and self.r1_gamma >= 0):
            raise bad("r1-gamma", self.r1_gamma, "use 0 or a positive number")
        if self.r1_interval < 0:
            raise bad("r1-interval", self.r1_interval, "use 0 (never) or a positive number of steps, e.g. 16")
        if not 0 <= self.style_mixing <= 1:
            raise bad("style-mixing", self.style_mixing, "use a probability in [0, 1]")
        if not (math.isfinite(self.metric_kimg) and self.metric_kimg >= 0):
            raise bad("metric-kimg", self.metric_kimg, "use 0 (off) or a positive number")
        if not 8 <= self.metric_n <= 100_000:
            raise bad("metric-n", self.metric_n, "use 8 to 100000 images")
        if self.loss not in ("minimax", "nonsat"):
            raise bad("loss", self.loss, "use minimax or nonsat")
        if self.lr is None or not (0 < self.lr < 1):
            raise bad("lr", self.lr, "use a learning rate between 0 and 1, e.g. 2e-4")
        if self.beta1 is None or self.beta2 is None or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise bad("beta1", self.beta1, "Adam betas lie in [0, 1)")
        if not (math.isfinite(self.tick_kimg) and self.tick_kimg > 0):
            raise bad("tick-kimg", self.tick_kimg, "use a positive number, e.g. 4")
        if self.snapshot_ticks < 1:
            raise bad("snapshot-ticks", self.snapshot_ticks, "use 1 or more")
        if self.keep < 1:
            raise bad("keep", self.keep, "keep at least 1 checkpoint")
        if not 1 <= self.grid_size <= 256:
            raise bad("grid-size", self.grid_size, "use 1 to 256 images per sample grid")
