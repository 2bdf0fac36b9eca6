"""The one training loop: every kind of run (GAN, super-resolution, distillation, ...) is a task it drives.

Per step the task trains and says how many images it showed. Every ``tick_kimg`` the loop writes a
metrics line (metrics.jsonl, the console, TensorBoard when installed); every ``snapshot_ticks``
ticks a sample image, the loss curves and a checkpoint; and a checkpoint whenever
``checkpoint_minutes`` of wall time have passed, so a ``kill -9`` loses at most that much work.
A checkpoint holds everything the next step depends on (weights, buffers, optimizer moments, the
random stream, the data position), so a resumed run goes on as if it had never stopped.
Ctrl-C or SIGTERM finish the step, write a checkpoint and return ``interrupted``. Losses or weights
that stop being finite end the run with one clear line, keeping the last good checkpoint.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.progress import TextColumn

from belamy import __version__
from belamy.errors import BelamyError
from belamy.trainer import checkpoint as ck
from belamy.trainer import distributed as dd
from belamy.trainer.curves import plot_curves
from belamy.trainer.paths import remove_stale_temp_files
from belamy.trainer.stats import MetricsSink, StatsCollector, tick_record
from belamy.trainer.stop import StopRequest
from belamy.trainer.task import Task
from belamy.utils.atomic import write_json
from belamy.utils.lock import RunLock
from belamy.utils.progress import ScaledCountColumn, console, make_progress


@dataclass
class RunResult:
    run_dir: Path
    nimg: int
    interrupted: bool
    last_checkpoint: Path | None
    last_record: dict = field(default_factory=dict)


def run_task(task: Task, stop: StopRequest | None = None) -> RunResult:
    """Drive ``task`` to its target (kimg or minutes), or until asked to stop."""
    info = task.info
    lock = RunLock(task.paths.root) if info.is_main else None
    if lock is not None:
        lock.acquire()
    try:
        if info.is_main:
            remove_stale_temp_files(task.paths.root)
        return _Loop(task, stop or StopRequest()).run()
    finally:
        if lock is not None:
            lock.release()


class _Loop:
    def __init__(self, task: Task, stop: StopRequest):
        self.task, self.stop = task, stop
        self.options, self.paths, self.info = task.options, task.paths, task.info
        self.nimg, self.tick, self.train_seconds = 0, 0, 0.0
        self.last_ckpt: Path | None = None
        self.best: float | None = None

    # ------------------------------------------------------------------ state in and out

    def restore(self) -> None:
        task, info = self.task, self.info
        latest, tensors, meta = ck.load_for_resume(self.paths.root, self.paths.checkpoints)
        task.check_checkpoint(meta, latest.name)
        for prefix, module in task.modules().items():
            ck.load_module_tensors(prefix, module, tensors, latest.name)
        for name, opt in task.optimizers().items():
            ck.load_optimizer_tensors(name, opt, tensors, meta["optimizers"][name])
        task.load_extra(tensors, latest.name)
        ck.restore_rng({"main" if info.rank == 0 else f"rank{info.rank}": task.rng}, tensors)
        data = meta.get("data_ranks", [meta.get("data")] * info.world)[info.rank] if info.enabled else meta.get("data")
        if data is not None:
            task.restore_data(data)
        self.nimg, self.tick, self.train_seconds = meta["nimg"], meta["tick"], meta.get("train_seconds", 0.0)
        self.best = _read_best(self.paths.checkpoints / "best.json", self.task.best_metric)
        if info.is_main:
            self.paths.truncate_metrics(self.nimg)
            console.print(f"resuming {self.paths.root} at {self.nimg / 1000:g} kimg from {latest.name}")

    def state(self) -> tuple[dict, dict]:
        task = self.task
        tensors: dict[str, torch.Tensor] = {}
        for prefix, module in task.modules().items():
            tensors.update(ck.module_tensors(prefix, module))
        tensors.update(ck.rng_tensors({"main": task.rng}))
        tensors.update(task.extra_tensors())
        optim_meta = {}
        for name, opt in task.optimizers().items():
            t, m = ck.optimizer_tensors(name, opt)
            tensors.update(t)
            optim_meta[name] = m
        meta = {**task.checkpoint_meta(), "tick": self.tick, "kimg": self.nimg / 1000, "optimizers": optim_meta,
                "train_seconds": round(self.train_seconds, 3), "options": self.options.to_json(), "belamy": __version__}
        data = task.data_state()
        if data is not None:
            meta["data"] = data
        return tensors, meta

    def save(self, extra_meta: dict | None = None) -> Path | None:
        tensors, meta = self.state()
        meta.update(extra_meta or {})
        if self.info.enabled:
            # Every rank's random stream and data position, so a resumed multi-process run goes on exactly.
            import torch.distributed as torch_dist

            states = [None] * self.info.world
            torch_dist.all_gather_object(states, (bytes(self.task.rng.get_state().cpu().numpy()), self.task.data_state()))
            for r, (rng_state, _) in enumerate(states[1:], start=1):
                tensors[f"rng.rank{r}"] = torch.frombuffer(bytearray(rng_state), dtype=torch.uint8)
            meta["data_ranks"] = [d for _, d in states]
            meta["world_size"] = self.info.world
        if not self.info.is_main:
            return None
        self.last_ckpt = ck.save_checkpoint(self.paths.checkpoints, self.nimg, tensors, meta, keep=self.options.keep)
        return self.last_ckpt

    def keep_if_best(self, record: dict) -> None:
        spec = self.task.best_metric
        if spec is None or spec[0] not in record:
            return
        key, mode = spec
        value = record[key]
        if self.best is not None and not (value < self.best if mode == "min" else value > self.best):
            return
        self.best = value
        tensors, meta = self.state()
        keep = {k: v for k, v in tensors.items() if k.split(".", 1)[0] in self.task.best_modules}
        meta = {k: v for k, v in meta.items() if k not in ("optimizers", "data", "train_seconds")}
        ck.save_best(self.paths.checkpoints, keep, {**meta, "nimg": self.nimg, key: value})

    # ------------------------------------------------------------------ the loop

    def run(self) -> RunResult:
        task, options, paths, info = self.task, self.options, self.paths, self.info
        if options.resume:
            self.restore()
        task.begin(self.nimg, resumed=options.resume)
        if info.is_main:
            write_json(paths.run_json, {"format": task.run_format, "version": 1, "belamy": __version__,
                                        **task.run_info(), "options": options.to_json()})
            if self.nimg == 0:
                task.snapshot(0)
        self.last_ckpt = ck.latest_checkpoint(paths.checkpoints)

        target = options.target_nimg()
        budget = None if options.minutes is None else options.minutes * 60.0
        if target is not None and self.nimg >= target:
            console.print(f"{paths.root} has already reached {self.nimg / 1000:g} kimg: nothing to do (raise --kimg to go on)")
            return RunResult(paths.root, self.nimg, False, self.last_ckpt)
        if budget is not None and self.train_seconds >= budget:
            console.print(f"{paths.root} has already trained its {options.minutes:g} minutes: nothing to do "
                          "(raise --minutes to go on)")
            return RunResult(paths.root, self.nimg, False, self.last_ckpt)

        stats, sink = StatsCollector(), MetricsSink(paths, enabled=info.is_main)
        reduce = dd.all_reduce_mean(info)
        tick_nimg = max(1, round(options.tick_kimg * 1000))
        next_tick = (self.nimg // tick_nimg + 1) * tick_nimg
        checkpoint_seconds = options.checkpoint_minutes * 60.0
        progress = make_progress("img", TextColumn("[magenta]{task.fields[text]}"), count_column=ScaledCountColumn(1000, "kimg"))
        if info.is_main:
            console.print(task.describe() + _duration(options))
        record: dict = {}
        try:
            with self.stop.installed(), progress:
                bar = progress.add_task("train", total=target, completed=self.nimg, text="")
                tick_start_nimg = self.nimg
                tick_start_time = last_save_time = time.perf_counter()
                while True:
                    self.nimg += task.step(stats, self.nimg)
                    progress.update(bar, completed=self.nimg if target is None else min(self.nimg, target))
                    now = time.perf_counter()
                    out_of_time = budget is not None and self.train_seconds + (now - tick_start_time) >= budget
                    time_to_save = checkpoint_seconds > 0 and now - last_save_time >= checkpoint_seconds
                    stopping, out_of_time, time_to_save = self.agree(self.stop.requested, out_of_time, time_to_save)
                    done = (target is not None and self.nimg >= target) or out_of_time

                    if self.nimg >= next_tick or done or stopping:
                        tick_seconds = now - tick_start_time
                        self.train_seconds += tick_seconds
                        self.tick += 1
                        means = stats.means(reduce=reduce)
                        stats.reset()
                        self.check_finite(means)
                        record = tick_record(self.tick, self.nimg, self.train_seconds, self.nimg - tick_start_nimg,
                                             tick_seconds, means)
                        snapshot_due = self.tick % options.snapshot_ticks == 0 or done or stopping
                        task.sync()
                        measured = task.snapshot(self.nimg) if snapshot_due and info.is_main else {}
                        record.update(measured)
                        if info.is_main:
                            record.update(task.evaluate(self.nimg, done, means))
                            self.keep_if_best(record)
                            sink.write(record)
                            progress.update(bar, text=task.progress_text(means))
                            eta = _eta(target, budget, self.nimg, self.train_seconds, record)
                            console.print(f"tick {self.tick:<4d} kimg {self.nimg / 1000:8.2f}  {record['img_per_s']:7.1f} img/s  "
                                          f"{task.log_fields(means, record)}{eta}")
                        if snapshot_due:
                            if info.is_main:
                                plot_curves(paths.metrics, paths.root / "curves.png")
                            self.save(measured)
                            last_save_time = time.perf_counter()
                        next_tick = (self.nimg // tick_nimg + 1) * tick_nimg
                        tick_start_nimg, tick_start_time = self.nimg, time.perf_counter()
                        if stopping:
                            console.print(f"stopped at {self.nimg / 1000:g} kimg; checkpoint saved. "
                                          f"Resume with: {task.resume_command()}")
                            return RunResult(paths.root, self.nimg, True, self.last_ckpt, record)
                        if done:
                            break
                    elif time_to_save:
                        # Between ticks: the time so far counts, the tick goes on.
                        elapsed = now - tick_start_time
                        self.train_seconds += elapsed
                        self.save()
                        self.train_seconds -= elapsed
                        last_save_time = time.perf_counter()
        finally:
            sink.close()
        if info.is_main:
            console.print(task.finished(self.nimg))
        _debug_checksum(task)
        return RunResult(paths.root, self.nimg, False, self.last_ckpt, record)

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Under torchrun every rank must stop and save at the same step, or the collectives would hang."""
        if not self.info.enabled:
            return flags
        votes = torch.tensor([1.0 if f else 0.0 for f in flags], device=self.task.device)
        votes = dd.all_reduce_sum(self.info)(votes)
        return tuple(bool(v > 0) for v in votes.tolist())

    def check_finite(self, means: dict[str, float]) -> None:
        """Stop with one clear line once a loss or a weight is NaN or infinite: later checkpoints would be worthless."""
        bad = next((name for name, value in means.items() if not math.isfinite(value)), None)
        if bad is None:
            for prefix, module in self.task.modules().items():
                for name, p in module.named_parameters():
                    if not torch.isfinite(p).all():
                        bad = f"weight {prefix}.{name}"
                        break
                if bad:
                    break
        if bad is None:
            return
        kept = f"the last good checkpoint is {self.last_ckpt}" if self.last_ckpt else "no checkpoint was written"
        raise BelamyError(
            f"training diverged at {self.nimg / 1000:g} kimg: {bad} is not finite; {kept}",
            "resume with --resume (it starts from the last good checkpoint), perhaps with a lower --lr or --precision fp32",
        )


