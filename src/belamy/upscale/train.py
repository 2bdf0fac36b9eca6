"""`belamy sr train`: teach the built-in RRDB network to enlarge paintings, from the paintings themselves.

Pairs are made on the fly: a random crop of a corpus image is the high-resolution target, and a
shrunk copy of it the input: ``degradation`` says how: ``realistic`` (the Real-ESRGAN-style blur,
noise and JPEG of :mod:`belamy.upscale.degrade`), ``bicubic`` (a clean bicubic resize, the textbook
benchmark and what a clean GAN sample looks like) or ``mixed`` (three pairs in four clean, the rest
realistic: one network for clean and degraded pictures). The generator first learns with an L1 loss
alone (``warmup_kimg``, the "PSNR-oriented" start of ESRGAN), then with a relativistic-average
adversarial loss and discriminator feature matching added; neither needs downloaded weights.
``l2_weight`` adds the mean squared error, which is what PSNR measures: a short last fine-tune on it
alone (``--l1-weight 0 --l2-weight 1``) gains a little PSNR. The run folder follows `belamy train`:
run.json, metrics.jsonl, samples/compare-<nimg>.png (input | Lanczos | SR | original),
checkpoints/ckpt-<nimg>.*; a checkpoint holds weights, optimizer moments, RNG states and data
position, so ``--resume`` goes on exactly.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.models.rrdb import PatchDiscriminator, RRDBNet, SRConfig, deepen
from belamy.provenance.embed import save_png
from belamy.trainer import checkpoint as ck
from belamy.trainer.data import RealBatches
from belamy.trainer.ema import update_ema, warmup_beta
from belamy.trainer.loop import RunResult, run_task
from belamy.trainer.options import RunOptions, invalid, resolve_run_options
from belamy.trainer.paths import RunPaths, prepare_writable
from belamy.trainer.schedule import halve_learning_rates
from belamy.trainer.stats import StatsCollector
from belamy.trainer.stop import StopRequest
from belamy.trainer.task import Task
from belamy.upscale.degrade import degrade, shrink_bicubic
from belamy.upscale.upscaler import PAINTING_WEIGHTS, SR_FORMAT
from belamy.utils.device import autocast_context, resolve_device, resolve_precision

SAMPLE_COUNT = 4
RUN_FORMAT = "belamy-sr-run"
SRTrainResult = RunResult
DEGRADATIONS = ("realistic", "bicubic", "mixed")
SR_PRECISIONS = ("fp32", "bf16", "auto")
MIXED_CLEAN_SHARE = 0.75  # of `mixed` pairs, the share shrunk by a clean bicubic resize


@dataclass(kw_only=True)
class SRTrainOptions(RunOptions):
    corpus: Path
    # The network's shape; None: the --init network's, or MODEL_DEFAULTS.
    scale: int | None = None
    nf: int | None = None
    nb: int | None = None
    gc: int | None = None
    ndf: int | None = None
    init: str | None = None  # SR weights to start from: an SR run, a checkpoint, or `painting` (the shipped ones)
    patch: int | None = None  # high-resolution crop side (None: 96, or the largest that fits the corpus)
    batch: int = 8
    degradation: str | None = None  # how inputs are made (DEGRADATIONS; None: realistic for a new run, stored on resume)
    warmup_kimg: float = 2.0  # L1 only, before the adversarial losses join
    lr: float = 2e-4
    lr_half_life_kimg: float = 0.0  # the learning rate halves every this many kimg, smoothly (0: constant)
    precision: str = "fp32"  # fp32, bf16, or auto: bf16 where the hardware does it fast (about twice the steps with AMX)
    l1_weight: float = 1.0
    l2_weight: float = 0.0  # mean squared error, what PSNR measures: a last fine-tune with --l1-weight 0 buys a little PSNR
    adv_weight: float = 0.005
    fm_weight: float = 0.05
    tick_kimg: float = 0.5
    snapshot_ticks: int = 4

    MODEL_DEFAULTS: ClassVar[dict[str, int]] = {"scale": 4, "nf": 32, "nb": 6, "gc": 16, "ndf": 32}
    DEFAULT_KIMG: ClassVar[float] = 20.0
    DEFAULT_PATCH: ClassVar[int] = 96
    KIND: ClassVar[str] = "an SR run"
    FIXED_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "scale", "nf", "nb", "gc", "ndf", "patch", "batch", "lr", "seed", "l1_weight", "l2_weight", "adv_weight", "fm_weight",
        "warmup_kimg", "degradation", "lr_half_life_kimg", "init")
    MATCH_ON_RESUME: ClassVar[tuple[str, ...]] = ("degradation",)

    def model_config(self) -> SRConfig:
        return SRConfig(scale=self.scale, nf=self.nf, nb=self.nb, gc=self.gc, ndf=self.ndf)

    def fill_new_run_defaults(self) -> None:
        super().fill_new_run_defaults()
        if self.degradation is None:
            self.degradation = "realistic"
        start = read_init(self.init)[2]["model"] if self.init else {}
        for name, default in self.MODEL_DEFAULTS.items():
            asked, theirs = getattr(self, name), start.get(name)
            deeper = name == "nb" and asked is not None and theirs is not None and asked > theirs  # grown: see load_init
            if asked is not None and theirs is not None and asked != theirs and not deeper:
                raise BelamyError(f"--init {self.init} does not fit --{name} {asked}: its network has {name} {theirs}",
                                  f"drop --{name}: the run takes the --init network's shape"
                                  + (" (--nb may only grow it)" if name == "nb" else ""))
            setattr(self, name, asked if asked is not None else theirs if theirs is not None else default)

    def take_stored(self, stored: RunOptions, root: Path) -> None:
        stored.degradation = stored.degradation or "realistic"  # runs from before the option learnt from that
        super().take_stored(stored, root)

    def check_stored_run(self, run: dict, root: Path) -> None:
        if run.get("format") != RUN_FORMAT:
            raise BelamyError(f"{root} is not an SR run", "give a folder made by `belamy sr train`")

    def validate(self) -> None:
        super().validate()
        self.model_config().validate()
        if self.patch is not None and (self.patch < 32 or self.patch % 16):
            raise invalid("patch", self.patch, "use a multiple of 16 from 32 up, e.g. 96")
        checks = (
            ("batch", 1 <= self.batch <= 1024, "use 1 to 1024"),
            ("degradation", self.degradation in DEGRADATIONS, "use " + ", ".join(DEGRADATIONS)),
            ("precision", self.precision in SR_PRECISIONS, "use fp32, bf16 or auto (SR training has no fp16 loss scaling)"),
            ("lr-half-life-kimg", math.isfinite(self.lr_half_life_kimg) and self.lr_half_life_kimg >= 0,
             "use 0 (a constant rate) or a positive number of kimg, e.g. 20"),
            ("warmup-kimg", math.isfinite(self.warmup_kimg) and self.warmup_kimg >= 0, "use 0 or more"),
            ("lr", 0 < self.lr < 1, "use e.g. 2e-4"),
            *((name.replace('_', '-'), math.isfinite(getattr(self, name)) and getattr(self, name) >= 0,
               "use a weight of 0 or more, e.g. 1") for name in ("l1_weight", "l2_weight", "adv_weight", "fm_weight")),
            ("l1-weight", self.l1_weight + self.l2_weight > 0,
             "a pixel loss must pull towards the original: give --l1-weight or --l2-weight above 0"),
        )
        for flag, ok, hint in checks:
            if not ok:
                raise invalid(flag, getattr(self, flag.replace("-", "_"), ""), hint)


def read_init(source: str) -> tuple[Path, dict[str, torch.Tensor], dict]:
    """The checkpoint ``--init`` names (``painting``: the shipped painting-SR weights): path, tensors, metadata."""
    path = PAINTING_WEIGHTS if source == "painting" else Path(source)
    if source == "painting" and not path.exists():
        raise BelamyError("this belamy install has no painting-SR weights", "give --init an SR run instead")
    json_path = ck.resolve_checkpoint(path)
    tensors, meta = ck.load_checkpoint(json_path)
    if meta.get("kind") != SR_FORMAT or not isinstance(meta.get("model"), dict):
        raise BelamyError(f"--init {source} is not an SR model", "give a run made by `belamy sr train`, or painting")
    return json_path, tensors, meta


def load_init(source: str, G: RRDBNet, G_ema: RRDBNet, D: torch.nn.Module) -> None:
    """Start from ``source``'s weights: G and its average from whichever it holds (the shipped weights hold
    only the average); D from its D, else fresh. Optimizers start fresh. A run with more blocks (``--nb``)
    than the source starts as the source's function, its extra blocks at zero (:func:`deepen`)."""
    json_path, tensors, meta = read_init(source)
    held = [prefix for prefix in ("G", "G_ema") if any(k.startswith(prefix + ".") for k in tensors)]
    if not held:
        raise BelamyError(f"--init {source} holds no generator weights", "give a run made by `belamy sr train`")
    for prefix, module in (("G", G), ("G_ema", G_ema)):
        found = prefix if prefix in held else held[0]
        if meta["model"].get("nb") == module.cfg.nb:
            ck.load_module_tensors(found, module, tensors, json_path.name)
        else:  # loaded (and so checked) in the source's shape first, then deepened
            source_net = RRDBNet(SRConfig.from_dict(meta["model"]))
            ck.load_module_tensors(found, source_net, tensors, json_path.name)
            module.load_state_dict(deepen(module, source_net.state_dict()))
    if any(k.startswith("D.") for k in tensors):
        ck.load_module_tensors("D", D, tensors, json_path.name)


