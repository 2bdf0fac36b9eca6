"""Training and generation speed of the style-based GAN beside the DCGAN, per resolution.

Prints seconds per kimg of training (one full iteration: G step, D step, R1 every 16 steps
amortised, G_ema update, ADA at p = 0.2 so the augmentation cost is in) and generation img/s
(G_ema with const noise, no gradients), on this machine's device. Both architectures use their
default widths; each trains through belamy's own phases (``run_phases``). Timings are interleaved turn
by turn so that load from other processes hits both alike.

    python bench/bench_style.py [--train-res 64 128] [--gen-res 64 128 256] [--batch 32] [--steps 4]
                                [--layers stylegan2-ada belamy-1]

``--layers`` times the style network's layer variants side by side (interleaved too): the exact
StyleGAN2-ADA layers of new runs and the first variant of runs made before them.

``--arch style stylegan3-t stylegan3-r`` times generation only (as ``belamy generate`` draws: one
image at a time), of those generators at the widths of NVlabs' configs for them (``--channel-base``,
default 16384 with channel_max 512; -R doubles both, as the reference's ``--cfg stylegan3-r`` does;
StyleGAN2 with 8 mapping layers and 512-d latents), interleaved round by round.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from machine import cpu_name

from belamy.gan.augment import AdaptiveAugment, make_augment
from belamy.gan.losses import StepBatch, get_loss
from belamy.gan.options import COMMON_DEFAULTS, TrainOptions
from belamy.gan.task import run_phases
from belamy.models.registry import get_architecture
from belamy.trainer.stats import StatsCollector


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_style_step(res: int, batch: int, device: torch.device, layers: str | None = None, **widths):
    arch = get_architecture("stylegan2")
    cfg = arch.make_config(res=res, layers=layers, **widths)
    G = arch.make_generator(cfg).to(device, memory_format=torch.channels_last)
    D = arch.make_discriminator(cfg).to(device, memory_format=torch.channels_last)
    augment = AdaptiveAugment(p=0.2).to(device)
    gamma = 0.0002 * res * res / batch
    options = TrainOptions.of(corpus=Path(), out=Path(), r1_gamma=gamma, r1_interval=16, style_mixing=0.9)
    loss = get_loss("stylegan2")(G, D, options, augment)
    opt_G = torch.optim.Adam(G.parameters(), lr=2.5e-3, betas=(0.0, 0.99), fused=True)
    lr, betas = loss.optimizer_settings("D", 2.5e-3, (0.0, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=betas, fused=True)
    rng = torch.Generator(device=device).manual_seed(0)
    real = (torch.rand(batch, 3, res, res, device=device) * 2 - 1).contiguous(memory_format=torch.channels_last)
    stats = StatsCollector()
    counter = [1]  # step 0 is an R1 step: start at 1, and time R1 separately to amortise it

    def step(r1: bool = False):
        n = 0 if r1 else counter[0]
        counter[0] = counter[0] % 15 + 1
        z = torch.randn(batch, cfg.z_dim, generator=rng, device=device)
        run_phases(loss, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, StepBatch(real, None, z, None, rng, n), stats, None)
        sync(device)

    return step, cfg, G


def make_arch_step(arch_name: str, res: int, batch: int, device: torch.device, **widths):
    """One training iteration of a DCGAN-like architecture (dcgan, fastgan) with its default loss,
    Adam settings and augmentation, as a new run of it trains."""
    arch = get_architecture(arch_name)
    settings = {**COMMON_DEFAULTS, **arch.defaults}
    cfg = arch.make_config(res=res, **widths)
    G = arch.make_generator(cfg).to(device, memory_format=torch.channels_last)
    D = arch.make_discriminator(cfg).to(device, memory_format=torch.channels_last)
    betas = (settings["beta1"], settings["beta2"])
    opt_G = torch.optim.Adam(G.parameters(), lr=settings["lr"], betas=betas, fused=True)
    opt_D = torch.optim.Adam(D.parameters(), lr=settings["lr"], betas=betas, fused=True)
    augment = make_augment(settings["augment"])
    options = TrainOptions.of(corpus=Path(), out=Path())  # the loss reads its own options at their defaults
    loss = get_loss(arch.default_loss)(G, D, options, augment.to(device) if augment is not None else None)
    real = (torch.rand(batch, 3, res, res, device=device) * 2 - 1).contiguous(memory_format=torch.channels_last)
    rng = torch.Generator(device=device).manual_seed(0)
    stats = StatsCollector()

    def step(r1: bool = False):
        z = torch.randn(batch, cfg.nz, device=device)
        run_phases(loss, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, StepBatch(real, None, z, None, rng, 0), stats, None)
        sync(device)

    return step, cfg, G


def style_names(layers: list[str]) -> dict[str, str]:
    """Row name → layer variant: plain "style" when one variant is timed."""
    return {"style" if len(layers) == 1 else f"style:{v}": v for v in layers}


def time_training(res: int, batch: int, steps: int, device: torch.device,
                  layers: list[str] | None = None) -> dict[str, float]:
    """Seconds per kimg for each architecture, interleaved; R1 amortised as 1/16 of its step cost."""
    steps_by = {}
    if res in (64, 128):  # the DCGAN exists at 64² and 128² (art-DCGAN's widths)
        steps_by["dcgan"] = make_arch_step("dcgan", res, batch, device)[0]
    for name, variant in style_names(layers or ["stylegan2-ada"]).items():
        steps_by[name] = make_style_step(res, batch, device, variant)[0]
    spent = dict.fromkeys(steps_by, 0.0)
    r1_extra = dict.fromkeys(steps_by, 0.0)
    for fn in steps_by.values():
        fn()
    for _ in range(steps):
        for name, fn in steps_by.items():
            start = time.perf_counter()
            fn()
            spent[name] += time.perf_counter() - start
    for name in steps_by:
        if name.startswith("style"):
            start = time.perf_counter()
            steps_by[name](r1=True)
            r1_step = time.perf_counter() - start
            r1_extra[name] = r1_share(r1_step, spent[name] / steps)
    return {name: (spent[name] / steps + r1_extra[name]) / batch * 1000 for name in steps_by}


def r1_share(r1_step_s: float, step_s: float, interval: int = 16) -> float:
    """What R1 adds to every step: its step's extra cost, amortised over its interval."""
    return max(0.0, r1_step_s - step_s) / interval


