"""`belamy sr train`: teach the built-in RRDB network to enlarge paintings, from the paintings themselves.

Pairs are made on the fly: a random crop of a corpus image is the high-resolution target, and a
Real-ESRGAN-style degraded copy of it (:mod:`belamy.upscale.degrade`) the input. The generator
first learns with an L1 loss alone (``warmup_kimg``, the "PSNR-oriented" start of ESRGAN), then
with a relativistic-average adversarial loss and discriminator feature matching added; neither
needs downloaded weights. The run folder follows `belamy train`: run.json, metrics.jsonl,
samples/compare-<nimg>.png (input | Lanczos | SR | original), checkpoints/ckpt-<nimg>.*; a checkpoint
holds weights, optimizer moments, RNG states and data position, so ``--resume`` goes on exactly.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from rich.progress import TextColumn

from belamy import __version__
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.runs import checkpoint as ck
from belamy.runs.data import RealBatches
from belamy.runs.paths import RunPaths, prepare_writable
from belamy.runs.stats import StatsCollector, tick_record
from belamy.runs.stop import StopRequest
from belamy.upscale.degrade import degrade
from belamy.upscale.rrdb import PatchDiscriminator, RRDBNet, SRConfig
from belamy.upscale.upscaler import SR_FORMAT
from belamy.utils.atomic import append_jsonl, write_json
from belamy.utils.device import resolve_device
from belamy.utils.imageio import save_png
from belamy.utils.progress import console, make_progress

FIXED_ON_RESUME = ("scale", "nf", "nb", "gc", "ndf", "patch", "batch", "lr", "seed", "l1_weight", "adv_weight",
                   "fm_weight", "warmup_kimg")
SAMPLE_COUNT = 4


@dataclass
class SRTrainOptions:
    corpus: Path
    out: Path
    scale: int = 4
    nf: int = 32
    nb: int = 6
    gc: int = 16
    ndf: int = 32
    patch: int = 96  # high-resolution crop side; the network sees patch/scale
    batch: int = 8
    kimg: float = 20.0
    warmup_kimg: float = 2.0  # L1 only, before the adversarial losses join
    lr: float = 2e-4
    l1_weight: float = 1.0
    adv_weight: float = 0.005
    fm_weight: float = 0.05
    tick_kimg: float = 0.5
    snapshot_ticks: int = 4
    keep: int = 3
    seed: int = 0
    resume: bool = False
    device: str = "auto"

    def to_json(self) -> dict:
        data = asdict(self)
        data["corpus"], data["out"] = str(self.corpus), str(self.out)
        return data

    @classmethod
    def from_json(cls, data: dict) -> SRTrainOptions:
        known = {f.name for f in fields(cls)}
        opts = cls(**{k: v for k, v in data.items() if k in known})
        opts.corpus, opts.out = Path(opts.corpus), Path(opts.out)
        return opts

    def model_config(self) -> SRConfig:
        return SRConfig(scale=self.scale, nf=self.nf, nb=self.nb, gc=self.gc, ndf=self.ndf)

    def validate(self) -> None:
        self.model_config().validate()
        if self.patch < 32 or self.patch % 16:
            raise BelamyError(f"--patch {self.patch} is not valid", "use a multiple of 16 from 32 up, e.g. 96")
        checks = (
            ("batch", 1 <= self.batch <= 1024, "use 1 to 1024"),
            ("kimg", math.isfinite(self.kimg) and self.kimg > 0, "give a positive number, e.g. --kimg 20"),
            ("warmup-kimg", math.isfinite(self.warmup_kimg) and self.warmup_kimg >= 0, "use 0 or more"),
            ("lr", 0 < self.lr < 1, "use e.g. 2e-4"),
            ("tick-kimg", math.isfinite(self.tick_kimg) and self.tick_kimg > 0, "use a positive number, e.g. 0.5"),
            ("snapshot-ticks", self.snapshot_ticks >= 1, "use 1 or more"),
            ("keep", self.keep >= 1, "keep at least 1 checkpoint"),
            ("l1-weight", self.l1_weight >= 0 and self.adv_weight >= 0 and self.fm_weight >= 0, "loss weights are >= 0"),
        )
        for flag, ok, hint in checks:
            if not ok:
                raise BelamyError(f"--{flag} {getattr(self, flag.replace('-', '_'), '')} is not valid", hint)


@dataclass
class SRTrainResult:
    run_dir: Path
    nimg: int
    interrupted: bool
    last_checkpoint: Path | None


class PairBatches:
    """(LR, HR) float batches in [0, 1], NCHW: random crops of corpus images and their degraded copies."""

    def __init__(self, images: np.ndarray, opts: SRTrainOptions, device: torch.device):
        self.real = RealBatches(images, opts.batch, opts.seed, mirror=True, device=torch.device("cpu"), channels_last=False)
        self.patch, self.scale, self.device = opts.patch, opts.scale, device
        self.rng = np.random.default_rng(opts.seed + 7919)

    def state(self) -> dict:
        return {"real": self.real.state(), "rng": ck.numpy_rng_state(self.rng)}

    def restore(self, state: dict) -> None:
        self.real.restore(state["real"])
        ck.restore_numpy_rng(self.rng, state["rng"])

    def next(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        full = self.real.next(generator)  # [B, 3, H, W] in [-1, 1]
        height, width = full.shape[-2:]
        hr_list, lr_list = [], []
        for img in full:
            y, x = (int(v) for v in self.rng.integers(0, [height - self.patch + 1, width - self.patch + 1]))
            crop = ((img[:, y : y + self.patch, x : x + self.patch] + 1.0) * 127.5).round().clamp(0, 255)
            hr = crop.byte().permute(1, 2, 0).numpy()
            hr_list.append(hr)
            lr_list.append(degrade(hr, self.scale, self.rng))
        hr_t = torch.from_numpy(np.stack(hr_list)).permute(0, 3, 1, 2).float().div_(255.0)
        lr_t = torch.from_numpy(np.stack(lr_list)).permute(0, 3, 1, 2).float().div_(255.0)
        return lr_t.to(self.device), hr_t.to(self.device)


def fixed_samples(images: np.ndarray, opts: SRTrainOptions) -> tuple[np.ndarray, np.ndarray]:
    """The same few (LR, HR) pairs at every snapshot: centre crops, degraded with a fixed seed."""
    rng = np.random.default_rng(12345)
    count = min(SAMPLE_COUNT, len(images))
    height, width = images.shape[1:3]
    side = min(height, width, opts.patch * 2)
    side -= side % (opts.scale * 4)
    top, left = (height - side) // 2, (width - side) // 2
    hr = np.stack([np.asarray(images[i, top : top + side, left : left + side]) for i in range(count)])
    lr = np.stack([degrade(h, opts.scale, rng) for h in hr])
    return lr, hr


def compare_image(G: torch.nn.Module, lr: np.ndarray, hr: np.ndarray, device: torch.device) -> tuple[np.ndarray, float]:
    """Rows of input (nearest) | Lanczos | SR | original, and the SR PSNR against the originals."""
    was_training = G.training
    G.eval()
    with torch.no_grad():
        x = torch.from_numpy(lr).permute(0, 3, 1, 2).float().div(255.0).to(device)
        sr = G(x).clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    G.train(was_training)
    side = hr.shape[1]
    rows = []
    for i in range(len(hr)):
        small = Image.fromarray(lr[i])
        cells = [np.asarray(small.resize((side, side), Image.Resampling.NEAREST)),
                 np.asarray(small.resize((side, side), Image.Resampling.LANCZOS)), sr[i], hr[i]]
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in cells], axis=1))
    mse = float(np.mean((sr.astype(np.float64) - hr.astype(np.float64)) ** 2))
    psnr = 10 * math.log10(255.0**2 / max(mse, 1e-10))
    return np.concatenate(rows, axis=0), psnr


def _resolve(opts: SRTrainOptions) -> SRTrainOptions:
    paths = RunPaths(Path(opts.out))
    if not opts.resume:
        if paths.has_checkpoints():
            raise BelamyError(f"{paths.root} already holds an SR run", "pass --resume to continue it, or choose another --out")
        return opts
    if not paths.root.exists():
        raise BelamyError(f"nothing to resume: {paths.root} does not exist", "drop --resume to start a new run")
    run = paths.read_run_json()
    if run.get("format") != "belamy-sr-run":
        raise BelamyError(f"{paths.root} is not an SR run", "give a folder made by `belamy sr train`")
    stored = SRTrainOptions.from_json(run["options"])
    for name in FIXED_ON_RESUME:
        setattr(opts, name, getattr(stored, name))
    return opts


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, step: int, beta: float = 0.999) -> None:
    """ema <- beta·ema + (1 - beta)·model, with beta ramped up over the first steps so early runs are not
    dominated by the random initial weights."""
    b = min(beta, (1.0 + step) / (10.0 + step))
    for e, m in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(m, 1.0 - b)


def relativistic_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ESRGAN's relativistic-average GAN: is the real image more realistic than the average fake (and v.v.)?

    Returns (loss for D, loss for G). Pass ``d_real`` detached for the G loss.
    """
    real_rel = d_real - d_fake.mean()
    fake_rel = d_fake - d_real.mean()
    ones, zeros = torch.ones_like(real_rel), torch.zeros_like(fake_rel)
    loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_rel, ones) + F.binary_cross_entropy_with_logits(fake_rel, zeros))
    loss_g = 0.5 * (F.binary_cross_entropy_with_logits(real_rel, zeros) + F.binary_cross_entropy_with_logits(fake_rel, ones))
    return loss_d, loss_g


