"""One Rich progress style for all long work: bar, count, rate, elapsed and ETA."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys

from rich.console import Console, RenderHook
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

# Messages go to stderr so that stdout stays clean for paths a script may capture. In a file or a
# pipe, Rich would wrap every line at 80 columns: a log keeps one line per message instead.
console = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())
TICK_LINE = re.compile(r"^tick\s+\d+\b")


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


def eta_text(seconds: float | None) -> str:
    """``0:03:12`` as the bar shows it; ``-:--:--`` while the rate is not known yet."""
    return "-:--:--" if seconds is None else str(dt.timedelta(seconds=max(0, int(seconds))))


class _TickETA(RenderHook):
    """Where no bar is drawn (a file, a pipe, CI), a tick line printed during the work carries the bar's ETA."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def process_renderables(self, renderables):
        out = []
        for r in renderables:
            if (isinstance(r, Text) and TICK_LINE.match(r.plain) and "\n" not in r.plain.rstrip("\n")
                    and " ETA " not in r.plain):  # the run loop writes its own (it knows time budgets too)
                tasks = [t for t in self.progress.tasks if t.total]
                task = next((t for t in tasks if not t.finished), tasks[-1] if tasks else None)
                if task is not None:
                    r = r.copy()
                    r.append(f"  ETA {eta_text(task.time_remaining)}")
            out.append(r)
        return out


class LoggedProgress(Progress):
    """A Rich progress bar on a terminal; elsewhere no bar, and the work's tick lines carry its ETA."""

    _hooked = False

    def start(self) -> None:
        super().start()
        if self.disable and not self._hooked:
            self.console.push_render_hook(_TickETA(self))
            self._hooked = True

    def stop(self) -> None:
        if self._hooked:
            self.console.pop_render_hook()
            self._hooked = False
        super().stop()


def make_progress(unit: str = "it", *extra_columns: ProgressColumn, count_column: ProgressColumn | None = None) -> Progress:
    """A progress bar: description, bar, done/total, rate, any extra columns, elapsed and ETA."""
    return LoggedProgress(
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
