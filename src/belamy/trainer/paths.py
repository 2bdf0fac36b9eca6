"""Where a run keeps its things, and the checks that protect an existing run."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from belamy.errors import BelamyError
from belamy.trainer.checkpoint import list_checkpoints
from belamy.utils import untrusted
from belamy.utils.atomic import read_jsonl, write_text


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def grid(self, nimg: int) -> Path:
        return self.samples / f"grid-{nimg:09d}.png"

    def has_checkpoints(self) -> bool:
        return bool(list_checkpoints(self.checkpoints))

    def read_run_json(self) -> dict:
        try:
            return untrusted.read_json(self.run_json, str(self.run_json), finite=False)
        except FileNotFoundError:
            raise BelamyError(f"{self.root} is not a belamy run (no run.json)", "give a folder made by `belamy train`") from None
        except ValueError as exc:
            raise BelamyError(f"{self.run_json} is damaged ({exc})", "restore it or start a new run") from None

    def truncate_metrics(self, nimg: int) -> None:
        """Forget metric lines from beyond ``nimg``: after a resume they belong to a future that was lost."""
        kept = [r for r in read_jsonl(self.metrics) if round(r.get("kimg", 0) * 1000) <= nimg]
        write_text(self.metrics, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def prepare_writable(root: Path) -> None:
    """Create the run folder, or fail with one line if it cannot be written."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise BelamyError(f"cannot write to {root}: {exc.strerror or exc}", "choose another --out") from None


# Temporary names made by belamy.utils.atomic.atomic_path: ".<stem>.<random>.tmp<suffix>".
_TEMP_GLOB = ".*.tmp*"


def remove_stale_temp_files(root: Path) -> list[Path]:
    """Delete half-written temporary files a killed writer left (call with the run's lock held)."""
    removed = []
    for folder in (root, root / "checkpoints", root / "samples"):
        if not folder.is_dir():
            continue
        for path in folder.glob(_TEMP_GLOB):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed
