"""Distillation as a task of the run loop: random (z, label) in, teacher images as targets.

Every tick the metrics line carries the L1 to the teacher on held-out seeds; every snapshot a
comparison image (teacher row over student row, fixed seeds) and a checkpoint. A checkpoint holds
the student (and its average), the optimizer moments and the random state, so a stopped
distillation resumes exactly as if it had never stopped. The student is an ordinary DCGAN run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from belamy.distill.loss import DistillLoss
from belamy.distill.options import DistillOptions
from belamy.distill.student import make_student, student_config
from belamy.distill.teacher import Teacher, downsample, load_teacher
from belamy.errors import BelamyError
from belamy.models.latents import latents_for_seeds
from belamy.provenance.embed import save_png
from belamy.trainer.ema import ema_beta, make_ema, update_ema
from belamy.trainer.loop import run_task
from belamy.trainer.options import resolve_run_options
from belamy.trainer.paths import RunPaths, prepare_writable
from belamy.trainer.stats import StatsCollector
from belamy.trainer.stop import StopRequest
from belamy.trainer.task import Task
from belamy.utils import untrusted
from belamy.utils.device import resolve_device
from belamy.utils.grid import make_grid, to_uint8

HELDOUT_SEEDS = list(range(1_000_000, 1_000_016))  # never drawn in training (training z come from the RNG)
EMA_RAMP = 0.05  # the average's half-life is at most this fraction of the images seen so far


@dataclass
class DistillResult:
    run_dir: Path
    nimg: int
    interrupted: bool
    last_checkpoint: Path | None
    heldout_l1: float | None  # mean |student − teacher| (in [-1, 1] units) on held-out seeds, at the end


def distill(options: DistillOptions, stop: StopRequest | None = None) -> DistillResult:
    """Distil the run ``options.teacher`` into a light DCGAN in ``options.out``; see the module doc."""
    _check_out_is_not_teacher(options)
    options = resolve_run_options(options)
    options.validate()
    task = DistillTask(options)
    result = run_task(task, stop)
    return DistillResult(result.run_dir, result.nimg, result.interrupted, result.last_checkpoint, task.heldout_l1())


def _check_out_is_not_teacher(options: DistillOptions) -> None:
    teacher, out = Path(options.teacher).resolve(), Path(options.out).resolve()
    if out == teacher or (teacher.is_dir() and out == teacher / "checkpoints") or teacher.is_relative_to(out):
        raise BelamyError(f"--out {options.out} would write into the teacher's run", "choose a new folder for the student")


class DistillTask(Task):
    command = "belamy distill"

    def __init__(self, options: DistillOptions):
        self.options = options
        self.paths = RunPaths(Path(options.out))
        self.device = device = resolve_device(options.device)
        teacher = self.teacher = load_teacher(options.teacher, options.checkpoint, options.truncation, str(device))
        if options.resume:
            stored = self.paths.read_run_json().get("distilled_from") or {}
            if stored.get("sha256") != teacher.gen.checkpoint_sha256:
                raise BelamyError(f"the teacher checkpoint {options.checkpoint} in {options.teacher} is not the one this "
                                  "student learned from (its SHA-256 differs)",
                                  "give the original teacher run, or distil into a new folder")
        # Pin the teacher's checkpoint by file name: a resume must learn from the same weights even if the
        # teacher has trained on since ("latest" would have moved).
        options.checkpoint = teacher.gen.checkpoint_path.name
        self.cfg = cfg = student_config(teacher, options.res, options.ngf)
        options.res = cfg.res
        prepare_writable(self.paths.root)

        torch.manual_seed(options.seed)
        self.G = make_student(cfg).to(device).train()
        self.G_ema = make_ema(self.G) if options.ema_kimg > 0 else None
        self.opt = torch.optim.Adam(self.G.parameters(), lr=options.lr, betas=(options.beta1, options.beta2))
        self.rng = torch.Generator().manual_seed(options.seed)
        self.loss_fn = DistillLoss(options.pixel_weight, options.scale_weight, options.feature_weight, teacher.D,
                                   teacher.shape)
        self.origin = teacher.identity()
        sample_seeds = list(range(options.sample_count))
        self.sample_z, self.sample_labels = _fixed_inputs(sample_seeds, teacher, device)
        self.sample_teacher = to_uint8(teacher.images(self.sample_z, self.sample_labels, cfg.res))
        self.heldout_z, self.heldout_labels = _fixed_inputs(HELDOUT_SEEDS, teacher, device)
        self.heldout_teacher = teacher.images(self.heldout_z, self.heldout_labels, cfg.res)

    # ------------------------------------------------------------------ what the run is

    def describe(self) -> str:
        t, cfg = self.teacher, self.cfg
        text = (f"distilling {t.gen.arch} {t.res}² ({t.gen.checkpoint_path.name}, ψ {t.truncation:g}) into dcgan "
                f"{cfg.res}² ngf {cfg.ngf}{f', {cfg.num_classes} classes' if cfg.num_classes else ''}, {self.device}; "
                f"held-out L1 now {self.heldout_l1():.4f}")
        if t.D is None and self.options.feature_weight > 0:
            text += "\nthe teacher checkpoint holds no discriminator: pixel losses only"
        return text

    def run_info(self) -> dict:
        return {"arch": "dcgan", "model": self.cfg.to_dict(), "corpus": _teacher_corpus(self.teacher),
                "label_names": list(self.cfg.label_names), "distilled_from": self.origin}

    def checkpoint_meta(self) -> dict:
        meta = {"arch": "dcgan", "model": self.cfg.to_dict(), "distilled_from": self.origin}
        if self.cfg.label_names:
            meta["label_names"] = list(self.cfg.label_names)
        return meta

    def resume_command(self) -> str:
        return f"belamy distill {self.options.teacher} --out {self.paths.root} --resume"

    # ------------------------------------------------------------------ state

    def modules(self) -> dict:
        return {"G": self.G, **({"G_ema": self.G_ema} if self.G_ema is not None else {})}

    def optimizers(self) -> dict:
        return {"opt": self.opt}

    # ------------------------------------------------------------------ work

    def step(self, stats: StatsCollector, nimg: int) -> int:
        options, teacher, rng = self.options, self.teacher, self.rng
        z = torch.randn(options.batch, teacher.z_dim, generator=rng).to(self.device)
        labels = (torch.randint(teacher.num_classes, (options.batch,), generator=rng).to(self.device)
                  if teacher.num_classes else None)
        target_full = teacher.images(z, labels, teacher.res)
        target = downsample(target_full, self.cfg.shape) if self.cfg.res != teacher.res else target_full
        loss, parts = self.loss_fn(self.G(z, labels), target, target_full)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.G_ema is not None:
            update_ema(self.G_ema, self.G, ema_beta(options.batch, nimg + options.batch, options.ema_kimg, EMA_RAMP))
        stats.add("loss", loss)
        for name, value in parts.items():
            stats.add(name, value)
        return options.batch

    @torch.no_grad()
    def student_images(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        model = self.G_ema if self.G_ema is not None else self.G
        was_training = model.training
        model.eval()
        try:
            return model(z, labels).float()
        finally:
            model.train(was_training)

    def heldout_l1(self) -> float:
        return float((self.student_images(self.heldout_z, self.heldout_labels) - self.heldout_teacher).abs().mean())

    def snapshot(self, nimg: int) -> dict:
        pictures = np.concatenate([self.sample_teacher, to_uint8(self.student_images(self.sample_z, self.sample_labels))])
        save_png(make_grid(pictures, cols=self.options.sample_count), self.paths.grid(nimg),
                 {"run": str(self.paths.root), "kimg": nimg / 1000, "seeds": f"0-{self.options.sample_count - 1}",
                  "rows": "teacher | student", "distilled_from": self.origin})
        return {}

    def evaluate(self, nimg: int, done: bool, means: dict) -> dict:
        # loss_G too: curves.png plots it
        return {"loss_G": round(means["loss"], 5), "heldout_l1": round(self.heldout_l1(), 5)}

    def log_fields(self, means: dict, record: dict) -> str:
        return (f"loss {means['loss']:.4f}  L1 {means['l1']:.4f}"
                + (f"  feature {means['feature']:.4f}" if "feature" in means else "")
                + f"  held-out L1 {record['heldout_l1']:.4f}")

    def progress_text(self, means: dict) -> str:
        return f"L1 {means.get('l1', 0):.4f}"

    def finished(self, nimg: int) -> str:
        return (f"done: {nimg / 1000:g} kimg, held-out L1 {self.heldout_l1():.4f}; comparisons in {self.paths.samples}, "
                f"checkpoints in {self.paths.checkpoints}")


def _fixed_inputs(seeds: list[int], teacher: Teacher, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z for each seed (as `belamy generate` draws it) and, for a conditional teacher, class = seed mod classes."""
    z = latents_for_seeds(seeds, teacher.z_dim).to(device)
    labels = torch.tensor([s % teacher.num_classes for s in seeds], device=device) if teacher.num_classes else None
    return z, labels


def _teacher_corpus(teacher: Teacher) -> dict | None:
    """The corpus the teacher learned from: the student's pictures come from the same paintings."""
    if teacher.gen.meta.get("corpus"):
        return teacher.gen.meta["corpus"]
    try:
        return untrusted.read_json(teacher.gen.run_dir / "run.json", "run.json", finite=False).get("corpus")
    except (OSError, ValueError, AttributeError):
        return None
