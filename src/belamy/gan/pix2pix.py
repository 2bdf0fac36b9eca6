"""Image-to-image training (pix2pix) as a task of the run loop: (condition, painting) pairs in, a U-Net out.

Per step: a batch of pairs (the same mirror for both pictures of a pair; none for pose figures, whose
colours tell left from right), then the loss's phases (see :mod:`belamy.gan.losses.pix2pix`). A
fixed part of the pairs (``holdout``, chosen by a seed of its own so that it never changes on resume)
is never trained on: the sample grid shows condition | output | real for the first of them, and every
tick logs the L1 on up to 64 of them (``holdout_l1``), which keeps ``checkpoints/best.*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from belamy.corpus.pairs import open_pairs
from belamy.errors import BelamyError
from belamy.gan.losses import StepBatch, get_loss
from belamy.gan.options import TrainOptions
from belamy.gan.registry import register_task
from belamy.gan.task import adam, model_config, run_phases
from belamy.models.pix2pix import UPSAMPLES, init_weights
from belamy.models.registry import canonical_name, get_architecture
from belamy.provenance.embed import save_png
from belamy.trainer import distributed as dd
from belamy.trainer.data import RealBatches, fit_shape
from belamy.trainer.paths import RunPaths
from belamy.trainer.stats import StatsCollector
from belamy.trainer.task import Task, start_ranks
from belamy.utils.declared import option
from belamy.utils.device import resolve_precision
from belamy.utils.grid import make_grid, to_uint8
from belamy.utils.progress import console

HOLDOUT_SEED = 20170
HOLDOUT_METRIC_N = 64


@dataclass
class Pix2PixOptions:
    l1_weight: float = option(100.0, help="pix2pix: weight λ of the L1 to the real painting (default: 100).",
                              check=lambda v: 0 <= v <= 1e6, hint="use 0 or more; 100 as published")
    fm_weight: float = option(0.0, help="pix2pix: weight of matching D's features of real and painted pictures, "
                                        "against blur (default: 0; 10 sharpens).",
                              check=lambda v: 0 <= v <= 1e6, hint="use 0 (off) or more, e.g. 10")
    holdout: float = option(0.1, help="pix2pix: fraction of the pairs never trained on, shown in the grids and "
                                      "measured (default: 0.1).",
                            check=lambda v: 0 <= v <= 0.9, hint="use a fraction from 0 to 0.9, e.g. 0.1")
    upsample: str = option("resize", help="pix2pix: resize (resize + convolution: no checkerboard; default) or "
                                          "transpose (the paper's).", choices=UPSAMPLES)


def holdout_split(count: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices), the same for a corpus of this size whatever the run's seed."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(HOLDOUT_SEED)).numpy()
    n_out = min(count - 1, max(1, round(count * fraction))) if fraction > 0 else 0
    return np.sort(order[n_out:]), np.sort(order[:n_out])


class Pix2PixTask(Task):
    run_format = "belamy-run"
    command = "belamy train"
    best_metric = ("holdout_l1", "min")
    best_modules = ("G", "D")
    declares = (Pix2PixOptions,)  # the options it reads (its loss reads l1_weight and fm_weight)

    def __init__(self, options: TrainOptions, info: dd.DistInfo):
        self.options, self.info = options, info
        self.paths = RunPaths(Path(options.out))
        self.arch = get_architecture(options.arch)
        pairs = open_pairs(options.corpus)
        if options.aspect is None:
            options.aspect = pairs.corpus.aspect
        self.source = pairs.source
        self.cfg = model_config(options, self.arch, [], condition=self.source)
        height, width = self.cfg.shape
        # Both pictures of a pair in one array, so that cropping, resizing and mirroring treat them alike.
        both = np.concatenate([fit_shape(pairs.conditions, height, width), fit_shape(pairs.corpus.images, height, width)],
                              axis=3)
        self.train_index, self.holdout_index = holdout_split(len(both), float(options.settings["holdout"]))
        self.pairs_count = len(both)
        self.train_pairs = both[self.train_index]
        self.holdout_pairs = both[self.holdout_index]
        if len(self.train_pairs) == 0:
            raise BelamyError("no pairs are left to train on", "lower --holdout")
        self.device = start_ranks(info, options.device, options.batch, self.paths.root)
        torch.manual_seed(options.seed)
        memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        self.G = self.arch.make_generator(self.cfg)
        self.D = self.arch.make_discriminator(self.cfg)
        init_weights(self.G)
        init_weights(self.D)
        self.G.to(self.device, memory_format=memory_format)
        self.D.to(self.device, memory_format=memory_format)
        for module in (self.G, self.D):
            dd.broadcast_module(info, module)
        self.loss = get_loss(options.loss)(self.G, self.D, options)
        betas = (options.beta1, options.beta2)
        self.opt_G = adam(self.G.parameters(), options.lr, betas)
        self.opt_D = adam(self.D.parameters(), options.lr, betas)
        self.autocast = resolve_precision(options.precision, self.device)
        rng_seed = options.seed if info.rank == 0 else options.seed + 1_000_003 * info.rank
        self.rng = torch.Generator(device=self.device).manual_seed(rng_seed)
        self.G.use_generator(self.rng)  # dropout masks from the run's stream: a resumed run drops the same units
        mirror = options.mirror and self.source != "pose"
        if options.mirror and not mirror:
            console.print("not mirroring pose pairs: the figure's colours tell its left from its right")
        self.data = RealBatches(self.train_pairs, options.batch // info.world, options.seed, mirror, self.device,
                                options.channels_last, shard=(info.rank, info.world))
        rows = min(options.grid_size, len(self.holdout_pairs)) or min(options.grid_size, len(self.train_pairs))
        self.grid_pairs = (self.holdout_pairs if len(self.holdout_pairs) else self.train_pairs)[:rows]

    # ------------------------------------------------------------------ what the run is

    def describe(self) -> str:
        height, width = self.cfg.shape
        shape = f"{height}²" if height == width else f"{width}×{height}"
        return (f"training pix2pix {shape} ({self.source} → painting) on {len(self.train_pairs)} pairs "
                f"({len(self.holdout_pairs)} held out), {self.device}")

    def run_info(self) -> dict:
        return {"arch": self.options.arch, "model": self.cfg.to_dict(), "design": self.arch.design,
                "corpus": {"path": str(self.options.corpus), "count": self.pairs_count, "kind": "pairs",
                           "from": self.source},
                "holdout": {"seed": HOLDOUT_SEED, "indices": self.holdout_index.tolist()},
                "world_size": self.info.world}

    def checkpoint_meta(self) -> dict:
        return {"arch": self.options.arch, "model": self.cfg.to_dict()}

    def resume_command(self) -> str:
        return f"belamy train {self.options.corpus} --out {self.paths.root} --resume"

    def check_checkpoint(self, meta: dict, name: str) -> None:
        if canonical_name(meta.get("arch")) != self.options.arch:
            raise BelamyError(f"checkpoint {name} is a {meta.get('arch')} model, not {self.options.arch}", "check --arch")

    # ------------------------------------------------------------------ state

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def data_state(self) -> dict:
        return self.data.state()

    def restore_data(self, state: dict) -> None:
        self.data.restore(state)

    # ------------------------------------------------------------------ work

    def step(self, stats: StatsCollector, nimg: int) -> int:
        both = self.data.next(self.rng)
        condition, real = both[:, :3], both[:, 3:]
        batch = StepBatch(real, None, condition, None, self.rng, nimg // self.options.batch)
        batch.cache["condition"] = condition
        run_phases(self.loss, {"G": self.G, "D": self.D}, {"G": self.opt_G, "D": self.opt_D}, batch, stats,
                   self.autocast, self.info)
        return self.options.batch

    @torch.no_grad()
    def translate(self, pairs: np.ndarray) -> np.ndarray:
        """Paintings (uint8 NHWC) of the conditions in ``pairs`` (uint8 [N, H, W, 6]), G in eval mode."""
        was_training = self.G.training
        self.G.eval()
        try:
            out = []
            for start in range(0, len(pairs), 16):
                x = torch.from_numpy(np.ascontiguousarray(pairs[start : start + 16, ..., :3])).to(self.device)
                x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
                out.append(to_uint8(self.G(x)))
            return np.concatenate(out)
        finally:
            self.G.train(was_training)

    def snapshot(self, nimg: int) -> dict:
        pairs = self.grid_pairs
        outputs = self.translate(pairs)
        tiles = []
        for pair, output in zip(pairs, outputs, strict=True):
            tiles += [pair[..., :3], output, pair[..., 3:]]
        cols = 6 if len(pairs) >= 6 else 3  # two triplets a row when there are enough
        save_png(make_grid(np.stack(tiles), cols=cols), self.paths.grid(nimg),
                 {"run": str(self.paths.root), "kimg": nimg / 1000, "columns": "condition | output | real",
                  "pairs": "held out" if len(self.holdout_pairs) else "training"})
        return {}

    def evaluate(self, nimg: int, done: bool, means: dict) -> dict:
        if not len(self.holdout_pairs):
            return {}
        pairs = self.holdout_pairs[:HOLDOUT_METRIC_N]
        outputs = self.translate(pairs).astype(np.float32)
        return {"holdout_l1": float(np.abs(outputs - pairs[..., 3:].astype(np.float32)).mean() / 127.5)}

    def log_fields(self, means: dict, record: dict) -> str:
        parts = [f"G {means.get('loss_G', float('nan')):.3f}", f"L1 {means.get('loss_G_l1', float('nan')):.4f}",
                 f"D {means.get('loss_D', float('nan')):.3f}"]
        if "loss_G_fm" in means:
            parts.append(f"FM {means['loss_G_fm']:.4f}")
        if "holdout_l1" in record:
            parts.append(f"held-out L1 {record['holdout_l1']:.4f}")
        return "  ".join(parts)

    def progress_text(self, means: dict) -> str:
        return f"L1 {means.get('loss_G_l1', float('nan')):.3f}"


register_task("pix2pix", Pix2PixTask)
