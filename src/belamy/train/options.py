"""What `belamy train` is asked to do, validated before any work starts.

Settings left as None are filled for a new run from, in order: the architecture's defaults, the
loss's defaults, and the defaults below. A resumed run takes its stored settings instead. An option
that only some architectures or losses read (``ARCH_OR_LOSS_OPTIONS``) is refused, naming it, when
the chosen architecture and loss do not read it — never silently ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from belamy.errors import BelamyError
from belamy.runs.options import RunOptions, invalid
from belamy.utils.aspect import ASPECTS

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
AUGMENTS = ("ada", "diffaugment", "none")
ASPECT_CHOICES = tuple(ASPECTS)
MAX_BATCH = 65536
COMMON_DEFAULTS = {"batch": 64, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "augment": "none",
                   "ada_target": 0.6, "ada_kimg": 500.0, "augment_p": 0.0}
# Read only by some architectures or losses (each names those it reads in its `uses`).
ARCH_OR_LOSS_OPTIONS = ("w_dim", "map_layers", "channel_base", "channel_max", "labels", "ema_kimg", "ema_rampup",
                        "r1_gamma", "r1_interval", "style_mixing", "mbstd_group", "can_weight", "label_noise",
                        "style_augment")


@dataclass(kw_only=True)
class TrainOptions(RunOptions):
    corpus: Path
    arch: str | None = None  # None: the preset's (auto) for a new run, the stored one on resume
    res: int | None = None  # None: 64 for a new run, the stored one on resume
    batch: int | None = None  # None: the architecture's default
    loss: str | None = None  # None: the architecture's default loss
    lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    nz: int | None = None
    ngf: int | None = None
    ndf: int | None = None
    mirror: bool = True
    grid_size: int = 36
    channels_last: bool = True
    precision: str | None = None  # None: the preset's, else fp32 (on resume: the run's)
    compile: bool = False
    augment: str | None = None  # ada | diffaugment | none
    ada_target: float | None = None
    ada_kimg: float | None = None
    augment_p: float | None = None  # ADA's starting probability (its --p)
    r1_gamma: float | None = None
    r1_interval: int | None = None
    ema_kimg: float | None = None  # G_ema half-life (architectures with an EMA generator)
    ema_rampup: float | None = None
    style_mixing: float | None = None
    w_dim: int | None = None
    map_layers: int | None = None
    channel_base: int | None = None
    channel_max: int | None = None
    mbstd_group: int | None = None  # D's minibatch-std group size (StyleGAN2-ADA's paper configs: 8; default 4)
    aspect: str | None = None  # None: the corpus's own shape
    labels: str | None = None  # manifest field, or "folder"
    can_weight: float | None = None  # CAN: λ, the weight of the style-ambiguity term in G's loss
    label_noise: bool | None = None  # CAN: D's real/fake targets drawn from U[0.8, 1.2] and U[0, 0.3]
    style_augment: bool | None = None  # CAN: the style head learns from shifted, cut-out views of the paintings
    init: str | None = None  # another run (or checkpoint) to start from
    metric_kimg: float = 0.0  # SWD every this many kimg (0: off)
    metric_n: int = 256
    extra: dict = field(default_factory=dict)  # settings of architectures and losses registered from outside
    preset: str | None = None  # a recipe by name (belamy.train.presets); None: auto unless --arch is given
    preset_record: dict = field(default_factory=dict)  # what the preset filled, for run.json

    KIND: ClassVar[str] = "a training run"
    FIXED_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "arch", "res", "batch", "loss", "lr", "beta1", "beta2", "nz", "ngf", "ndf", "seed", "mirror",
        "augment", "ada_target", "ada_kimg", "augment_p", "r1_gamma", "r1_interval", "ema_kimg", "ema_rampup",
        "style_mixing", "aspect", "labels", "can_weight", "label_noise", "style_augment", "w_dim", "map_layers", "channel_base",
        "channel_max", "init", "extra", "mbstd_group", "preset", "preset_record",
    )
    MATCH_ON_RESUME: ClassVar[tuple[str, ...]] = ("arch", "res")

    # ------------------------------------------------------------------ new run / resume

    def fill_new_run_defaults(self) -> None:
        super().fill_new_run_defaults()
        if self.init:  # a new run from another run's weights takes its architecture and resolution
            from belamy.train.transfer import read_init

            meta = read_init(self.init)[1]
            self.arch = self.arch or meta["arch"]
            self.res = self.res or meta["model"].get("res")
        from belamy.train.presets import apply_preset
        from belamy.utils.device import resolve_device

        self.preset_record = apply_preset(self, resolve_device(self.device).type) or {}
        self.arch = self.arch or "dcgan"
        self.res = self.res or 64
        self.check_options_used()
        self._fill_defaults()

    def _fill_defaults(self) -> None:
        arch, loss = self._arch_and_loss()
        self._fill(arch.defaults)
        self.loss = self.loss or arch.default_loss
        self._fill(loss.defaults)
        self._fill(COMMON_DEFAULTS)
        if self.precision is None:
            self.precision = "fp32"
        if arch.derive_defaults is not None:
            arch.derive_defaults(self)
        loss.derive_defaults(self)

    def check_stored_run(self, run: dict, root: Path) -> None:
        if "distilled_from" in run:
            teacher = (run.get("distilled_from") or {}).get("run", "TEACHER")
            raise BelamyError(f"{root} was made by `belamy distill`, not `belamy train`",
                              f"continue it with `belamy distill {teacher} --out {root} --resume`")
        if run.get("format") != "belamy-run" or not isinstance(run.get("options"), dict):
            raise BelamyError(f"{root / 'run.json'} does not describe a training run", "restore it or start a new run")

    def take_stored(self, stored: TrainOptions, root: Path) -> None:
        if stored.arch == "style" and stored.loss in (None, "nonsat"):
            stored.loss = "stylegan2"  # runs from before losses had names: the style model always trained so
        if self.preset not in (None, "auto") and self.preset != stored.preset:  # auto: whatever the run has
            kept = f"--preset {stored.preset}" if stored.preset else "no preset"
            raise BelamyError(f"the run in {root} was made with {kept}, not --preset {self.preset}",
                              "drop --preset to resume it, or start a new run in another folder")
        if self.precision is None:  # precision may change on resume; unless asked, the run keeps its own
            self.precision = stored.precision
        asked = TrainOptions(**{**vars(self)})
        super().take_stored(stored, root)
        asked.arch, asked.loss = self.arch, self.loss
        asked.check_options_used()
        self._fill_defaults()  # runs from before a setting existed get its default

    def _fill(self, defaults) -> None:
        for name, value in defaults.items():
            if getattr(self, name, None) is None:
                setattr(self, name, value)

    def _arch_and_loss(self):
        from belamy.models.registry import get_architecture
        from belamy.train.losses import get_loss

        arch = get_architecture(self.arch)
        if arch.task is None or arch.task == "sr":
            raise BelamyError(f"--arch {self.arch} is not trained by `belamy train`",
                              "train it with `belamy sr train`" if arch.task == "sr" else "choose another --arch")
        loss = get_loss(self.loss or arch.default_loss)
        allowed = (loss.archs is None or arch.name in loss.archs) and (arch.losses is None or loss.name in arch.losses)
        if not allowed:
            from belamy.train.losses import loss_names

            fits = [n for n in loss_names() if (get_loss(n).archs is None or arch.name in get_loss(n).archs)
                    and (arch.losses is None or n in arch.losses)]
            raise BelamyError(f"--loss {loss.name} does not train --arch {arch.name}",
                              f"losses for {arch.name}: {', '.join(fits)}")
        return arch, loss

    def check_options_used(self) -> None:
        """An option the chosen architecture and loss do not read is an error naming it."""
        arch, loss = self._arch_and_loss()
        for name in ARCH_OR_LOSS_OPTIONS:
            if getattr(self, name) is not None and name not in arch.uses | loss.uses:
                from belamy.models.registry import architecture_names

                takers = [a for a in architecture_names("gan") if name in _arch_uses(a)]
                hint = f"drop --{_flag(name)}" + (f", or train --arch {' / '.join(takers)}" if takers else "")
                raise BelamyError(f"--{_flag(name)} is not used by --arch {arch.name} with --loss {loss.name}", hint)
        for name in self.extra:  # settings of registered architectures and losses: the same rule
            if name not in arch.uses | loss.uses:
                raise BelamyError(f"--{_flag(name)} is not used by --arch {arch.name} with --loss {loss.name}",
                                  f"drop --{_flag(name)}")

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        super().validate()
        _, loss = self._arch_and_loss()
        if loss.needs_labels and not self.labels:
            raise BelamyError(f"--loss {loss.name} needs the corpus's classes (its styles)",
                              "add --labels folder (one sub-folder per style) or --labels FIELD (a manifest field)")
        if self.batch is None or not (isinstance(self.batch, int) and 1 <= self.batch <= MAX_BATCH):
            raise invalid("batch", self.batch, f"use a batch size from 1 to {MAX_BATCH} (64 is the DCGAN default)")
        if self.precision not in PRECISIONS:
            raise invalid("precision", self.precision, f"use one of {', '.join(PRECISIONS)}")
        if self.aspect is not None and self.aspect not in ASPECT_CHOICES:
            raise invalid("aspect", self.aspect, f"use one of {', '.join(ASPECT_CHOICES)}")
        if self.augment is not None and self.augment not in AUGMENTS:
            raise invalid("augment", self.augment, "use ada, diffaugment or none")
        checks = (
            ("ada-target", self.ada_target, lambda v: 0 <= v <= 1, "use a value in [0, 1], e.g. 0.6"),
            ("augment-p", self.augment_p, lambda v: 0 <= v <= 1, "use a probability in [0, 1]"),
            ("ada-kimg", self.ada_kimg, lambda v: v > 0, "use a positive number, e.g. 500"),
            ("r1-gamma", self.r1_gamma, lambda v: v >= 0, "use 0 or a positive number"),
            ("r1-interval", self.r1_interval, lambda v: v >= 0 and v == int(v), "use 0 (never) or a number of steps, e.g. 16"),
            ("style-mixing", self.style_mixing, lambda v: 0 <= v <= 1, "use a probability in [0, 1]"),
            ("ema-kimg", self.ema_kimg, lambda v: v >= 0, "use 0 (no average) or a positive half-life in kimg"),
            ("ema-rampup", self.ema_rampup, lambda v: v >= 0, "use 0 or a fraction such as 0.05"),
            ("metric-kimg", self.metric_kimg, lambda v: v >= 0, "use 0 (off) or a positive number"),
            ("can-weight", self.can_weight, lambda v: 0 <= v <= 1000, "use a weight from 0 to 1000, e.g. 1"),
            ("lr", self.lr, lambda v: 0 < v < 1, "use a learning rate between 0 and 1, e.g. 2e-4"),
            ("beta1", self.beta1, lambda v: 0 <= v < 1, "Adam betas lie in [0, 1)"),
            ("beta2", self.beta2, lambda v: 0 <= v < 1, "Adam betas lie in [0, 1)"),
        )
        for flag, value, ok, hint in checks:
            if value is None and flag in ("lr", "beta1", "beta2"):
                raise invalid(flag, value, hint)
            if value is not None and not (_number(value) and ok(value)):
                raise invalid(flag, value, hint)
        if not 8 <= self.metric_n <= 100_000:
            raise invalid("metric-n", self.metric_n, "use 8 to 100000 images")
        if not 1 <= self.grid_size <= 256:
            raise invalid("grid-size", self.grid_size, "use 1 to 256 images per sample grid")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _arch_uses(name: str) -> frozenset[str]:
    from belamy.models.registry import get_architecture
    from belamy.train.losses import get_loss

    arch = get_architecture(name)
    return arch.uses | get_loss(arch.default_loss).uses