def train_sr(opts: SRTrainOptions, stop: StopRequest | None = None) -> SRTrainResult:
    opts.validate()
    opts = _resolve(opts)
    paths = RunPaths(Path(opts.out))
    corpus = open_corpus(opts.corpus)
    short = min(corpus.height, corpus.width)
    if short < opts.patch:
        raise BelamyError(f"the corpus is {corpus.width}×{corpus.height} but --patch is {opts.patch}",
                          f"use --patch {short // 16 * 16} or less")
    device = resolve_device(opts.device)
    prepare_writable(paths.root)
    cfg = opts.model_config()

    torch.manual_seed(opts.seed)
    G = RRDBNet(cfg).to(device)
    # An exponential moving average of G's weights is what gets used (as in Real-ESRGAN): it smooths
    # out the step-to-step wobble of adversarial training, which otherwise shows as speckle.
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    D = PatchDiscriminator(cfg.ndf).to(device)
    opt_G = torch.optim.Adam(G.parameters(), lr=opts.lr, betas=(0.9, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), lr=opts.lr, betas=(0.9, 0.99))
    rng = torch.Generator().manual_seed(opts.seed)
    data = PairBatches(corpus.images, opts, device)

    nimg, tick, train_seconds = 0, 0, 0.0
    if opts.resume:
        latest, tensors, meta = ck.load_for_resume(paths.root, paths.checkpoints)
        if meta.get("kind") != SR_FORMAT:
            raise BelamyError(f"{latest.name} is not an SR checkpoint", "give a folder made by `belamy sr train`")
        ck.load_module_tensors("G", G, tensors, latest.name)
        ck.load_module_tensors("G_ema", G_ema, tensors, latest.name)
        ck.load_module_tensors("D", D, tensors, latest.name)
        ck.load_optimizer_tensors("opt_G", opt_G, tensors, meta["optimizers"]["opt_G"])
        ck.load_optimizer_tensors("opt_D", opt_D, tensors, meta["optimizers"]["opt_D"])
        ck.restore_rng({"main": rng}, tensors)
        data.restore(meta["data"])
        nimg, tick, train_seconds = meta["nimg"], meta["tick"], meta.get("train_seconds", 0.0)
        paths.truncate_metrics(nimg)
        console.print(f"resuming {paths.root} at {nimg / 1000:g} kimg from {latest.name}")
    write_json(paths.run_json, {
        "format": "belamy-sr-run", "version": 1, "belamy": __version__, "kind": SR_FORMAT, "model": cfg.to_dict(),
        "options": opts.to_json(), "corpus": {"path": str(opts.corpus), "count": len(corpus), "size": corpus.size},
    })
    sample_lr, sample_hr = fixed_samples(corpus.images, opts)

    def snapshot() -> float:
        picture, psnr = compare_image(G_ema, sample_lr, sample_hr, device)
        save_png(picture, paths.samples / f"compare-{nimg:09d}.png",
                 {"run": str(paths.root), "kimg": nimg / 1000, "columns": "input | lanczos | sr | original", "psnr": psnr})
        return psnr

    def save(psnr: float) -> Path:
        tensors = {**ck.module_tensors("G", G), **ck.module_tensors("G_ema", G_ema), **ck.module_tensors("D", D),
                   **ck.rng_tensors({"main": rng})}
        optim_meta = {}
        for name, opt in (("opt_G", opt_G), ("opt_D", opt_D)):
            t, m = ck.optimizer_tensors(name, opt)
            tensors.update(t)
            optim_meta[name] = m
        meta = {"kind": SR_FORMAT, "arch": "rrdb", "model": cfg.to_dict(), "tick": tick, "kimg": nimg / 1000,
                "data": data.state(), "optimizers": optim_meta, "train_seconds": train_seconds,
                "options": opts.to_json(), "psnr": psnr, "belamy": __version__}
        return ck.save_checkpoint(paths.checkpoints, nimg, tensors, meta, keep=opts.keep)

    total = round(opts.kimg * 1000)
    warmup = round(opts.warmup_kimg * 1000)
    tick_nimg = max(1, round(opts.tick_kimg * 1000))
    next_tick = (nimg // tick_nimg + 1) * tick_nimg
    last_ckpt = ck.latest_checkpoint(paths.checkpoints)
    if nimg == 0:
        snapshot()
    if nimg >= total:
        console.print(f"{paths.root} has already reached {nimg / 1000:g} kimg: nothing to do (raise --kimg to go on)")
        return SRTrainResult(paths.root, nimg, False, last_ckpt)

    stats = StatsCollector()
    stop = stop or StopRequest()
    progress = make_progress("img", TextColumn("[magenta]L1 {task.fields[l1]} G {task.fields[g]} D {task.fields[d]}"))
    console.print(f"training SR ×{cfg.scale} (nf {cfg.nf}, {cfg.nb} blocks) on {len(corpus)} paintings, {device}, "
                  f"to {opts.kimg:g} kimg -> {paths.root}")
    with stop.installed(), progress:
        task = progress.add_task("kimg", total=total, completed=nimg, l1="  -  ", g="  -  ", d="  -  ")
        tick_start_nimg, tick_start_time = nimg, time.perf_counter()
        while nimg < total:
            lr_img, hr_img = data.next(rng)
            adversarial = nimg >= warmup
            # D phase: is each real patch more realistic than the average SR output?
            if adversarial:
                with torch.no_grad():
                    fake = G(lr_img)
                d_real, _ = D(hr_img)
                d_fake, _ = D(fake)
                loss_d, _ = relativistic_losses(d_real, d_fake)
                opt_D.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_D.step()
                stats.add("loss_D", loss_d)
            # G phase.
            sr = G(lr_img)
            l1 = F.l1_loss(sr, hr_img)
            loss_g = opts.l1_weight * l1
            if adversarial:
                D.requires_grad_(False)
                d_fake, feats_fake = D(sr)
                with torch.no_grad():
                    d_real, feats_real = D(hr_img)
                _, adv = relativistic_losses(d_real, d_fake)
                fm = sum(F.l1_loss(a, b) for a, b in zip(feats_fake, feats_real, strict=True)) / len(feats_fake)
                loss_g = loss_g + opts.adv_weight * adv + opts.fm_weight * fm
                D.requires_grad_(True)
                stats.add("adv", adv)
                stats.add("fm", fm)
            opt_G.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_G.step()
            update_ema(G_ema, G, step=nimg // opts.batch)
            stats.add("l1", l1)
            stats.add("loss_G", loss_g)
            nimg += opts.batch
            progress.update(task, completed=min(nimg, total))

            if nimg >= next_tick or nimg >= total or stop.requested:
                seconds = time.perf_counter() - tick_start_time
                train_seconds += seconds
                tick += 1
                means = stats.means()
                stats.reset()
                shown = nimg - tick_start_nimg
                done = nimg >= total
                snap = tick % opts.snapshot_ticks == 0 or done or stop.requested
                psnr = snapshot() if snap else None
                record = tick_record(tick, nimg, train_seconds, shown, seconds, means)
                if psnr is not None:
                    record["psnr"] = round(psnr, 3)
                append_jsonl(paths.metrics, record)
                progress.update(task, l1=f"{means.get('l1', 0):.4f}", g=f"{means.get('loss_G', 0):.4f}",
                                d=f"{means.get('loss_D', 0):.3f}" if "loss_D" in means else "  -  ")
                console.print(
                    f"tick {tick:<4d} kimg {nimg / 1000:8.2f}  {record['img_per_s']:7.1f} img/s  "
                    f"L1 {means.get('l1', 0):.4f}  loss_G {means.get('loss_G', 0):.4f}"
                    + (f"  loss_D {means['loss_D']:.3f}" if "loss_D" in means else "  (L1 warm-up)")
                    + (f"  PSNR {psnr:.2f} dB" if psnr is not None else "")
                )
                if snap:
                    last_ckpt = save(psnr)
                next_tick = (nimg // tick_nimg + 1) * tick_nimg
                tick_start_nimg, tick_start_time = nimg, time.perf_counter()
                if stop.requested:
                    console.print(f"stopped at {nimg / 1000:g} kimg; checkpoint saved. Resume with: "
                                  f"belamy sr train {opts.corpus} --out {paths.root} --resume")
                    return SRTrainResult(paths.root, nimg, True, last_ckpt)
    console.print(f"done: {nimg / 1000:g} kimg; comparisons in {paths.samples}, checkpoints in {paths.checkpoints}")
    return SRTrainResult(paths.root, nimg, False, last_ckpt)
