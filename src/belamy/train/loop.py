"""The training loop: real batches in, checkpoints, sample grids and metrics out.

Two architectures share it: the DCGAN (one D step, one G step, BatchNorm) and the style-based GAN
(StyleGAN2 loss phases, lazy R1, G_ema, ADA/DiffAugment, class labels, SWD tracking, torchrun).

Order of work per step: D phase (real + fake), then G phase with D frozen. Every ``tick_kimg``
a metrics line; every ``snapshot_ticks`` ticks a sample grid from fixed latents and a checkpoint.
A checkpoint holds everything the next step depends on (weights, BatchNorm statistics, optimizer
moments, RNG state, data position), so a run killed at any moment resumes as if never stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import TextColumn

from belamy import __version__
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.models.latents import latents_for_seeds
from belamy.models.registry import get_architecture
from belamy.runs import checkpoint as ck
from belamy.runs import distributed as dd
from belamy.runs.curves import plot_curves
from belamy.runs.data import RealBatches, corpus_labels, fit_shape
from belamy.runs.paths import RunPaths, prepare_writable
from belamy.runs.stats import StatsCollector, tick_record
from belamy.runs.stop import StopRequest
from belamy.train.options import FIXED_ON_RESUME, TrainOptions
from belamy.train.trainer import DCGANTrainer, StyleTrainer
from belamy.utils.atomic import append_jsonl, write_json
from belamy.utils.device import resolve_device
from belamy.utils.grid import make_grid, to_uint8
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
        options.fill_arch_defaults()
        return options
    if not paths.root.exists():
        raise BelamyError(f"nothing to resume: {paths.root} does not exist", "drop --resume to start a new run")
    run = paths.read_run_json()
    if "distilled_from" in run:
        raise BelamyError(f"{paths.root} was made by `belamy distill`, not `belamy train`",
                          f"continue it with `belamy distill {run['distilled_from'].get('run', 'TEACHER')} "
                          f"--out {paths.root} --resume`")
    try:
        stored = TrainOptions.from_json(run["options"])
    except (KeyError, TypeError, ValueError):
        raise BelamyError(f"{paths.run_json} does not describe a training run", "restore it or start a new run") from None
    for name in ("arch", "res"):
        asked = getattr(options, name)
        if asked is not None and asked != getattr(stored, name):
            raise BelamyError(
                f"the run in {paths.root} was trained with --{name} {getattr(stored, name)}, not {asked}",
                f"drop --{name} to resume it, or start a new run in another folder",
            )
    for name in FIXED_ON_RESUME:
        setattr(options, name, getattr(stored, name))
    options.fill_arch_defaults()  # runs from before a setting existed get its default
    return options


def _model_config(options: TrainOptions, arch, label_names: list[str]):
    return arch.make_config(
        res=options.res, nz=options.nz, ngf=options.ngf, ndf=options.ndf, w_dim=options.w_dim,
        map_layers=options.map_layers, channel_base=options.channel_base, channel_max=options.channel_max,
        label_names=label_names, aspect=options.aspect,
        conv_clamp=256.0 if options.precision == "fp16" else None,
    )


def _load_init(trainer, source: str, arch_name: str, cfg) -> None:
    """--init RUN: start from another run's weights (G, D, G_ema), with fresh optimizers."""
    json_path = ck.resolve_checkpoint(Path(source), "latest")
    tensors, meta = ck.load_checkpoint(json_path)
    if meta.get("arch") != arch_name:
        raise BelamyError(f"--init {source} is a {meta.get('arch')} model, not {arch_name}", "start from a run of the same --arch")
    for prefix, module in trainer.modules().items():
        if any(k.startswith(prefix + ".") for k in tensors):
            ck.load_module_tensors(prefix, module, tensors, f"{json_path.name} (--init)")
        elif prefix == "G_ema":  # a source without an EMA generator: start the average at its G
            module.load_state_dict(trainer.G.state_dict())
    console.print(f"starting from the weights of {json_path} (fresh optimizers)")


