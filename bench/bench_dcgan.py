"""DCGAN training and generation speed: belamy beside a plain PyTorch implementation of the same network.

The reference is the loop of pytorch/examples' dcgan (the usual starting point): nn.Sequential
networks ending in a Sigmoid, BCELoss, default Adam, contiguous tensors, a .item() per step for
the log, and D's weight gradients computed in the G step. Both run in this process on the same
data, resolution, widths and batch.

    python bench/bench_dcgan.py [--res 64 128] [--batch 64] [--steps 5]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn

from belamy.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_config
from belamy.train.steps import dcgan_step
from belamy.train.loss import DCGANLoss
from belamy.train.stats import StatsCollector


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ---------------------------------------------------------------- the plain reference


def plain_networks(cfg):
    """The same layers as belamy's DCGAN, written as the PyTorch example writes them."""
    G = DCGANGenerator(cfg)
    D = DCGANDiscriminator(cfg)
    plain_D = nn.Sequential(D.features, D.head, nn.Sigmoid())
    return G, plain_D


def plain_step(G, D, opt_G, opt_D, criterion, real, z):
    D.zero_grad()
    label = torch.full((real.shape[0],), 1.0)
    err_real = criterion(D(real).view(-1), label)
    err_real.backward()
    fake = G(z)
    label.fill_(0.0)
    err_fake = criterion(D(fake.detach()).view(-1), label)
    err_fake.backward()
    opt_D.step()
    G.zero_grad()
    label.fill_(1.0)
    err_g = criterion(D(fake).view(-1), label)
    err_g.backward()
    opt_G.step()
    return (err_real + err_fake).item(), err_g.item()


# ---------------------------------------------------------------- timing


def time_steps(step, steps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def bench_training(res: int, batch: int, steps: int) -> tuple[float, float]:
    cfg = dcgan_config(res)
    real = torch.rand(batch, 3, res, res) * 2 - 1
    z = torch.randn(batch, cfg.nz)

    torch.manual_seed(0)
    G, D = plain_networks(cfg)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCELoss()
    plain_s = time_steps(lambda: plain_step(G, D, opt_G, opt_D, criterion, real, z.view(batch, -1, 1, 1)), steps)

    torch.manual_seed(0)
    G = DCGANGenerator(cfg).to(memory_format=torch.channels_last)
    D = DCGANDiscriminator(cfg).to(memory_format=torch.channels_last)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    loss, stats = DCGANLoss(G, D, "nonsat"), StatsCollector()
    real_cl = real.contiguous(memory_format=torch.channels_last)
    belamy_s = time_steps(lambda: dcgan_step(G, D, opt_G, opt_D, loss, real_cl, z, stats), steps)
    stats.means()  # the one sync per tick the real loop does
    return steps * batch / plain_s, steps * batch / belamy_s


def bench_generation(res: int, batch: int, steps: int) -> tuple[float, float]:
    cfg = dcgan_config(res)
    z = torch.randn(batch, cfg.nz)
    torch.manual_seed(0)
    G = DCGANGenerator(cfg).eval()
    with torch.no_grad():
        plain_s = time_steps(lambda: G(z.view(batch, -1, 1, 1)), steps)
    G = G.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        belamy_s = time_steps(lambda: G(z), steps)
    return steps * batch / plain_s, steps * batch / belamy_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement (after one warm-up)")
    args = parser.parse_args()

    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"batch {args.batch}, {args.steps} timed steps after 1 warm-up; widths as art-DCGAN/dcgan.torch\n")
    print(f"{'what':<12}{'res':>5}{'plain img/s':>14}{'belamy img/s':>14}{'speed-up':>10}")
    for res in args.res:
        steps = args.steps if res <= 64 else max(2, args.steps // 2)
        plain, ours = bench_training(res, args.batch, steps)
        print(f"{'training':<12}{res:>5}{plain:>14.1f}{ours:>14.1f}{ours / plain:>9.2f}x", flush=True)
        plain, ours = bench_generation(res, args.batch, steps * 2)
        print(f"{'generation':<12}{res:>5}{plain:>14.1f}{ours:>14.1f}{ours / plain:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
