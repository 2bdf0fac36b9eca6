"""The training loop: real batches in, checkpoints, sample grids and metrics out.

Order of work per step: D phase (real + fake), then G phase with D frozen. Every ``tick_kimg``
a metrics line; every ``snapshot_ticks`` ticks a sample grid from fixed latents and a checkpoint.
A checkpoint holds everything the next step depends on (weights, BatchNorm statistics, optimizer
moments, RNG state, data position), so a run killed at any moment resumes as if never stopped.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import TextColumn

from belamy import __version__
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.generate.grid import make_grid, to_uint8
from belamy.generate.latents import latents_for_seeds
from belamy.models.registry import get_architecture
from belamy.train import checkpoint as ck
from belamy.train.curves import plot_curves
from belamy.train.data import RealBatches, fit_resolution
from belamy.train.loss import DCGANLoss
from belamy.train.options import FIXED_ON_RESUME, TrainOptions
from belamy.train.run_dir import RunPaths, prepare_writable
from belamy.train.stats import StatsCollector
from belamy.train.steps import dcgan_step
from belamy.utils.atomic import append_jsonl, write_json
from belamy.utils.device import resolve_device
from belamy.utils.imageio import save_png
from belamy.utils.progress import ScaledCountColumn, console, make_progress


@dataclass
class TrainResult:
    run_dir: Path
    nimg: int
    interrupted: bool
    last_checkpoint: Path | None


def resolve_options(options: TrainOptions) -> TrainOptions:
    """Fill defaults for a new run; for a resumed run, take the stored settings and check the asked ones agree."""
    paths = RunPaths(Path(options.out))
    if not options.resume:
        if paths.has_checkpoints():
            raise BelamyError(
                f"{paths.root} already holds a training run",
                "pass --resume to continue it, or choose another --out",
            )
        options.arch = options.arch or "dcgan"
        options.res = options.res or 64
        return options
    if not paths.root.exists():
        raise BelamyError(f"nothing to resume: {paths.root} does not exist", "drop --resume to start a new run")
    stored = TrainOptions.from_json(paths.read_run_json()["options"])
    for name in ("arch", "res"):
        asked = getattr(options, name)
        if asked is not None and asked != getattr(stored, name):
            raise BelamyError(
                f"the run in {paths.root} was trained with --{name} {getattr(stored, name)}, not {asked}",
                f"drop --{name} to resume it, or start a new run in another folder",
            )
    for name in FIXED_ON_RESUME:
        setattr(options, name, getattr(stored, name))
    return options


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop after the current step; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        console.print("stopping after this step: writing a checkpoint (Ctrl-C again to abort at once)")

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def train(options: TrainOptions, stop: StopRequest | None = None) -> TrainResult:
    options.validate()
    options = resolve_options(options)
    paths = RunPaths(Path(options.out))
    arch = get_architecture(options.arch)
    cfg = arch.make_config(res=options.res, nz=options.nz, ngf=options.ngf, ndf=options.ndf)
    corpus = open_corpus(options.corpus)
    images = fit_resolution(corpus.images, cfg.res)
    device = resolve_device(options.device)
    prepare_writable(paths.root)

    torch.manual_seed(options.seed)
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    G = arch.make_generator(cfg).to(device, memory_format=memory_format)
    D = arch.make_discriminator(cfg).to(device, memory_format=memory_format)
    adam = {"lr": options.lr, "betas": (options.beta1, options.beta2)}
    # Fused Adam: one kernel over all parameters instead of a Python loop of small ops.
    opt_G = torch.optim.Adam(G.parameters(), **adam, fused=True)
    opt_D = torch.optim.Adam(D.parameters(), **adam, fused=True)
    rng = torch.Generator(device=device).manual_seed(options.seed)
    data = RealBatches(images, options.batch, options.seed, options.mirror, device, options.channels_last)
    loss = DCGANLoss(G, D, options.loss)

    nimg, tick, train_seconds = 0, 0, 0.0
    if options.resume:
        latest = ck.latest_checkpoint(paths.checkpoints)
        if latest is None:
            raise BelamyError(f"no checkpoint to resume in {paths.root}", "drop --resume to start a new run")
        tensors, meta = ck.load_checkpoint(latest)
        if meta.get("arch") != options.arch:
            raise BelamyError(f"checkpoint {latest.name} is a {meta.get('arch')} model, not {options.arch}", "check --arch")
        ck.load_module_tensors("G", G, tensors, latest.name)
        ck.load_module_tensors("D", D, tensors, latest.name)
        ck.load_optimizer_tensors("opt_G", opt_G, tensors, meta["optimizers"]["opt_G"])
        ck.load_optimizer_tensors("opt_D", opt_D, tensors, meta["optimizers"]["opt_D"])
        ck.restore_rng({"main": rng}, tensors)
        data.restore(meta["data"])
        nimg, tick, train_seconds = meta["nimg"], meta["tick"], meta.get("train_seconds", 0.0)
        paths.truncate_metrics(nimg)
        console.print(f"resuming {paths.root} at {nimg / 1000:g} kimg from {latest.name}")
    run_info = {
        "format": "belamy-run", "version": 1, "belamy": __version__, "arch": options.arch,
        "model": cfg.to_dict(), "options": options.to_json(), "corpus": {"path": str(options.corpus), "count": len(corpus)},
    }
    write_json(paths.run_json, run_info)

    grid_z = latents_for_seeds(range(options.grid_size), cfg.nz).to(device)

    def snapshot_grid() -> None:
        G.eval()
        with torch.no_grad():
            pictures = to_uint8(G(grid_z))
        G.train()
        save_png(make_grid(pictures), paths.grid(nimg), {"run": str(paths.root), "kimg": nimg / 1000, "seeds": f"0-{options.grid_size - 1}"})

    def save() -> Path:
        tensors = {**ck.module_tensors("G", G), **ck.module_tensors("D", D), **ck.rng_tensors({"main": rng})}
        optim_meta = {}
        for name, opt in (("opt_G", opt_G), ("opt_D", opt_D)):
            t, m = ck.optimizer_tensors(name, opt)
            tensors.update(t)
            optim_meta[name] = m
        meta = {
            "arch": options.arch, "model": cfg.to_dict(), "tick": tick, "kimg": nimg / 1000, "data": data.state(),
            "optimizers": optim_meta, "train_seconds": train_seconds, "options": options.to_json(), "belamy": __version__,
        }
        return ck.save_checkpoint(paths.checkpoints, nimg, tensors, meta, keep=options.keep)

    total_nimg = round(options.kimg * 1000)
    tick_nimg = max(1, round(options.tick_kimg * 1000))
    next_tick = (nimg // tick_nimg + 1) * tick_nimg
    stats = StatsCollector()
    last_ckpt = ck.latest_checkpoint(paths.checkpoints)
    if nimg == 0:
        snapshot_grid()
    if nimg >= total_nimg:
        console.print(f"{paths.root} has already reached {nimg / 1000:g} kimg: nothing to do (raise --kimg to go on)")
        return TrainResult(paths.root, nimg, False, last_ckpt)

    stop = stop or StopRequest()
    progress = make_progress(
        "img", TextColumn("[magenta]G {task.fields[loss_G]} D {task.fields[loss_D]}"),
        count_column=ScaledCountColumn(1000, "kimg"),
    )
    console.print(f"training {options.arch} {cfg.res}² on {len(corpus)} images, {device}, to {options.kimg:g} kimg -> {paths.root}")
    with stop.installed(), progress:
        task = progress.add_task("train", total=total_nimg, completed=nimg, loss_G="   -  ", loss_D="   -  ")
        tick_start_nimg, tick_start_time = nimg, time.perf_counter()
        while nimg < total_nimg:
            real = data.next(rng)
            z = torch.randn(options.batch, cfg.nz, generator=rng, device=device)
            dcgan_step(G, D, opt_G, opt_D, loss, real, z, stats)
            nimg += options.batch
            progress.update(task, completed=min(nimg, total_nimg))

            if nimg >= next_tick or nimg >= total_nimg or stop.requested:
                tick_seconds = time.perf_counter() - tick_start_time
                train_seconds += tick_seconds
                tick += 1
                means = stats.means()
                stats.reset()
                shown = nimg - tick_start_nimg
                record = {
                    "tick": tick, "kimg": nimg / 1000, "time_s": round(train_seconds, 3),
                    "img_per_s": round(shown / max(tick_seconds, 1e-9), 2),
                    "sec_per_kimg": round(tick_seconds / max(shown, 1) * 1000, 3),
                    **{k: round(v, 5) for k, v in means.items()},
                }
                append_jsonl(paths.metrics, record)
                progress.update(task, loss_G=f"{means.get('loss_G', 0):6.3f}", loss_D=f"{means.get('loss_D', 0):6.3f}")
                console.print(
                    f"tick {tick:<4d} kimg {nimg / 1000:8.1f}  {record['img_per_s']:7.1f} img/s  "
                    f"loss_G {means.get('loss_G', 0):6.3f}  loss_D {means.get('loss_D', 0):6.3f}  "
                    f"D(x) {means.get('D_real', 0):.2f}  D(G(z)) {means.get('D_fake', 0):.2f}"
                )
                done = nimg >= total_nimg
                if tick % options.snapshot_ticks == 0 or done or stop.requested:
                    snapshot_grid()
                    plot_curves(paths.metrics, paths.root / "curves.png")
                    last_ckpt = save()
                next_tick = (nimg // tick_nimg + 1) * tick_nimg
                tick_start_nimg, tick_start_time = nimg, time.perf_counter()
                if stop.requested:
                    console.print(
                        f"stopped at {nimg / 1000:g} kimg; checkpoint saved. Resume with: "
                        f"belamy train {options.corpus} --out {paths.root} --resume"
                    )
                    return TrainResult(paths.root, nimg, True, last_ckpt)
    console.print(f"done: {nimg / 1000:g} kimg; samples in {paths.samples}, checkpoints in {paths.checkpoints}")
    return TrainResult(paths.root, nimg, False, last_ckpt)