def _save_best(paths: RunPaths, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """checkpoints/best.safetensors + best.json (JSON last), as resolve_checkpoint(..., 'best') expects."""
    from safetensors.torch import save_file

    from belamy.utils.atomic import atomic_path

    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths.checkpoints / "best.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata={"format": ck.FORMAT})
    write_json(paths.checkpoints / "best.json", {"format": ck.FORMAT, "version": ck.VERSION, **meta})


def _read_best_score(paths: RunPaths) -> float | None:
    import json

    try:
        return float(json.loads((paths.checkpoints / "best.json").read_text(encoding="utf-8"))["swd"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def train(options: TrainOptions, stop: StopRequest | None = None) -> TrainResult:
    info = dd.init_distributed(options.device)
    try:
        return _train(options, stop, info)
    finally:
        dd.shutdown(info)


def _train(options: TrainOptions, stop: StopRequest | None, info: dd.DistInfo) -> TrainResult:
    options = resolve_options(options)
    options.validate()
    paths = RunPaths(Path(options.out))
    arch = get_architecture(options.arch)
    corpus = open_corpus(options.corpus)
    if options.aspect is None:  # the model takes the corpus's shape
        options.aspect = corpus.aspect
    label_names, label_index = [], None
    if options.labels:
        label_names, label_index = corpus_labels(corpus.manifest, options.labels)
    cfg = _model_config(options, arch, label_names)
    height, width = cfg.shape
    images = fit_shape(corpus.images, height, width)
    device = resolve_device(dd.device_for(info, options.device))
    if options.batch % info.world:
        raise BelamyError(f"--batch {options.batch} does not split over {info.world} processes", f"use a multiple of {info.world}")
    if info.is_main:
        prepare_writable(paths.root)
    dd.barrier(info)

    torch.manual_seed(options.seed)
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    if options.arch == "style":
        pool = torch.from_numpy(label_index).to(device) if label_index is not None else None
        trainer = StyleTrainer(options, cfg, arch, device, memory_format, info, label_pool=pool)
    else:
        trainer = DCGANTrainer(options, cfg, arch, device, memory_format, info)
    # Each rank draws its own latents and augmentations; rank 0's stream is the single-process one.
    rng_seed = options.seed if info.rank == 0 else options.seed + 1_000_003 * info.rank
    rng = torch.Generator(device=device).manual_seed(rng_seed)
    local_batch = options.batch // info.world
    data = RealBatches(images, local_batch, options.seed, options.mirror, device, options.channels_last,
                       shard=(info.rank, info.world), labels=label_index)

    nimg, tick, train_seconds = 0, 0, 0.0
    if options.resume:
        latest, tensors, meta = ck.load_for_resume(paths.root, paths.checkpoints)
        if meta.get("arch") != options.arch:
            raise BelamyError(f"checkpoint {latest.name} is a {meta.get('arch')} model, not {options.arch}", "check --arch")
        for prefix, module in trainer.modules().items():
            ck.load_module_tensors(prefix, module, tensors, latest.name)
        for name, opt in trainer.optimizers().items():
            ck.load_optimizer_tensors(name, opt, tensors, meta["optimizers"][name])
        trainer.load_extra(tensors, latest.name)
        rng_key = "main" if info.rank == 0 else f"rank{info.rank}"
        ck.restore_rng({rng_key: rng}, tensors)
        data.restore(meta.get("data_ranks", [meta["data"]] * info.world)[info.rank] if info.enabled else meta["data"])
        nimg, tick, train_seconds = meta["nimg"], meta["tick"], meta.get("train_seconds", 0.0)
        if info.is_main:
            paths.truncate_metrics(nimg)
            console.print(f"resuming {paths.root} at {nimg / 1000:g} kimg from {latest.name}")
    elif options.init:
        _load_init(trainer, options.init, options.arch, cfg)
    run_info = {
        "format": "belamy-run", "version": 1, "belamy": __version__, "arch": options.arch,
        "model": cfg.to_dict(), "options": options.to_json(), "corpus": {"path": str(options.corpus), "count": len(corpus)},
        "label_names": label_names, "world_size": info.world,
    }
    if info.is_main:
        write_json(paths.run_json, run_info)

    z_dim = getattr(cfg, "z_dim", getattr(cfg, "nz", None))
    grid_z = latents_for_seeds(range(options.grid_size), z_dim).to(device)
    grid_labels = (torch.arange(options.grid_size, device=device) % len(label_names)) if label_names else None

    def snapshot_grid() -> None:
        if not info.is_main:
            return
        pictures = to_uint8(trainer.sample(grid_z, grid_labels))
        save_png(make_grid(pictures), paths.grid(nimg), {"run": str(paths.root), "kimg": nimg / 1000, "seeds": f"0-{options.grid_size - 1}"})

    def checkpoint_tensors() -> tuple[dict, dict]:
        tensors = {}
        for prefix, module in trainer.modules().items():
            tensors.update(ck.module_tensors(prefix, module))
        tensors.update(ck.rng_tensors({"main": rng}))
        tensors.update(trainer.extra_tensors())
        optim_meta = {}
        for name, opt in trainer.optimizers().items():
            t, m = ck.optimizer_tensors(name, opt)
            tensors.update(t)
            optim_meta[name] = m
        meta = {
            "arch": options.arch, "model": cfg.to_dict(), "tick": tick, "kimg": nimg / 1000, "data": data.state(),
            "optimizers": optim_meta, "train_seconds": train_seconds, "options": options.to_json(), "belamy": __version__,
        }
        if label_names:
            meta["label_names"] = label_names
        if getattr(trainer, "augment_p", None) is not None:
            meta["augment_p"] = trainer.augment_p
        return tensors, meta

    def save() -> Path | None:
        tensors, meta = checkpoint_tensors()
        if info.enabled:
            # Every rank's random stream and data position, so a resumed multi-process run goes on exactly.
            states = [None] * info.world
            import torch.distributed as torch_dist

            torch_dist.all_gather_object(states, (bytes(rng.get_state().cpu().numpy()), data.state()))
            for r, (state, _) in enumerate(states[1:], start=1):
                tensors[f"rng.rank{r}"] = torch.frombuffer(bytearray(state), dtype=torch.uint8)
            meta["data_ranks"] = [d for _, d in states]
            meta["world_size"] = info.world
        if not info.is_main:
            return None
        return ck.save_checkpoint(paths.checkpoints, nimg, tensors, meta, keep=options.keep)

    metric_reals = None
    best_swd = _read_best_score(paths) if options.resume else None

    def measure() -> dict:
        """SWD of G_ema (G for a DCGAN) against a fixed sample of the corpus; keeps the best checkpoint."""
        nonlocal metric_reals, best_swd
        from belamy.metrics.swd import images_to_uint8_nchw, swd

        n = min(options.metric_n, len(images))
        if metric_reals is None:
            pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(12345))[:n].sort().values.numpy()
            metric_reals = images[pick]
        fakes = []
        seeds = list(range(1_000_000, 1_000_000 + n))
        for start in range(0, n, 64):
            z = latents_for_seeds(seeds[start : start + 64], z_dim).to(device)
            labels = (torch.arange(start, start + len(z), device=device) % len(label_names)) if label_names else None
            fakes.append(images_to_uint8_nchw(trainer.sample(z, labels)))
        result = swd(metric_reals, torch.cat(fakes))
        if best_swd is None or result["swd"] < best_swd:
            best_swd = result["swd"]
            tensors, meta = checkpoint_tensors()
            keep = {k: v for k, v in tensors.items() if k.split(".", 1)[0] in ("G", "D", "G_ema")}
            _save_best(paths, keep, {**{k: meta[k] for k in ("arch", "model", "tick", "kimg", "options", "belamy")},
                                     "nimg": nimg, "swd": result["swd"], "label_names": label_names})
        return {k: round(v, 4) for k, v in result.items()}

    total_nimg = round(options.kimg * 1000)
    tick_nimg = max(1, round(options.tick_kimg * 1000))
    metric_nimg = round(options.metric_kimg * 1000)
    next_tick = (nimg // tick_nimg + 1) * tick_nimg
    next_metric = (nimg // metric_nimg + 1) * metric_nimg if metric_nimg else None
    stats = StatsCollector()
    reduce = dd.all_reduce_mean(info)
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
    if info.is_main:
        shape = f"{cfg.res}²" if height == width else f"{height}×{width}"
        ranks = f" × {info.world} processes" if info.enabled else ""
        console.print(f"training {options.arch} {shape} on {len(corpus)} images, {device}{ranks}, to {options.kimg:g} kimg -> {paths.root}")
    with stop.installed(), progress:
        task = progress.add_task("train", total=total_nimg, completed=nimg, loss_G="   -  ", loss_D="   -  ")
        tick_start_nimg, tick_start_time = nimg, time.perf_counter()
        while nimg < total_nimg:
            real = data.next(rng)
            step = nimg // options.batch
            trainer.step(real, data.last_labels, rng, stats, step, nimg + options.batch)
            nimg += options.batch
            progress.update(task, completed=min(nimg, total_nimg))
            stopping = stop.requested
            if info.enabled:  # every rank stops at the same step, or the collectives would hang
                flag = torch.tensor([1.0 if stopping else 0.0], device=device)
                stopping = bool(dd.all_reduce_sum(info)(flag).item() > 0)

            if nimg >= next_tick or nimg >= total_nimg or stopping:
                tick_seconds = time.perf_counter() - tick_start_time
                train_seconds += tick_seconds
                tick += 1
                means = stats.means(reduce=reduce)
                stats.reset()
                shown = nimg - tick_start_nimg
                record = tick_record(tick, nimg, train_seconds, shown, tick_seconds, means)
                done = nimg >= total_nimg
                if next_metric is not None and (nimg >= next_metric or done) and info.is_main:
                    record.update(measure())
                    next_metric = (nimg // metric_nimg + 1) * metric_nimg
                if info.is_main:
                    append_jsonl(paths.metrics, record)
                    progress.update(task, loss_G=f"{means.get('loss_G', 0):6.3f}", loss_D=f"{means.get('loss_D', 0):6.3f}")
                    swd_text = f"  SWD {record['swd']:.2f}" if "swd" in record else ""
                    console.print(
                        f"tick {tick:<4d} kimg {nimg / 1000:8.1f}  {record['img_per_s']:7.1f} img/s  "
                        f"loss_G {means.get('loss_G', 0):6.3f}  loss_D {means.get('loss_D', 0):6.3f}  "
                        f"D(x) {means.get('D_real', 0):.2f}  D(G(z)) {means.get('D_fake', 0):.2f}"
                        f"{trainer.log_fields(means)}{swd_text}"
                    )
                trainer.sync()
                if tick % options.snapshot_ticks == 0 or done or stopping:
                    snapshot_grid()
                    if info.is_main:
                        plot_curves(paths.metrics, paths.root / "curves.png")
                    last_ckpt = save() or last_ckpt
                next_tick = (nimg // tick_nimg + 1) * tick_nimg
                tick_start_nimg, tick_start_time = nimg, time.perf_counter()
                if stopping:
                    console.print(
                        f"stopped at {nimg / 1000:g} kimg; checkpoint saved. Resume with: "
                        f"belamy train {options.corpus} --out {paths.root} --resume"
                    )
                    return TrainResult(paths.root, nimg, True, last_ckpt)
    _debug_checksum(info, trainer)
    if info.is_main:
        console.print(f"done: {nimg / 1000:g} kimg; samples in {paths.samples}, checkpoints in {paths.checkpoints}")
    return TrainResult(paths.root, nimg, False, last_ckpt)


def _debug_checksum(info: dd.DistInfo, trainer) -> None:
    """BELAMY_RANK_CHECKSUMS=DIR: each rank writes a checksum of its weights (tests check ranks agree)."""
    import os

    folder = os.environ.get("BELAMY_RANK_CHECKSUMS")
    if not folder:
        return
    import hashlib

    digest = hashlib.sha256()
    for prefix, module in trainer.modules().items():
        for name, value in sorted(module.state_dict().items()):
            digest.update(f"{prefix}.{name}".encode())
            digest.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"rank{info.rank}.sha256").write_text(digest.hexdigest())