def shrink(hr: np.ndarray, opts: SRTrainOptions, rng: np.random.Generator) -> np.ndarray:
    """The network's input for the uint8 patch ``hr``, made the run's way (``opts.degradation``)."""
    if opts.degradation == "bicubic" or (opts.degradation == "mixed" and rng.random() < MIXED_CLEAN_SHARE):
        return shrink_bicubic(hr, opts.scale)
    return degrade(hr, opts.scale, rng)


class PairBatches:
    """(LR, HR) float batches in [0, 1], NCHW: random crops of corpus images and their shrunk copies."""

    def __init__(self, images: np.ndarray, opts: SRTrainOptions, device: torch.device):
        self.real = RealBatches(images, opts.batch, opts.seed, mirror=True, device=torch.device("cpu"), channels_last=False)
        self.patch, self.opts, self.device = opts.patch, opts, device
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
            lr_list.append(shrink(hr, self.opts, self.rng))
        hr_t = torch.from_numpy(np.stack(hr_list)).permute(0, 3, 1, 2).float().div_(255.0)
        lr_t = torch.from_numpy(np.stack(lr_list)).permute(0, 3, 1, 2).float().div_(255.0)
        return lr_t.to(self.device), hr_t.to(self.device)


def fixed_samples(images: np.ndarray, opts: SRTrainOptions) -> tuple[np.ndarray, np.ndarray]:
    """The same few (LR, HR) pairs at every snapshot: centre crops, shrunk the run's way with a fixed seed."""
    rng = np.random.default_rng(12345)
    count = min(SAMPLE_COUNT, len(images))
    height, width = images.shape[1:3]
    side = min(height, width, opts.patch * 2)
    side -= side % (opts.scale * 4)
    top, left = (height - side) // 2, (width - side) // 2
    hr = np.stack([np.asarray(images[i, top : top + side, left : left + side]) for i in range(count)])
    lr = np.stack([shrink(h, opts, rng) for h in hr])
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


