"""What `belamy train` is asked to do, validated before any work starts.

``TrainOptions`` holds what every run reads; ``settings`` holds, by name, the options an
architecture, a loss or a task declares for itself (see :mod:`belamy.utils.declared`): those the
chosen architecture, loss and task read are filled, checked and stored in run.json's flat
``options`` with the rest; any other is refused, naming who reads it — never silently ignored.
Settings left as None are filled for a new run from, in order: the preset, the architecture's
defaults, and the declared (or common) defaults. A resumed run takes its stored settings instead.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from belamy.errors import BelamyError
from belamy.trainer.options import RunOptions, invalid
from belamy.utils.aspect import ASPECTS
from belamy.utils.declared import Declared, declarations

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
AUGMENTS = ("ada", "diffaugment", "none")
ASPECT_CHOICES = tuple(ASPECTS)
MAX_BATCH = 65536
COMMON_DEFAULTS = {"batch": 64, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "augment": "none",
                   "ada_target": 0.6, "ada_kimg": 500.0, "augment_p": 0.0}


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
    aspect: str | None = None  # None: the corpus's own shape
    init: str | None = None  # another run (or checkpoint) to start from
    metric_kimg: float = 0.0  # SWD every this many kimg (0: off)
    metric_n: int = 256
    preset: str | None = None  # a recipe by name (belamy.gan.presets); None: auto unless --arch is given
    preset_record: dict = field(default_factory=dict)  # what the preset filled, for run.json
    # The declared options of architectures, losses and tasks, by name (None or absent: not given).
    settings: dict[str, Any] = field(default_factory=dict)

    KIND: ClassVar[str] = "a training run"
    # (declared settings are kept as their declaration says: see take_stored)
    FIXED_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "arch", "res", "batch", "loss", "lr", "beta1", "beta2", "nz", "ngf", "ndf", "seed", "mirror",
        "augment", "ada_target", "ada_kimg", "augment_p", "aspect", "init", "preset", "preset_record",
    )
    MATCH_ON_RESUME: ClassVar[tuple[str, ...]] = ("arch", "res")

    # ------------------------------------------------------------------ by name, as the command line gives them

    @classmethod
    def of(cls, **values) -> TrainOptions:
        """Options by flat name, as `belamy train` takes them: its own fields, and any declared option."""
        own = {f.name for f in fields(cls)}
        settings = {k: v for k, v in values.items() if k not in own and v is not None}
        return cls(**{k: v for k, v in values.items() if k in own}, settings=settings)

    def get(self, name: str) -> Any:
        """A field or a declared option by name (None when not set)."""
        return getattr(self, name) if name in _own_fields() else self.settings.get(name)

    def set(self, name: str, value: Any) -> None:
        if name in _own_fields():
            setattr(self, name, value)
        else:
            self.settings[name] = value

    def settings_of(self, cls: type):
        """The declared options of the dataclass ``cls`` as one of its instances (e.g. a loss's own)."""
        return cls(**{f.name: self.settings.get(f.name) for f in fields(cls) if f.init})

    def to_json(self) -> dict:
        data = super().to_json()
        settings = data.pop("settings")
        return {**data, **settings}  # flat, as run.json has always stored them

    @classmethod
    def from_json(cls, data: dict) -> TrainOptions:
        own = _own_fields() - {"settings"}
        flat = {**(data.get("extra") or {}), **data}  # runs from before declared options kept pix2pix's in "extra"
        options = super().from_json({k: v for k, v in flat.items() if k in own})
        options.settings = {k: v for k, v in flat.items() if k not in own and k != "extra" and v is not None}
        return options

    # ------------------------------------------------------------------ new run / resume

    def fill_new_run_defaults(self) -> None:
        super().fill_new_run_defaults()
        if self.init:  # a new run from another run's weights takes its architecture and resolution
            from belamy.gan.transfer import read_init

            meta = read_init(self.init)[1]
            self.arch = self.arch or meta["arch"]
            self.res = self.res or meta["model"].get("res")
        from belamy.gan.presets import apply_preset
        from belamy.utils.device import resolve_device

        self.preset_record = apply_preset(self, resolve_device(self.device).type) or {}
        self.arch = self.arch or "dcgan"
        self.res = self.res or 64
        self.check_options_used()
        self._fill_defaults()

    def _fill_defaults(self) -> None:
        arch, loss = self._arch_and_loss()
        self.arch, self.loss = arch.name, loss.name  # an alias (style) is recorded by the name it stands for
        for name, value in {**COMMON_DEFAULTS, **arch.defaults}.items():
            if name in _own_fields() and getattr(self, name) is None:
                setattr(self, name, value(self) if callable(value) else value)
        if self.precision is None:
            self.precision = "fp32"
        # Only the run's own declared options remain, each given or at its default (which may depend on the above).
        self.settings = {name: self.settings[name] if self.settings.get(name) is not None
                         else option.default_for(self, arch.defaults.get(name))
                         for name, option in run_declarations(arch, loss).items()}

    def check_stored_run(self, run: dict, root: Path) -> None:
        if "distilled_from" in run:
            teacher = (run.get("distilled_from") or {}).get("run", "TEACHER")
            raise BelamyError(f"{root} was made by `belamy distill`, not `belamy train`",
                              f"continue it with `belamy distill {teacher} --out {root} --resume`")
        if run.get("format") != "belamy-run" or not isinstance(run.get("options"), dict):
            raise BelamyError(f"{root / 'run.json'} does not describe a training run", "restore it or start a new run")

    def take_stored(self, stored: TrainOptions, root: Path) -> None:
        from belamy.models.registry import get_architecture

        stored.arch = get_architecture(stored.arch).name  # a run made under an older name (style) goes on as itself
        self.arch = get_architecture(self.arch).name if self.arch else None
        if stored.arch == "stylegan2" and stored.loss in (None, "nonsat"):
            stored.loss = "stylegan2"  # runs from before losses had names: the style model always trained so
        if self.preset not in (None, "auto") and self.preset != stored.preset:  # auto: whatever the run has
            kept = f"--preset {stored.preset}" if stored.preset else "no preset"
            raise BelamyError(f"the run in {root} was made with {kept}, not --preset {self.preset}",
                              "drop --preset to resume it, or start a new run in another folder")
        if self.precision is None:  # precision may change on resume; unless asked, the run keeps its own
            self.precision = stored.precision
        asked = TrainOptions(**{**vars(self), "settings": dict(self.settings)})
        super().take_stored(stored, root)
        asked.arch, asked.loss = self.arch, self.loss
        asked.check_options_used()
        arch, loss = self._arch_and_loss()
        self.settings = {}
        for name, option in run_declarations(arch, loss).items():
            mine, kept = asked.settings.get(name), stored.settings.get(name)
            if option.fixed and mine is not None and mine != kept:
                made = f"with {option.flag} {kept}" if kept is not None else f"without {option.flag}"
                raise BelamyError(f"the run in {root} was made {made}, not {mine}",
                                  f"drop {option.flag} to resume it, or start a new run in another folder")
            self.settings[name] = kept if option.fixed or mine is None else mine
        self._fill_defaults()  # runs from before a setting existed get its default

    def _arch_and_loss(self):
        from belamy.gan.losses import get_loss, loss_names
        from belamy.models.registry import get_architecture

        arch = get_architecture(self.arch)
        if arch.task is None or arch.task == "sr":
            raise BelamyError(f"--arch {self.arch} is not trained by `belamy train`",
                              "train it with `belamy sr train`" if arch.task == "sr" else "choose another --arch")
        loss = get_loss(self.loss or arch.default_loss)
        if not trains(arch, loss):
            fits = [n for n in loss_names() if trains(arch, get_loss(n))]
            raise BelamyError(f"--loss {loss.name} does not train --arch {arch.name}",
                              f"losses for {arch.name}: {', '.join(fits)}")
        return arch, loss

    def check_options_used(self) -> None:
        """A declared option the chosen architecture, loss and task do not read is an error naming who does."""
        arch, loss = self._arch_and_loss()
        unread = unread_settings(self.settings, arch, loss)
        if unread:
            raise not_read(unread[0], arch, loss)

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        super().validate()
        arch, loss = self._arch_and_loss()
        if loss.needs_labels and not self.settings.get("labels"):
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
            ("metric-kimg", self.metric_kimg, lambda v: v >= 0, "use 0 (off) or a positive number"),
            ("lr", self.lr, lambda v: 0 < v < 1, "use a learning rate between 0 and 1, e.g. 2e-4"),
            ("beta1", self.beta1, lambda v: 0 <= v < 1, "Adam betas lie in [0, 1)"),
            ("beta2", self.beta2, lambda v: 0 <= v < 1, "Adam betas lie in [0, 1)"),
        )
        for flag, value, ok, hint in checks:
            if value is None and flag in ("lr", "beta1", "beta2"):
                raise invalid(flag, value, hint)
            if value is not None and not (_number(value) and ok(value)):
                raise invalid(flag, value, hint)
        for name, option in run_declarations(arch, loss).items():
            option.validate(self.settings.get(name))
        if not 8 <= self.metric_n <= 100_000:
            raise invalid("metric-n", self.metric_n, "use 8 to 100000 images")
        if not 1 <= self.grid_size <= 256:
            raise invalid("grid-size", self.grid_size, "use 1 to 256 images per sample grid")


