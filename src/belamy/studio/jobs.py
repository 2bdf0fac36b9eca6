"""Background work for the studio: generating candidates, and retraining the taste. Requests never wait on it."""

from __future__ import annotations

import itertools
import re
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from belamy.curate.db import DecisionDB
from belamy.curate.preference import FeatureSource, PreferenceModel, load_latest, retrain_and_score
from belamy.errors import BelamyError

_SEED_NAME = re.compile(r"^seed-(\d+)\.png$")


@dataclass
class Job:
    id: int
    kind: str
    status: str = "queued"  # queued, running, done, error
    message: str = ""
    out: str | None = None
    created: float = field(default_factory=time.time)
    count: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def next_free_seed(folder: Path) -> int:
    """One past the highest ``seed-N.png`` already there, so asking again adds new candidates."""
    if not folder.is_dir():
        return 0
    seeds = [int(m.group(1)) for p in folder.iterdir() if (m := _SEED_NAME.match(p.name))]
    return max(seeds) + 1 if seeds else 0


class GenerationJobs:
    """One generation at a time, in a worker thread; the request that asks for it returns at once."""

    def __init__(self, root: Path, db: DecisionDB, on_done=None):
        self.root = root
        self.db = db
        self.on_done = on_done
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()

    def submit(self, run: Path, checkpoint: str, n: int, seed: int | None, truncation: float, device: str = "auto") -> Job:
        from belamy.trainer.checkpoint import resolve_checkpoint

        ckpt = resolve_checkpoint(run, checkpoint)  # a wrong checkpoint is a 4xx now, not a failed job later
        out = self.root / "candidates" / f"{run.name}-{ckpt.stem}"
        job = Job(id=next(self._ids), kind="generate", out=out.relative_to(self.root).as_posix())
        with self._lock:
            self._jobs[job.id] = job
        thread = threading.Thread(target=self._work, args=(job, run, ckpt, out, n, seed, truncation, device),
                                  name=f"belamy-generate-{job.id}", daemon=True)
        thread.start()
        return job

    def _work(self, job: Job, run: Path, ckpt: Path, out: Path, n: int, seed: int | None, truncation: float,
              device: str) -> None:
        from belamy.generate.sample import generate

        with self._run_lock:
            job.status = "running"
            try:
                first = next_free_seed(out) if seed is None else seed
                result = generate(run, out, n=n, seed=first, checkpoint=ckpt.name, device=device, truncation=truncation)
                self.db.scan(out)
                job.count = len(result.images)
                job.message = f"{job.count} candidates, seeds {first}-{first + n - 1}"
                job.status = "done"
                if self.on_done:
                    self.on_done()
            except BelamyError as exc:
                job.status, job.message = "error", str(exc)
            except Exception as exc:  # a bug: keep the studio up, say what happened
                traceback.print_exc()
                job.status, job.message = "error", f"{type(exc).__name__}: {exc}"

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.id)


class Retrainer:
    """Retrains the taste in a background thread every ``every`` new decisions (or when asked)."""

    def __init__(self, db: DecisionDB, features: FeatureSource, every: int = 10):
        self.db = db
        self.features = features
        self.every = max(1, every)
        self.model: PreferenceModel | None = load_latest(db)
        self.trained_at_count = self.model.n if self.model else 0
        self.training = False
        self.error: str | None = None
        self.generation = 0  # how many trainings finished since start
        self._wake = threading.Event()
        self._force = False
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="belamy-retrain", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Called after each decision: wakes the thread when enough new decisions have come in."""
        if abs(self.db.decision_count() - self.trained_at_count) >= self.every:
            self._wake.set()

    def request(self) -> None:
        self._force = True
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            self._force = False
            self.training = True
            count = self.db.decision_count()
            try:
                model = retrain_and_score(self.db, self.features)
                if model is not None:
                    self.model = model
                self.error = None if model is not None else "needs at least 2 keeps and 2 rejects"
            except BelamyError as exc:
                self.error = str(exc)
            except Exception as exc:
                traceback.print_exc()
                self.error = f"{type(exc).__name__}: {exc}"
            finally:
                self.trained_at_count = count
                self.generation += 1
                self.training = False

    def status(self) -> dict:
        m = self.model
        return {
            "training": self.training, "error": self.error, "generation": self.generation, "every": self.every,
            "model": None if m is None else {
                "id": m.id, "n": m.n, "n_keep": m.n_keep, "accuracy": m.accuracy, "held_out_accuracy": m.held_out_accuracy,
                "heads": ["colour"] + (["discriminator"] if m.disc is not None else []), "created": m.created,
            },
        }
