"""`belamy train`: GAN training (and any task an architecture registers) driven by the run loop."""

from __future__ import annotations

from belamy.gan.options import TrainOptions
from belamy.trainer.loop import RunResult
from belamy.trainer.stop import StopRequest

TrainResult = RunResult


def train(options: TrainOptions, stop: StopRequest | None = None) -> RunResult:
    """Train (or, with ``options.resume``, continue) the run in ``options.out``."""
    from belamy.gan.registry import make_task
    from belamy.trainer import distributed as dd
    from belamy.trainer.loop import run_task
    from belamy.trainer.options import resolve_run_options

    info = dd.init_distributed(options.device)
    finished = False
    try:
        options = resolve_run_options(options)
        options.validate()
        result = run_task(make_task(options, info), stop)
        finished = True
        return result
    finally:
        dd.shutdown(info, finished)


__all__ = ["StopRequest", "TrainOptions", "TrainResult", "train"]
