"""What every run is asked to do: the options all tasks share, their JSON round trip and resume rules.

A task's options extend :class:`RunOptions`. ``FIXED_ON_RESUME`` names the settings a resumed run
keeps from its ``run.json`` (the rest — how long, how often to log, which device — may change);
``MATCH_ON_RESUME`` names those that, when given again on resume, must equal the stored ones.
How long to train (``kimg`` and ``minutes``) is stored too, and kept on resume unless given anew.
"""

from __future__ import annotations

import math
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

from belamy.errors import BelamyError

MAX_KIMG = 1_000_000_000.0
MAX_MINUTES = 525_600.0  # a year


@dataclass(kw_only=True)
class RunOptions:
    out: Path
    kimg: float | None = None  # train until this many thousand images (None: the task's default, or the stored one)
    minutes: float | None = None  # ... or for this much training wall time (kept across --resume)
    tick_kimg: float = 4.0  # one metrics line per tick
    snapshot_ticks: int = 1  # a sample image and a checkpoint every this many ticks
    checkpoint_minutes: float = 10.0  # and a checkpoint whenever this much wall time has passed (0: off)
    keep: int = 3
    seed: int = 0
    resume: bool = False
    device: str = "auto"

    DEFAULT_KIMG: ClassVar[float] = 100.0
    KIND: ClassVar[str] = "a run"  # what error messages call a run of this kind
    FIXED_ON_RESUME: ClassVar[tuple[str, ...]] = ("seed",)
    MATCH_ON_RESUME: ClassVar[tuple[str, ...]] = ()
    # How long to train: kept from the stored run unless given again.
    DURATION: ClassVar[tuple[str, ...]] = ("kimg", "minutes")

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict):
        known = {f.name: f for f in fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for name, value in data.items():
            if name not in known:
                continue
            if value is not None and hints.get(name) in (Path, Path | None):
                value = Path(value)
            kwargs[name] = value
        return cls(**kwargs)

    # ------------------------------------------------------------------ new run or resume

    def fill_new_run_defaults(self) -> None:
        """Settings left as None for a new run (subclasses add theirs)."""
        if self.kimg is None and self.minutes is None:
            self.kimg = self.DEFAULT_KIMG

    def check_stored_run(self, run: dict, root: Path) -> None:
        """Raise if ``run`` (a run.json) is not a run of this kind; subclasses say what they accept."""

    def take_stored(self, stored: RunOptions, root: Path) -> None:
        """On --resume: keep the stored settings, and the stored duration unless a new one was given."""
        for name in self.MATCH_ON_RESUME:
            asked, kept = getattr(self, name), getattr(stored, name)
            if asked is not None and asked != kept:
                raise BelamyError(
                    f"the run in {root} was made with --{name.replace('_', '-')} {kept}, not {asked}",
                    f"drop --{name.replace('_', '-')} to resume it, or start a new run in another folder",
                )
        for name in self.FIXED_ON_RESUME:
            setattr(self, name, getattr(stored, name))
        if self.kimg is None and self.minutes is None:
            self.kimg, self.minutes = stored.kimg, stored.minutes
        if self.kimg is None and self.minutes is None:  # a run from before durations were stored
            self.kimg = self.DEFAULT_KIMG

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        """One clear error for the first setting that cannot work; subclasses extend it."""
        if self.kimg is not None and not (_finite(self.kimg) and 0 < self.kimg <= MAX_KIMG):
            raise invalid("kimg", self.kimg, "give a positive number of thousands of images, e.g. --kimg 50")
        if self.minutes is not None and not (_finite(self.minutes) and 0 < self.minutes <= MAX_MINUTES):
            raise invalid("minutes", self.minutes, "give a positive number of minutes of training, e.g. --minutes 30")
        if not (_finite(self.tick_kimg) and 0 < self.tick_kimg <= MAX_KIMG):
            raise invalid("tick-kimg", self.tick_kimg, "use a positive number, e.g. 4")
        if not (_finite(self.checkpoint_minutes) and 0 <= self.checkpoint_minutes <= MAX_MINUTES):
            raise invalid("checkpoint-minutes", self.checkpoint_minutes, "use 0 (off) or a positive number, e.g. 10")
        if not _int_in(self.snapshot_ticks, 1, 1_000_000):
            raise invalid("snapshot-ticks", self.snapshot_ticks, "use 1 or more")
        if not _int_in(self.keep, 1, 1_000_000):
            raise invalid("keep", self.keep, "keep at least 1 checkpoint")
        if not _int_in(self.seed, 0, 2**63 - 1):
            raise invalid("seed", self.seed, "use a whole number from 0 up")

    def target_nimg(self) -> int | None:
        """Images to train to, or None when only a time budget bounds the run."""
        return None if self.kimg is None else round(self.kimg * 1000)


def invalid(flag: str, value, hint: str) -> BelamyError:
    return BelamyError(f"--{flag} {value} is not valid", hint)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def resolve_run_options(options: RunOptions) -> RunOptions:
    """A new run: refuse a folder that holds one, fill defaults. A resume: take the stored settings."""
    from belamy.trainer.paths import RunPaths

    paths = RunPaths(Path(options.out))
    if not options.resume:
        if paths.has_checkpoints():
            raise BelamyError(f"{paths.root} already holds {options.KIND}", "pass --resume to continue it, or choose another --out")
        options.fill_new_run_defaults()
        return options
    if not paths.root.exists():
        raise BelamyError(f"nothing to resume: {paths.root} does not exist",
                          f"drop --resume to start {options.KIND.replace('a ', 'a new ', 1).replace('an ', 'a new ', 1)}")
    run = paths.read_run_json()
    options.check_stored_run(run, paths.root)
    try:
        stored = type(options).from_json(run["options"])
    except (KeyError, TypeError, ValueError):
        raise BelamyError(f"{paths.run_json} does not describe a run of this kind", "restore it or start a new run") from None
    options.take_stored(stored, paths.root)
    return options
