"""One stats collector that feeds both the log line and metrics.jsonl.

Values are summed as tensors on the device and read once per tick: a ``.item()`` per step
would force a device sync every step.
"""

from __future__ import annotations

import torch

from belamy.utils.atomic import append_jsonl


class StatsCollector:
    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, name: str, value: torch.Tensor | float) -> None:
        value = value.detach() if torch.is_tensor(value) else torch.tensor(float(value))
        if name in self._sums:
            self._sums[name] += value.float()
            self._counts[name] += 1
        else:
            self._sums[name] = value.float().clone()
            self._counts[name] = 1

    def means(self, reduce=None) -> dict[str, float]:
        """Mean of each value since the last reset. ``reduce`` (e.g. an all-reduce) may combine ranks."""
        if not self._sums:
            return {}
        names = sorted(self._sums)
        stacked = torch.stack([self._sums[n] / self._counts[n] for n in names])
        if reduce is not None:
            stacked = reduce(stacked)
        return dict(zip(names, stacked.cpu().tolist(), strict=True))

    def reset(self) -> None:
        self._sums.clear()
        self._counts.clear()


def tick_record(tick: int, nimg: int, train_seconds: float, shown: int, tick_seconds: float,
                means: dict[str, float]) -> dict:
    """One metrics.jsonl line: where the run is, how fast the tick went, and the tick's mean statistics."""
    return {
        "tick": tick, "kimg": nimg / 1000, "time_s": round(train_seconds, 3),
        "img_per_s": round(shown / max(tick_seconds, 1e-9), 2),
        "sec_per_kimg": round(tick_seconds / max(shown, 1) * 1000, 3),
        **{k: round(v, 5) for k, v in means.items()},
    }


class MetricsSink:
    """Where tick records go: metrics.jsonl always; TensorBoard event files in the run folder when the
    optional ``tensorboard`` package is installed (``tensorboard --logdir runs/`` then shows every run)."""

    def __init__(self, paths, enabled: bool = True):
        self.paths, self.enabled = paths, enabled
        self._writer = _tensorboard_writer(paths.root) if enabled else None

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        append_jsonl(self.paths.metrics, record)
        if self._writer is not None:
            step = round(record["kimg"] * 1000)
            for key, value in record.items():
                if key not in ("tick", "kimg") and isinstance(value, int | float) and not isinstance(value, bool):
                    self._writer.add_scalar(_tensorboard_tag(key), value, global_step=step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _tensorboard_writer(root):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the optional extra is not installed
        return None
    return SummaryWriter(log_dir=str(root), filename_suffix=".belamy")


def _tensorboard_tag(key: str) -> str:
    """Group the scalars as StyleGAN2-ADA does: Loss/…, Timing/…, Metrics/…."""
    if key.startswith(("loss", "D_", "r1", "l1", "adv", "fm", "feature")):
        return f"Loss/{key}"
    if key in ("time_s", "img_per_s", "sec_per_kimg"):
        return f"Timing/{key}"
    if key.startswith("augment"):
        return f"Progress/{key}"
    return f"Metrics/{key}"
