"""`belamy train`: GAN training (and any task an architecture registers) driven by the run loop."""

from __future__ import annotations

from belamy.runs.loop import RunResult
from belamy.runs.stop import StopRequest
from belamy.train.options import TrainOptions

TrainResult = RunResult


def train(options: TrainOptions, stop: StopRequest | None = None) -> RunResult:
    """Train (or, with ``options.resume``, continue) the run in ``options.out``."""
    from belamy.runs import distributed as dd
    from belamy.runs.loop import run_task
    from belamy.runs.options import resolve_run_options
    from belamy.train.tasks import make_task

    info = dd.init_distributed(options.device)
    try:
        options = resolve_run_options(options)
        options.validate()
        return run_task(make_task(options, info), stop)
    finally:
        dd.shutdown(info)


__all__ = ["StopRequest", "TrainOptions", "TrainResult", "train"]
