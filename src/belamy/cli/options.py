"""Options and arguments several commands share, each defined (and its help written) once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
RunArgument = Annotated[Path, typer.Argument(help="A run folder made by `belamy train` (or one checkpoint file).")]
