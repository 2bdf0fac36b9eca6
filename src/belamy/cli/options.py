"""Options and arguments several commands share, each defined (and its help written) once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
RunArgument = Annotated[Path, typer.Argument(help="A run folder made by `belamy train` (or one checkpoint file).")]

# How long a run trains and what it keeps: train, distill and sr train.
Minutes = Annotated[float | None, typer.Option(
    help="Train for this many minutes of wall time instead (or as well: whichever comes first); kept on --resume.")]
CheckpointMinutes = Annotated[float, typer.Option(
    help="Also write a checkpoint whenever this many minutes have passed since the last (0: off).")]
Keep = Annotated[int, typer.Option(help="How many recent checkpoints to keep.")]
