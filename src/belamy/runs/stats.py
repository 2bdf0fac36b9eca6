"""One stats collector that feeds both the log line and metrics.jsonl.

Values are summed as tensors on the device and read once per tick: a ``.item()`` per step
would force a device sync every step.
"""

from __future__ import annotations

import torch


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