class SRTask(Task):
    """Super-resolution training: L1 first (ESRGAN's PSNR-oriented start), then a relativistic GAN with
    discriminator feature matching; the EMA of G's weights is the network that gets used."""

    run_format = RUN_FORMAT
    command = "belamy sr train"

    def __init__(self, opts: SRTrainOptions):
        self.options = opts
        self.paths = RunPaths(Path(opts.out))
        corpus = open_corpus(opts.corpus)
        self.corpus_info = {"path": str(opts.corpus), "count": len(corpus), "size": corpus.size}
        short = min(corpus.height, corpus.width)
        if opts.patch is None:  # the default crop, or the largest the corpus's pictures hold
            opts.patch = min(opts.DEFAULT_PATCH, short // 16 * 16)
            if opts.patch < 32:
                raise BelamyError(f"the corpus's pictures ({corpus.width}×{corpus.height}) are too small to train on",
                                  "build the corpus with --size 64 or more")
        if short < opts.patch:
            raise BelamyError(f"the corpus is {corpus.width}×{corpus.height} but --patch is {opts.patch}",
                              f"use --patch {short // 16 * 16} or less")
        self.device = resolve_device(opts.device)
        prepare_writable(self.paths.root)
        self.cfg = opts.model_config()
        torch.manual_seed(opts.seed)
        self.G = RRDBNet(self.cfg).to(self.device)
        # An exponential moving average of G's weights is what gets used (as in Real-ESRGAN): it smooths
        # out the step-to-step wobble of adversarial training, which otherwise shows as speckle.
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = PatchDiscriminator(self.cfg.ndf).to(self.device)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=opts.lr, betas=(0.9, 0.99))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=opts.lr, betas=(0.9, 0.99))
        self.rng = torch.Generator().manual_seed(opts.seed)
        self.data = PairBatches(corpus.images, opts, self.device)
        self.sample_lr, self.sample_hr = fixed_samples(corpus.images, opts)
        self.corpus_count = len(corpus)

    def describe(self) -> str:
        start = f", from {self.options.init}" if self.options.init else ""
        return (f"training SR ×{self.cfg.scale} (nf {self.cfg.nf}, {self.cfg.nb} blocks{start}) on {self.corpus_count} "
                f"paintings, {self.options.degradation} inputs, {self.device}")

    def run_info(self) -> dict:
        return {"kind": SR_FORMAT, "model": self.cfg.to_dict(), "corpus": self.corpus_info}

    def checkpoint_meta(self) -> dict:
        return {"kind": SR_FORMAT, "arch": "rrdb", "model": self.cfg.to_dict()}

    def resume_command(self) -> str:
        return f"belamy sr train {self.options.corpus} --out {self.paths.root} --resume"

    def modules(self) -> dict:
        return {"G": self.G, "G_ema": self.G_ema, "D": self.D}

    def optimizers(self) -> dict:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def data_state(self) -> dict:
        return self.data.state()

    def restore_data(self, state: dict) -> None:
        self.data.restore(state)

    def check_checkpoint(self, meta: dict, name: str) -> None:
        if meta.get("kind") != SR_FORMAT:
            raise BelamyError(f"{name} is not an SR checkpoint", "give a folder made by `belamy sr train`")

    def begin(self, nimg: int, resumed: bool) -> None:
        if not resumed and self.options.init:
            load_init(self.options.init, self.G, self.G_ema, self.D)

    def step(self, stats: StatsCollector, nimg: int) -> int:
        opts = self.options
        lr_img, hr_img = self.data.next(self.rng)  # outside autocast: the degradations convolve in float32
        halve_learning_rates([(self.opt_G, opts.lr), (self.opt_D, opts.lr)], nimg, opts.lr_half_life_kimg)
        with autocast_context(self.device, resolve_precision(opts.precision, self.device)):
            return self._train_on(lr_img, hr_img, stats, nimg)

    def _train_on(self, lr_img: torch.Tensor, hr_img: torch.Tensor, stats: StatsCollector, nimg: int) -> int:
        opts, G, D = self.options, self.G, self.D
        adversarial = nimg >= round(opts.warmup_kimg * 1000)
        # D phase: is each real patch more realistic than the average SR output?
        if adversarial:
            with torch.no_grad():
                fake = G(lr_img)
            d_real, _ = D(hr_img)
            d_fake, _ = D(fake)
            loss_d, _ = relativistic_losses(d_real, d_fake)
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_D.step()
            stats.add("loss_D", loss_d)
        # G phase.
        sr = G(lr_img).float()
        l1 = F.l1_loss(sr, hr_img)
        loss_g = opts.l1_weight * l1
        if opts.l2_weight > 0:
            l2 = F.mse_loss(sr, hr_img)
            loss_g = loss_g + opts.l2_weight * l2
            stats.add("l2", l2)
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
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        update_ema(self.G_ema, G, warmup_beta(nimg // opts.batch))
        stats.add("l1", l1)
        stats.add("loss_G", loss_g)
        return opts.batch

    def snapshot(self, nimg: int) -> dict:
        picture, psnr = compare_image(self.G_ema, self.sample_lr, self.sample_hr, self.device)
        save_png(picture, self.paths.samples / f"compare-{nimg:09d}.png",
                 {"run": str(self.paths.root), "kimg": nimg / 1000, "columns": "input | lanczos | sr | original",
                  "psnr": psnr})
        return {"psnr": round(psnr, 3)}

    def log_fields(self, means: dict, record: dict) -> str:
        text = f"L1 {means.get('l1', 0):.4f}" + (f"  L2 {means['l2']:.5f}" if "l2" in means else "")
        text += f"  loss_G {means.get('loss_G', 0):.4f}"
        text += f"  loss_D {means['loss_D']:.3f}" if "loss_D" in means else "  (pixel loss only)"
        return text + (f"  PSNR {record['psnr']:.2f} dB" if "psnr" in record else "")

    def progress_text(self, means: dict) -> str:
        return f"L1 {means.get('l1', 0):.4f}"

    def finished(self, nimg: int) -> str:
        return f"done: {nimg / 1000:g} kimg; comparisons in {self.paths.samples}, checkpoints in {self.paths.checkpoints}"


def train_sr(opts: SRTrainOptions, stop: StopRequest | None = None) -> RunResult:
    """Train (or, with ``opts.resume``, continue) an SR run in ``opts.out``."""
    opts = resolve_run_options(opts)
    opts.validate()
    return run_task(SRTask(opts), stop)