def seconds_per_kimg(step, batch: int, steps: int, r1: bool = False) -> float:
    """Seconds per kimg of one architecture's ``step`` timed alone, after one warm-up call (R1 amortised
    when it has one): on a dedicated GPU nothing else competes, and its peak memory is its own."""
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    step_s = (time.perf_counter() - start) / steps
    extra = 0.0
    if r1:
        start = time.perf_counter()
        step(r1=True)
        extra = r1_share(time.perf_counter() - start, step_s)
    return (step_s + extra) / batch * 1000


@torch.no_grad()
def time_generation(arch_name: str, res: int, batch: int, steps: int, device: torch.device,
                    layers: str | None = None, **widths) -> float:
    arch = get_architecture(arch_name)
    cfg = arch.make_config(res=res, layers=layers, **widths)
    G = arch.make_generator(cfg).to(device, memory_format=torch.channels_last).eval()
    z_dim = getattr(cfg, "z_dim", getattr(cfg, "nz", 0))
    run = (lambda z: G.synthesize(z)) if hasattr(G, "synthesize") else (lambda z: G(z))
    z = torch.randn(batch, z_dim, device=device)
    run(z)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        run(z)
    sync(device)
    return steps * batch / (time.perf_counter() - start)


GENERATORS = {"style": ("style", {"map_layers": 8, "nz": 512}), "stylegan3-t": ("stylegan3", {"variant": "t"}),
              "stylegan3-r": ("stylegan3", {"variant": "r"})}


@torch.no_grad()
def time_generators(names: list[str], res: int, batch: int, steps: int, device: torch.device,
                    channel_base: int, rounds: int = 3) -> dict[str, float]:
    """img/s of each named generator at the reference's widths, interleaved; the best round counts."""
    runs = {}
    for name in names:
        arch_name, extra = GENERATORS[name]
        arch = get_architecture(arch_name)
        cfg = arch.make_config(res=res, channel_base=channel_base, channel_max=512, **extra)
        G = arch.make_generator(cfg).to(device, memory_format=torch.channels_last).eval()
        z = torch.randn(batch, cfg.z_dim, device=device)
        G.synthesize(z[:1])
        runs[name] = (G, z)
    best = dict.fromkeys(names, 0.0)
    for _ in range(rounds):
        for name, (G, z) in runs.items():
            start = time.perf_counter()
            for _ in range(steps):
                G.synthesize(z)
            sync(device)
            best[name] = max(best[name], steps * batch / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-res", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--gen-res", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--layers", nargs="+", default=["stylegan2-ada"], choices=["stylegan2-ada", "belamy-1"],
                        help="style layer variants to time side by side")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (0: torch's default). On a shared machine, 1 avoids OpenMP waits "
                             "for busy cores, which cost small ops milliseconds each")
    parser.add_argument("--arch", nargs="+", default=[], choices=list(GENERATORS),
                        help="generation only: these generators side by side at the reference's widths")
    parser.add_argument("--channel-base", type=int, default=16384, help="with --arch: the widths' channel_base")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"device: {device_name(device)}; torch {torch.__version__}; batch {args.batch}; {args.steps} timed steps")
    if args.arch:
        print(f"{'generator':<13}{'res':>6}{'gen img/s':>12}")
        for res in args.gen_res:
            for name, rate in time_generators(args.arch, res, args.batch, args.steps, device, args.channel_base).items():
                print(f"{name:<13}{res:>6}{rate:12.2f}", flush=True)
        return
    styles = style_names(args.layers)
    width = max(7, *(len(n) + 1 for n in styles))
    print(f"{'arch':<{width}}{'res':>6}{'train s/kimg':>15}{'gen img/s':>12}")
    for res in sorted(set(args.train_res) | set(args.gen_res)):
        train = time_training(res, args.batch, args.steps, device, args.layers) if res in args.train_res else {}
        for name in ("dcgan", *styles):
            if name == "dcgan" and res not in (64, 128):
                continue
            arch_name, variant = ("dcgan", None) if name == "dcgan" else ("style", styles[name])
            gen = time_generation(arch_name, res, args.batch, args.steps, device, variant) if res in args.gen_res else None
            t = f"{train[name]:15.1f}" if name in train else f"{'-':>15}"
            g = f"{gen:12.1f}" if gen is not None else f"{'-':>12}"
            print(f"{name:<{width}}{res:>6}{t}{g}", flush=True)


if __name__ == "__main__":
    main()
