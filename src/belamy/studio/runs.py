"""Training runs under the studio root, read live from their folders."""

from __future__ import annotations

import os
import re
from pathlib import Path

from belamy.trainer.checkpoint import list_checkpoints
from belamy.utils import untrusted
from belamy.utils.atomic import read_jsonl

_GRID = re.compile(r"^grid-(\d{9})\.png$")
_SKIP = {"candidates", "travels", "checkpoints", "samples", "node_modules", "__pycache__"}


def find_runs(root: Path, max_depth: int = 4) -> list[Path]:
    """Folders holding a ``run.json``, at most ``max_depth`` levels below the root (hidden folders skipped)."""
    root = Path(root)
    runs = []
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        if "run.json" in files:
            runs.append(Path(folder))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP) if depth < max_depth else []
    return sorted(runs)


def read_run(run: Path, root: Path) -> dict:
    """What the runs page shows: settings, progress, grids and checkpoints."""
    try:
        info = untrusted.read_json(run / "run.json", "run.json", finite=False)
    except (OSError, ValueError):
        info = {}
    options = info.get("options", {}) if isinstance(info, dict) else {}
    metrics = read_jsonl(run / "metrics.jsonl")
    grids = []
    samples = run / "samples"
    if samples.is_dir():
        for p in sorted(samples.iterdir()):
            m = _GRID.match(p.name)
            if m:
                grids.append({"nimg": int(m.group(1)), "kimg": int(m.group(1)) / 1000,
                              "url": "/files/" + p.relative_to(root).as_posix()})
    checkpoints = [{"name": p.stem, "kimg": int(p.stem.split("-")[1]) / 1000} for p in list_checkpoints(run / "checkpoints")]
    last = metrics[-1] if metrics else {}
    kimg, time_s = last.get("kimg", 0.0), last.get("time_s", 0.0)
    target_kimg, target_minutes = options.get("kimg"), options.get("minutes")
    return {
        "name": run.relative_to(root).as_posix() or ".", "arch": info.get("arch"), "model": info.get("model", {}),
        "target_kimg": target_kimg, "target_minutes": target_minutes, "kimg": kimg, "time_s": time_s,
        "progress": progress(kimg, time_s, target_kimg, target_minutes), "img_per_s": last.get("img_per_s"),
        "ticks": len(metrics), "grids": grids, "checkpoints": checkpoints,
        "updated": max((p.stat().st_mtime for p in (run / "metrics.jsonl", run / "run.json") if p.exists()), default=0),
    }


def progress(kimg: float, time_s: float, target_kimg, target_minutes) -> float | None:
    """How far a run is towards its end, 0..1: a run stops at whichever of its targets (images or training
    minutes) it reaches first; None when it has neither."""
    def number(x) -> bool:
        return isinstance(x, (int, float))

    pairs = ((kimg, target_kimg), (time_s / 60.0 if number(time_s) else None, target_minutes))
    shares = [min(1.0, max(0.0, done / target)) for done, target in pairs if number(done) and number(target) and target > 0]
    return max(shares, default=None)


def read_metrics(run: Path, since: int = 0) -> list[dict]:
    return read_jsonl(run / "metrics.jsonl")[max(0, since):]
