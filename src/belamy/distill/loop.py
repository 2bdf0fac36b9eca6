"""The distillation loop: random (z, label) in, teacher images as targets, an ordinary run folder out.

Every ``tick_kimg`` a metrics line (losses, and the L1 to the teacher on held-out seeds); every
``snapshot_ticks`` ticks a comparison image (teacher row over student row, fixed seeds) and a
checkpoint. A checkpoint holds the student (and its average), the optimizer moments and the random
state, so a stopped distillation resumes exactly as if it had never stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import TextColumn

from belamy import __version__
from belamy.distill.loss import DistillLoss
from belamy.distill.options import FIXED_ON_RESUME, DistillOptions
from belamy.distill.student import make_student, student_config
from belamy.distill.teacher import Teacher, downsample, load_teacher
from belamy.errors import BelamyError
from belamy.models.latents import latents_for_seeds
from belamy.runs import checkpoint as ck
from belamy.runs.ema import ema_beta, make_ema, update_ema
from belamy.runs.paths import RunPaths, prepare_writable
from belamy.runs.stats import StatsCollector, tick_record
from belamy.utils.atomic import append_jsonl, write_json
from belamy.utils.device import resolve_device
from belamy.utils.grid import make_grid, to_uint8
from belamy.utils.imageio import save_png
from belamy.utils.progress import ScaledCountColumn, console, make_progress

RUN_FORMAT = "belamy-run"
HELDOUT_SEEDS = list(range(1_000_000, 1_000_016))  # never drawn in training (training z come from the RNG)
EMA_RAMP = 0.05  # the average's half-life is at most this fraction of the images seen so far


@dataclass
class DistillResult:
    run_dir: Path
    nimg: int
    interrupted: bool
    last_checkpoint: Path | None
    heldout_l1: float | None  # mean |student − teacher| (in [-1, 1] units) on held-out seeds, at the end


def _resolve(options: DistillOptions) -> tuple[DistillOptions, dict | None]:
    """For a new run, refuse a folder that holds one; for a resume, take the stored settings."""
    paths = RunPaths(Path(options.out))
    if not options.resume:
        if paths.has_checkpoints():
            raise BelamyError(f"{paths.root} already holds a run", "pass --resume to continue it, or choose another --out")
        return options, None
    if not paths.root.exists():
        raise BelamyError(f"nothing to resume: {paths.root} does not exist", "drop --resume to start a new distillation")
    run = paths.read_run_json()
    if "distilled_from" not in run or "options" not in run:
        raise BelamyError(f"{paths.root} is not a distilled run", "give a folder made by `belamy distill`, or drop --resume")
    stored = DistillOptions.from_json(run["options"])
    if options.res is not None and options.res != stored.res:
        raise BelamyError(f"the run in {paths.root} was distilled at --res {stored.res}, not {options.res}",
                          "drop --res to resume it, or distil into another folder")
    teacher_path = options.teacher  # where the teacher lies now (it may have moved since)
    for name in FIXED_ON_RESUME:
        setattr(options, name, getattr(stored, name))
    options.teacher = teacher_path
    return options, run["distilled_from"]


def _check_out_is_not_teacher(options: DistillOptions) -> None:
    teacher, out = Path(options.teacher).resolve(), Path(options.out).resolve()
    if out == teacher or (teacher.is_dir() and out == teacher / "checkpoints") or teacher.is_relative_to(out):
        raise BelamyError(f"--out {options.out} would write into the teacher's run", "choose a new folder for the student")


def distill(options: DistillOptions, stop=None) -> DistillResult:
    """Distil the run ``options.teacher`` into a light DCGAN in ``options.out``; see the module doc."""
    from belamy.runs.stop import StopRequest

    options.validate()
    _check_out_is_not_teacher(options)
    options, stored_teacher = _resolve(options)
    paths = RunPaths(Path(options.out))
    device = resolve_device(options.device)
    teacher = load_teacher(options.teacher, options.checkpoint, options.truncation, str(device))
    if stored_teacher is not None and stored_teacher.get("sha256") != teacher.gen.checkpoint_sha256:
        raise BelamyError(f"the teacher checkpoint {options.checkpoint} in {options.teacher} is not the one this student "
                          "learned from (its SHA-256 differs)", "give the original teacher run, or distil into a new folder")
    # Pin the teacher's checkpoint by file name: a resume must learn from the same weights even if the
    # teacher has trained on since ("latest" would have moved).
    options.checkpoint = teacher.gen.checkpoint_path.name
    cfg = student_config(teacher, options.res, options.ngf)
    options.res = cfg.res
    prepare_writable(paths.root)

    torch.manual_seed(options.seed)
    G = make_student(cfg).to(device).train()
    G_ema = make_ema(G) if options.ema_kimg > 0 else None
    opt = torch.optim.Adam(G.parameters(), lr=options.lr, betas=(options.beta1, options.beta2))
    rng = torch.Generator().manual_seed(options.seed)
    loss_fn = DistillLoss(options.pixel_weight, options.scale_weight, options.feature_weight, teacher.D, teacher.shape)
    modules = {"G": G, **({"G_ema": G_ema} if G_ema is not None else {})}

    nimg, tick, train_seconds = 0, 0, 0.0
    if options.resume:
        latest, tensors, meta = ck.load_for_resume(paths.root, paths.checkpoints, "distillation")
        for prefix, module in modules.items():
            ck.load_module_tensors(prefix, module, tensors, latest.name)
        ck.load_optimizer_tensors("opt", opt, tensors, meta["optimizers"]["opt"])
        ck.restore_rng({"main": rng}, tensors)
        nimg, tick, train_seconds = meta["nimg"], meta["tick"], meta.get("train_seconds", 0.0)
        paths.truncate_metrics(nimg)
        console.print(f"resuming {paths.root} at {nimg / 1000:g} kimg from {latest.name}")

    origin = teacher.identity()
    write_json(paths.run_json, {
        "format": RUN_FORMAT, "version": 1, "belamy": __version__, "arch": "dcgan", "model": cfg.to_dict(),
        "options": options.to_json(), "corpus": _teacher_corpus(teacher), "label_names": list(cfg.label_names),
        "distilled_from": origin,
    })

    sample_seeds = list(range(options.sample_count))
    sample_z, sample_labels = _fixed_inputs(sample_seeds, teacher, device)
    sample_teacher = to_uint8(teacher.images(sample_z, sample_labels, cfg.res))
    heldout_z, heldout_labels = _fixed_inputs(HELDOUT_SEEDS, teacher, device)
    heldout_teacher = teacher.images(heldout_z, heldout_labels, cfg.res)

    @torch.no_grad()
    def student_images(z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        model = G_ema if G_ema is not None else G
        was_training = model.training
        model.eval()
        try:
            return model(z, labels).float()
        finally:
            model.train(was_training)

    def heldout_l1() -> float:
        return float((student_images(heldout_z, heldout_labels) - heldout_teacher).abs().mean())

    def snapshot() -> None:
        pictures = np.concatenate([sample_teacher, to_uint8(student_images(sample_z, sample_labels))])
        save_png(make_grid(pictures, cols=len(sample_seeds)), paths.grid(nimg),
                 {"run": str(paths.root), "kimg": nimg / 1000, "seeds": f"0-{len(sample_seeds) - 1}",
                  "rows": "teacher | student", "distilled_from": origin})

    def save() -> Path:
        tensors: dict[str, torch.Tensor] = {}
        for prefix, module in modules.items():
            tensors.update(ck.module_tensors(prefix, module))
        tensors.update(ck.rng_tensors({"main": rng}))
        opt_tensors, opt_meta = ck.optimizer_tensors("opt", opt)
        tensors.update(opt_tensors)
        meta = {
            "arch": "dcgan", "model": cfg.to_dict(), "tick": tick, "kimg": nimg / 1000, "optimizers": {"opt": opt_meta},
            "train_seconds": train_seconds, "options": options.to_json(), "belamy": __version__,
            "distilled_from": origin,
        }
        if cfg.label_names:
            meta["label_names"] = list(cfg.label_names)
        return ck.save_checkpoint(paths.checkpoints, nimg, tensors, meta, keep=options.keep)

    total = round(options.kimg * 1000)
    tick_nimg = max(1, round(options.tick_kimg * 1000))
    next_tick = (nimg // tick_nimg + 1) * tick_nimg
    last_ckpt = ck.latest_checkpoint(paths.checkpoints)
    if nimg == 0:
        snapshot()
    if nimg >= total:
        console.print(f"{paths.root} has already reached {nimg / 1000:g} kimg: nothing to do (raise --kimg to go on)")
        return DistillResult(paths.root, nimg, False, last_ckpt, heldout_l1())

    console.print(
        f"distilling {teacher.gen.arch} {teacher.res}² ({teacher.gen.checkpoint_path.name}, ψ {teacher.truncation:g}) "
        f"into dcgan {cfg.res}² ngf {cfg.ngf}{f', {cfg.num_classes} classes' if cfg.num_classes else ''}, {device}, "
        f"to {options.kimg:g} kimg -> {paths.root}; held-out L1 now {heldout_l1():.4f}")
    if teacher.D is None and options.feature_weight > 0:
        console.print("the teacher checkpoint holds no discriminator: pixel losses only")
    stats = StatsCollector()
    stop = stop or StopRequest()
    progress = make_progress("img", TextColumn("[magenta]L1 {task.fields[l1]}"), count_column=ScaledCountColumn(1000, "kimg"))
    with stop.installed(), progress:
        task = progress.add_task("distill", total=total, completed=nimg, l1="   -  ")
        tick_start_nimg, tick_start_time = nimg, time.perf_counter()
        while nimg < total:
            z = torch.randn(options.batch, teacher.z_dim, generator=rng).to(device)
            labels = (torch.randint(teacher.num_classes, (options.batch,), generator=rng).to(device)
                      if teacher.num_classes else None)
            target_full = teacher.images(z, labels, teacher.res)
            target = downsample(target_full, cfg.shape) if cfg.res != teacher.res else target_full
            loss, parts = loss_fn(G(z, labels), target, target_full)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            nimg += options.batch
            if G_ema is not None:
                update_ema(G_ema, G, ema_beta(options.batch, nimg, options.ema_kimg, EMA_RAMP))
            stats.add("loss", loss)
            for name, value in parts.items():
                stats.add(name, value)
            progress.update(task, completed=min(nimg, total))
            stopping = stop.requested

            if nimg >= next_tick or nimg >= total or stopping:
                tick_seconds = time.perf_counter() - tick_start_time
                train_seconds += tick_seconds
                tick += 1
                means = stats.means()
                stats.reset()
                shown = nimg - tick_start_nimg
                # loss_G too: curves.png plots it
                record = {**tick_record(tick, nimg, train_seconds, shown, tick_seconds, means),
                          "loss_G": round(means["loss"], 5), "heldout_l1": round(heldout_l1(), 5)}
                append_jsonl(paths.metrics, record)
                progress.update(task, l1=f"{record['heldout_l1']:.4f}")
                console.print(
                    f"tick {tick:<4d} kimg {nimg / 1000:8.1f}  {record['img_per_s']:7.1f} img/s  loss {means['loss']:.4f}  "
                    f"L1 {means['l1']:.4f}" + (f"  feature {means['feature']:.4f}" if "feature" in means else "")
                    + f"  held-out L1 {record['heldout_l1']:.4f}")
                if tick % options.snapshot_ticks == 0 or nimg >= total or stopping:
                    snapshot()
                    last_ckpt = save()
                next_tick = (nimg // tick_nimg + 1) * tick_nimg
                tick_start_nimg, tick_start_time = nimg, time.perf_counter()
                if stopping:
                    console.print(f"stopped at {nimg / 1000:g} kimg; checkpoint saved. Resume with: "
                                  f"belamy distill {options.teacher} --out {paths.root} --resume")
                    return DistillResult(paths.root, nimg, True, last_ckpt, record["heldout_l1"])
    final = heldout_l1()
    console.print(f"done: {nimg / 1000:g} kimg, held-out L1 {final:.4f}; comparisons in {paths.samples}, "
                  f"checkpoints in {paths.checkpoints}")
    return DistillResult(paths.root, nimg, False, last_ckpt, final)


def _fixed_inputs(seeds: list[int], teacher: Teacher, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z for each seed (as `belamy generate` draws it) and, for a conditional teacher, class = seed mod classes."""
    z = latents_for_seeds(seeds, teacher.z_dim).to(device)
    labels = torch.tensor([s % teacher.num_classes for s in seeds], device=device) if teacher.num_classes else None
    return z, labels


def _teacher_corpus(teacher: Teacher) -> dict | None:
    """The corpus the teacher learned from: the student's pictures come from the same paintings."""
    import json

    if teacher.gen.meta.get("corpus"):
        return teacher.gen.meta["corpus"]
    try:
        return json.loads((teacher.gen.run_dir / "run.json").read_text(encoding="utf-8")).get("corpus")
    except (OSError, ValueError, AttributeError):
        return None