# ---------------------------------------------------------------------- the declarations of a run


@functools.cache
def _own_fields() -> frozenset[str]:
    return frozenset(f.name for f in fields(TrainOptions))


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def trains(arch, loss) -> bool:
    """Whether ``loss`` (a GANLoss class) trains ``arch`` (an Architecture)."""
    return loss.trains(arch) and (arch.losses is None or loss.name in arch.losses)


def run_declarations(arch, loss) -> dict[str, Declared]:
    """Every option a run of ``arch`` with ``loss`` reads: the architecture's, the loss's and its task's."""
    from belamy.gan.registry import task_options

    return declarations(*arch.options, *loss.option_types(arch), *task_options(arch.task))


def train_declarations() -> dict[str, Declared]:
    """Every option some registered architecture reads with some loss that trains it: `belamy train`'s flags
    beyond its own."""
    from belamy.gan.losses import get_loss, loss_names

    found: dict[str, Declared] = {}
    for arch in trained_architectures():
        for loss in (get_loss(n) for n in [arch.default_loss, *loss_names()]):
            for name, option in (run_declarations(arch, loss) if trains(arch, loss) else {}).items():
                found.setdefault(name, option)
    return found


def trained_architectures() -> list:
    """The architectures `belamy train` trains, in --help's order."""
    from belamy.models.registry import architecture_names, get_architecture

    return [a for a in map(get_architecture, architecture_names()) if a.task not in (None, "sr")]


def unread_settings(settings: dict, arch, loss) -> list[str]:
    """The names in ``settings`` given (not None) that a run of ``arch`` with ``loss`` does not read."""
    readable = run_declarations(arch, loss)
    return [name for name, value in settings.items() if value is not None and name not in readable]


def not_read(name: str, arch, loss) -> BelamyError:
    """The one line for an option the run does not read, naming the architectures (or losses) that do."""
    from belamy.gan.losses import get_loss, loss_names

    flag = "--" + name.replace("_", "-")
    if name not in train_declarations():
        return BelamyError(f"{flag} is not an option of `belamy train`", "see `belamy train --help`")
    archs = trained_architectures()
    readers = [a.name for a in archs if name in run_declarations(a, get_loss(a.default_loss))]
    losses = [n for n in loss_names() if any(trains(a, get_loss(n)) and name in run_declarations(a, get_loss(n))
                                             for a in archs)]
    who = f", or train --arch {' / '.join(readers)}" if readers else f", or train with --loss {' / '.join(losses)}"
    return BelamyError(f"{flag} is not used by --arch {arch.name} with --loss {loss.name}", f"drop {flag}{who}")
