"""DCGAN training and generation speed: belamy beside a plain PyTorch implementation of the same network.

The reference is the loop of pytorch/examples' dcgan (the usual starting point): nn.Sequential
networks ending in a Sigmoid, BCELoss, default Adam, contiguous tensors, a .item() per step for
the log, and D's weight gradients computed in the G step. Both run in this process on the same
data, resolution, widths and batch.

    python bench/bench_dcgan.py [--res 64 128] [--batch 64] [--steps 5]
"""

from __future__ import annotations

import argparse
import time

import torch
from machine import cpu_name
from torch import nn

from belamy.gan.losses import StepBatch, get_loss
from belamy.gan.task import run_phases
from belamy.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_config
from belamy.trainer.stats import StatsCollector
from belamy.utils.device import autocast_context

# ---------------------------------------------------------------- the plain reference


def plain_networks(cfg):
    """The same layers as belamy's DCGAN, written as the PyTorch example writes them."""
    G = DCGANGenerator(cfg)
    D = DCGANDiscriminator(cfg)
    plain_D = nn.Sequential(D.features, D.head, nn.Sigmoid())
    return G, plain_D


def plain_step(G, D, opt_G, opt_D, criterion, real, z):
    D.zero_grad()
    label = torch.full((real.shape[0],), 1.0, device=real.device)
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


def interleaved_rates(steps_by_name: dict, steps: int, batch: int) -> dict[str, float]:
    """img/s of each step function, timed turn by turn so that load from other processes hits all alike."""
    spent = dict.fromkeys(steps_by_name, 0.0)
    for step in steps_by_name.values():  # warm-up: first calls pick kernels and allocate
        step()
    for _ in range(steps):
        for name, step in steps_by_name.items():
            start = time.perf_counter()
            step()
            spent[name] += time.perf_counter() - start
    return {name: steps * batch / seconds for name, seconds in spent.items()}


def plain_training_step(res: int, batch: int, device: str | torch.device = "cpu", **widths):
    """One iteration of the plain PyTorch DCGAN loop on ``device`` (its .item() waits for the GPU)."""
    cfg = dcgan_config(res, **widths)
    real = torch.rand(batch, 3, res, res, device=device) * 2 - 1
    z = torch.randn(batch, cfg.nz, 1, 1, device=device)
    torch.manual_seed(0)
    G, D = (net.to(device) for net in plain_networks(cfg))
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCELoss()
    return lambda: plain_step(G, D, opt_G, opt_D, criterion, real, z)


def training_steps(res: int, batch: int) -> dict:
    cfg = dcgan_config(res)
    real = torch.rand(batch, 3, res, res) * 2 - 1
    z = torch.randn(batch, cfg.nz)

    def belamy(dtype):
        torch.manual_seed(0)
        G = DCGANGenerator(cfg).to(memory_format=torch.channels_last)
        D = DCGANDiscriminator(cfg).to(memory_format=torch.channels_last)
        opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
        opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
        loss, stats = get_loss("nonsat")(G, D, None), StatsCollector()
        real_cl = real.contiguous(memory_format=torch.channels_last)
        return lambda: run_phases(loss, {"G": G, "D": D}, {"G": opt_G, "D": opt_D},
                                  StepBatch(real_cl, None, z, None, None, 0), stats, dtype)

    return {
        "plain": plain_training_step(res, batch),
        "belamy": belamy(None),
        "belamy_bf16": belamy(torch.bfloat16),
    }


def generation_steps(res: int, batch: int) -> dict:
    cfg = dcgan_config(res)
    z = torch.randn(batch, cfg.nz)
    torch.manual_seed(0)
    G0 = DCGANGenerator(cfg).eval()
    G1 = DCGANGenerator(cfg).eval().to(memory_format=torch.channels_last)

    def plain():
        with torch.no_grad():
            G0(z.view(batch, -1, 1, 1))

    def belamy(dtype=None):
        def run():
            with torch.inference_mode(), autocast_context(z.device, dtype):
                G1(z)
        return run

    return {"plain": plain, "belamy": belamy(), "belamy_bf16": belamy(torch.bfloat16)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement (after one warm-up)")
    args = parser.parse_args()

    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"batch {args.batch}, {args.steps} timed steps after 1 warm-up; widths as art-DCGAN/dcgan.torch\n")
    print(f"{'what':<12}{'res':>5}{'plain img/s':>14}{'belamy img/s':>14}{'speed-up':>10}{'belamy bf16':>14}{'speed-up':>10}")
    for res in args.res:
        steps = args.steps if res <= 64 else max(2, args.steps // 2)
        for what, make, n in (("training", training_steps, steps), ("generation", generation_steps, steps * 2)):
            rates = interleaved_rates(make(res, args.batch), n, args.batch)
            plain, ours, bf16 = rates["plain"], rates["belamy"], rates["belamy_bf16"]
            print(f"{what:<12}{res:>5}{plain:>14.1f}{ours:>14.1f}{ours / plain:>9.2f}x{bf16:>14.1f}{bf16 / plain:>9.2f}x",
                  flush=True)

if __name__ == "__main__":
    main()
