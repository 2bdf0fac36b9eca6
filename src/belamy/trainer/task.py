"""What a kind of training run gives the loop: its networks, one step, its pictures and its measurements.

The loop (:mod:`belamy.trainer.loop`) owns everything runs have in common: the run folder, the
progress bar, ticks and the metrics line, sample snapshots, checkpoints (by kimg and by wall time),
``--resume``, "already reached", the best checkpoint, Ctrl-C and SIGTERM. A task owns what is its
own: it builds its modules, optimizers and data in ``__init__``, takes one step, draws its sample
image and names any extra state it keeps. GAN training, super-resolution and distillation are tasks.

Everything a task saves must make the next step exact: with modules, optimizers, the random
generator ``rng``, ``data_state`` and ``extra_tensors`` restored, a resumed run continues bit for bit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from belamy.errors import BelamyError
from belamy.trainer import distributed as dd
from belamy.trainer.distributed import DistInfo
from belamy.trainer.options import RunOptions
from belamy.trainer.paths import RunPaths, prepare_writable
from belamy.trainer.stats import StatsCollector


def start_ranks(info: DistInfo, device: str, batch: int, root) -> torch.device:
    """This process's device, once the global batch is known to split over the ranks and the run
    folder is writable (made by rank 0, the others waiting for it)."""
    from belamy.utils.device import resolve_device

    resolved = resolve_device(dd.device_for(info, device))
    if batch % info.world:
        raise BelamyError(f"--batch {batch} does not split over {info.world} processes", f"use a multiple of {info.world}")
    if info.is_main:
        prepare_writable(root)
    dd.barrier(info)
    return resolved


class Task(ABC):
    #: run.json "format": what reads the run folder back looks at it.
    run_format: str = "belamy-run"
    #: The command that continues a stopped run, for the "Resume with:" line.
    command: str = "belamy train"
    #: A tick-record key whose best value keeps checkpoints/best.*, and whether lower or higher is better.
    best_metric: tuple[str, str] | None = None
    #: Module prefixes written into checkpoints/best.*.
    best_modules: tuple[str, ...] = ("G", "D", "G_ema")

    options: RunOptions
    paths: RunPaths
    device: torch.device
    rng: torch.Generator  # the one random stream of the run's steps; saved in every checkpoint
    info: DistInfo = DistInfo()

    # ------------------------------------------------------------------ what the run is

    @abstractmethod
    def describe(self) -> str:
        """The first line printed: what trains on what, where, for how long."""

    @abstractmethod
    def run_info(self) -> dict:
        """run.json, beyond format, version, belamy and options."""

    def checkpoint_meta(self) -> dict:
        """Checkpoint JSON fields beyond nimg, tick, kimg, optimizers, options and the data position."""
        return {}

    def resume_command(self) -> str:
        return f"{self.command} --out {self.paths.root} --resume"

    # ------------------------------------------------------------------ state

    @abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every network whose weights (and buffers) a checkpoint holds, by prefix."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimizer whose moments a checkpoint holds, by name."""

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        """Further state as tensors (e.g. ADA's probability and statistics)."""
        return {}

    def load_extra(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        return None

    def data_state(self) -> dict | None:
        """Where the data stream stands (JSON-safe), or None when the task draws no data."""
        return None

    def restore_data(self, state: dict) -> None:
        return None

    def check_checkpoint(self, meta: dict, name: str) -> None:
        """Raise if a checkpoint to resume from was not written by this kind of run."""
        return None

    def begin(self, nimg: int, resumed: bool) -> None:
        """Training starts (or goes on) at ``nimg``: e.g. load --init weights into a new run, plan measurements."""
        return None

    # ------------------------------------------------------------------ work

    @abstractmethod
    def step(self, stats: StatsCollector, nimg: int) -> int:
        """One optimisation step; returns how many images it showed (the loop's nimg goes up by that)."""

    def sync(self) -> None:
        """Before a snapshot: make every rank hold what rank 0 saves (e.g. BatchNorm statistics)."""
        return None

    @abstractmethod
    def snapshot(self, nimg: int) -> dict:
        """Write the sample image for this moment; returns measurements it made (added to the metrics line)."""

    def evaluate(self, nimg: int, done: bool, means: dict[str, float]) -> dict:
        """Measurements for this tick's metrics line (e.g. held-out error, SWD when due)."""
        return {}

    def log_fields(self, means: dict[str, float], record: dict) -> str:
        """The task's part of the tick line, after the image rate."""
        return "  ".join(f"{k} {v:.4f}" for k, v in means.items())

    def progress_text(self, means: dict[str, float]) -> str:
        """A few numbers for the live progress bar."""
        return ""

    def finished(self, nimg: int) -> str:
        return f"done: {nimg / 1000:g} kimg; samples in {self.paths.samples}, checkpoints in {self.paths.checkpoints}"
