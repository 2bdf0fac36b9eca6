"""One Rich progress style for all long work: bar, count, rate, elapsed and ETA."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# Messages go to stderr so that stdout stays clean for paths a script may capture.
console = Console(stderr=True, highlight=False)


def quiet() -> bool:
    """Progress bars redraw in place; in pipes and CI logs they are noise, so they are off there."""
    return os.environ.get("BELAMY_QUIET") == "1" or not sys.stderr.isatty()


class RateColumn(ProgressColumn):
    """Speed as ``12.3 img/s``."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"  ? {self.unit}/s", style="cyan")
        return Text(f"{speed:7.1f} {self.unit}/s", style="cyan")


class ScaledCountColumn(ProgressColumn):
    """Done/total in a larger unit, e.g. images counted but shown as ``12.3/500 kimg``."""

    def __init__(self, scale: float, unit: str):
        super().__init__()
        self.scale, self.unit = scale, unit

    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{task.total / self.scale:g}"
        return Text(f"{task.completed / self.scale:.1f}/{total} {self.unit}", style="green")


def make_progress(unit: str = "it", *extra_columns: ProgressColumn, count_column: ProgressColumn | None = None) -> Progress:
    """A progress bar: description, bar, done/total, rate, any extra columns, elapsed and ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        count_column or MofNCompleteColumn(),
        RateColumn(unit),
        *extra_columns,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet(),
    )