def _duration(options) -> str:
    parts = []
    if options.kimg is not None:
        parts.append(f"to {options.kimg:g} kimg")
    if options.minutes is not None:
        parts.append(f"for {options.minutes:g} minutes")
    return (", " + " or ".join(parts) if parts else "") + f" -> {options.out}"


def _eta(target: int | None, budget: float | None, nimg: int, train_seconds: float, record: dict) -> str:
    """Time left: to the kimg target at this tick's rate, or to the end of the time budget, whichever comes first."""
    left = []
    if target is not None and record.get("sec_per_kimg"):
        left.append(max(0, target - nimg) / 1000 * record["sec_per_kimg"])
    if budget is not None:
        left.append(max(0.0, budget - train_seconds))
    if not left:
        return ""
    seconds = round(min(left))
    return f"  ETA {seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _read_best(path: Path, spec: tuple[str, str] | None) -> float | None:
    import json

    if spec is None:
        return None
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))[spec[0]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _debug_checksum(task: Task) -> None:
    """BELAMY_RANK_CHECKSUMS=DIR: each rank writes a checksum of its weights (tests check ranks agree)."""
    import hashlib
    import os

    folder = os.environ.get("BELAMY_RANK_CHECKSUMS")
    if not folder:
        return
    digest = hashlib.sha256()
    for prefix, module in task.modules().items():
        for name, value in sorted(module.state_dict().items()):
            digest.update(f"{prefix}.{name}".encode())
            digest.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"rank{task.info.rank}.sha256").write_text(digest.hexdigest())
