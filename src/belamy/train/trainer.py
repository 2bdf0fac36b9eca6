"""What one architecture needs from the training loop: build, step, save, restore, draw a grid.

``DCGANTrainer`` runs exactly the steps the DCGAN loop always ran (same random draws in the same
order, so old runs resume and reproduce bit for bit). ``StyleTrainer`` is the style-based GAN:
StyleGAN2 loss phases with lazy R1, G_ema, augmentation (ADA or DiffAugment), class labels,
mixed precision, ``torch.compile`` and gradient averaging across torchrun ranks.
"""

from __future__ import annotations

import torch
from torch import nn

from belamy.runs import checkpoint as ck
from belamy.runs.distributed import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    average_buffers,
    average_gradients,
    broadcast_module,
)
from belamy.runs.ema import ema_beta, make_ema, update_ema
from belamy.runs.stats import StatsCollector
from belamy.train.augment import AdaptiveAugment, make_augment
from belamy.train.loss import DCGANLoss
from belamy.train.options import TrainOptions
from belamy.train.steps import dcgan_step
from belamy.train.style_loss import StyleGANLoss, lazy_adam_settings, style_step
from belamy.utils.device import resolve_precision
from belamy.utils.progress import console


def _adam(params, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    # Fused Adam: one kernel over all parameters instead of a Python loop of small ops.
    return torch.optim.Adam(params, lr=float(lr), betas=(float(betas[0]), float(betas[1])), fused=True)


class DCGANTrainer:
    ema_prefix = None

    def __init__(self, options: TrainOptions, cfg, arch, device: torch.device, memory_format, info: DistInfo):
        self.options, self.cfg, self.device, self.info = options, cfg, device, info
        self.G = arch.make_generator(cfg).to(device, memory_format=memory_format)
        self.D = arch.make_discriminator(cfg).to(device, memory_format=memory_format)
        for module in (self.G, self.D):
            broadcast_module(info, module)
        # Under torchrun each rank's BatchNorm normalises its own share of the batch (as DDP does
        # without SyncBatchNorm, which has no CPU kernel); gradients are averaged per phase.
        self.reduce_gradients = (lambda module: average_gradients(info, module)) if info.enabled else None
        betas = (options.beta1, options.beta2)
        self.opt_G = _adam(self.G.parameters(), options.lr, betas, device)
        self.opt_D = _adam(self.D.parameters(), options.lr, betas, device)
        self.loss = DCGANLoss(self.G, self.D, options.loss)
        self.autocast = resolve_precision(options.precision, device)
        self.z_dim = cfg.nz

    def step(self, real, real_labels, rng, stats: StatsCollector, step: int, nimg: int) -> None:
        z = torch.randn(real.shape[0], self.z_dim, generator=rng, device=self.device)
        dcgan_step(self.G, self.D, self.opt_G, self.opt_D, self.loss, real, z, stats, autocast_dtype=self.autocast,
                   reduce_gradients=self.reduce_gradients)

    def sync(self) -> None:
        """Before a snapshot: every rank takes the mean BatchNorm statistics (what rank 0 saves)."""
        for module in (self.G, self.D):
            average_buffers(self.info, module)

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def load_extra(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        pass

    @torch.no_grad()
    def sample(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.G.eval()
        try:
            return self.G(z)
        finally:
            self.G.train()

    def log_fields(self, means: dict) -> str:
        return ""


class StyleTrainer:
    ema_prefix = "G_ema"

    def __init__(self, options: TrainOptions, cfg, arch, device: torch.device, memory_format, info: DistInfo,
                 label_pool: torch.Tensor | None = None):
        self.options, self.cfg, self.device, self.info = options, cfg, device, info
        self.G = arch.make_generator(cfg).to(device, memory_format=memory_format)
        self.D = arch.make_discriminator(cfg).to(device, memory_format=memory_format)
        self.G_ema = make_ema(self.G)
        for module in (self.G, self.D, self.G_ema):
            broadcast_module(info, module)
        betas = (options.beta1, options.beta2)
        self.opt_G = _adam(self.G.parameters(), options.lr, betas, device)
        reg_interval = options.r1_interval if options.r1_gamma > 0 else 0
        d_lr, d_betas = lazy_adam_settings(options.lr, betas, reg_interval)
        self.opt_D = _adam(self.D.parameters(), d_lr, d_betas, device)
        self.augment = make_augment(options.augment, options.ada_target, options.ada_kimg, options.augment_p)
        if self.augment is not None:
            self.augment = self.augment.to(device)
        self.loss = StyleGANLoss(self.G, self.D, self.augment, options.r1_gamma, options.r1_interval,
                                 options.style_mixing)
        self.autocast = resolve_precision(options.precision, device)
        self.label_pool = label_pool
        self.batch_global = options.batch
        if options.compile:
            if device.type == "cpu":
                console.print("--compile on a CPU: the first steps will be slow while it compiles")
            # In place, so parameter names (and checkpoints) do not change.
            self.G.synthesis.compile()
            self.D.compile()

    def step(self, real, real_labels, rng, stats: StatsCollector, step: int, nimg: int) -> None:
        n = real.shape[0]
        z = torch.randn(n, self.cfg.z_dim, generator=rng, device=self.device)
        gen_labels = None
        if self.label_pool is not None:
            # Fake classes follow the corpus's class frequencies, as StyleGAN2-ADA samples them.
            pick = torch.randint(len(self.label_pool), (n,), generator=rng, device=self.device)
            gen_labels = self.label_pool[pick]
        style_step(self.G, self.D, self.opt_G, self.opt_D, self.loss, real, real_labels, z, gen_labels, rng, stats,
                   step, autocast_dtype=self.autocast, dist_info=self.info)
        if self.info.enabled:
            # w_avg moved by each rank's own latents: the mean over ranks is the global batch's update.
            w_avg = self.G.mapping.w_avg
            w_avg.copy_(all_reduce_mean(self.info)(w_avg))
        beta = ema_beta(self.batch_global, nimg, self.options.ema_kimg, self.options.ema_rampup)
        update_ema(self.G_ema, self.G, beta)
        if isinstance(self.augment, AdaptiveAugment):
            self.augment.update(self.batch_global, step, reduce=all_reduce_sum(self.info))
            stats.add("augment_p", self.augment.p)

    def sync(self) -> None:
        """Ranks already agree: gradients are averaged and the style model has no BatchNorm."""

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        if isinstance(self.augment, AdaptiveAugment):
            return ck.module_tensors("augment", self.augment)
        return {}

    def load_extra(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        if isinstance(self.augment, AdaptiveAugment) and any(k.startswith("augment.") for k in tensors):
            ck.load_module_tensors("augment", self.augment, tensors, source)

    @property
    def augment_p(self) -> float | None:
        return float(self.augment.p) if isinstance(self.augment, AdaptiveAugment) else None

    @torch.no_grad()
    def sample(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.G_ema.synthesize(z, labels)

    def log_fields(self, means: dict) -> str:
        p = means.get("augment_p")
        return f"  p {p:.3f}" if p is not None else ""
