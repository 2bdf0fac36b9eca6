"""The torchrun worker of bench/gpu_proof.py's ddp item: belamy's multi-process training, checked two ways.

    torchrun --standalone --nproc_per_node N bench/ddp_check.py --work DIR --corpus CORPUS --size full|tiny

1. Step for step: the style networks trained a few steps by N processes, each on its slice of one
   global batch with its gradients averaged over the processes (belamy's run_phases and
   distributed helpers), against rank 0 training the same networks alone on the whole batch. The
   check needs steps whose result does not depend on how the batch is split, so it uses constant
   noise, minibatch-std groups of one, no augmentation and the non-saturating loss (the run's
   latents, noise and augmentation are each rank's own draws), and no TF32. The weights must agree
   within float tolerance (float sums in another order; a missing or wrong average is off by ~1).
2. A real `belamy train` run of the style GAN under torchrun (NCCL over GPUs, gloo where processes
   share one): its speed, and each rank's weights at the end (BELAMY_RANK_CHECKSUMS).

Each rank writes DIR/rank<R>.json: its device, the backend, its peak GPU memory, and on rank 0 both results.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.distributed as dist
from gpu_proof_items import FULL, TINY, train_widths
from torch import nn

from belamy.gan.losses import StepBatch, get_loss
from belamy.gan.task import adam, run_phases
from belamy.models.registry import get_architecture
from belamy.trainer import distributed as dd
from belamy.trainer.stats import StatsCollector
from belamy.utils.atomic import read_jsonl, write_json
from belamy.utils.device import resolve_device

TOLERANCE = 1e-2  # the runs' distance relative to the training's own steps: rounding, not another update (~1)


class ConstNoise(nn.Module):
    """G with its noise inputs constant: the same picture for a latent whatever batch it is in."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z, labels, noise_mode="const")


def weights(G: nn.Module, D: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().float().cpu().clone() for prefix, net in (("G", G), ("D", D))
            for k, v in net.state_dict().items()}


def train_steps(info: dd.DistInfo, device: torch.device, sizes, part: slice) -> tuple[dict, dict]:
    """The weights before and after a few steps on this process's ``part`` of each global batch."""
    arch = get_architecture("style")
    cfg = arch.make_config(res=sizes.ddp_res, mbstd_group=1, **sizes.widths["style"])
    torch.manual_seed(0)
    G, D = arch.make_generator(cfg).to(device), arch.make_discriminator(cfg).to(device)
    for module in (G, D):
        dd.broadcast_module(info, module)
    before = weights(G, D)
    loss = get_loss("nonsat")(ConstNoise(G), D, None)
    opts = {"G": adam(G.parameters(), 2.5e-3, (0.0, 0.99)), "D": adam(D.parameters(), 2.5e-3, (0.0, 0.99))}
    data = torch.Generator().manual_seed(1)  # the same global batches on every rank
    for step in range(sizes.check_steps):
        real = torch.rand(sizes.ddp_batch, 3, cfg.res, cfg.res, generator=data) * 2 - 1
        z = torch.randn(sizes.ddp_batch, cfg.z_dim, generator=data)
        batch = StepBatch(real[part].to(device), None, z[part].to(device), None, None, step)
        run_phases(loss, {"G": G, "D": D}, opts, batch, StatsCollector(), None, info)
        dd.average_buffers(info, G)  # w_avg moved by each rank's latents, as the trainer does
    return before, weights(G, D)


def same_as_one_process(info: dd.DistInfo, device: torch.device, sizes) -> dict | None:
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        share = sizes.ddp_batch // info.world
        start, split = train_steps(info, device, sizes, slice(info.rank * share, (info.rank + 1) * share))
        if not info.is_main:
            return None
        _, alone = train_steps(dd.DistInfo(), device, sizes, slice(None))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32

    def distance(keys) -> float:
        """How far apart the two runs' weights end, relative to how far training moved them."""
        gap = torch.cat([(split[k] - alone[k]).flatten() for k in keys])
        moved = torch.cat([(alone[k] - start[k]).flatten() for k in keys])
        return float(gap.norm() / moved.norm().clamp_min(1e-12))

    # All the weights together: Adam's first steps move each weight by ±lr whatever its gradient's size, so a
    # few weights whose gradient is ~0 may go either way on either side; a wrong average moves them all.
    overall = distance(list(split))
    worst = max((k for k in split if not torch.equal(alone[k], start[k])), key=lambda k: distance([k]))
    return {"steps": sizes.check_steps, "global_batch": sizes.ddp_batch, "relative_distance": overall,
            "worst_tensor": worst, "worst_tensor_distance": distance([worst]),
            "tolerance": TOLERANCE, "within_tolerance": overall <= TOLERANCE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--size", choices=("full", "tiny"), required=True)
    args = parser.parse_args()
    sizes = FULL if args.size == "full" else TINY
    info = dd.init_distributed("auto")
    device = resolve_device(dd.device_for(info, "auto"))
    backend = dist.get_backend()
    check = same_as_one_process(info, device, sizes)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    from belamy.gan import train
    from belamy.gan.options import TrainOptions

    run = args.work / "run"
    train(TrainOptions.of(corpus=args.corpus, out=run, arch="style", res=sizes.ddp_res, batch=sizes.ddp_batch,
                       kimg=sizes.ddp_kimg, tick_kimg=sizes.ddp_kimg / 2, device="auto", grid_size=4,
                       **train_widths(sizes)))
    result = {"rank": info.rank, "device": str(device), "backend": backend,
              "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None}
    if info.is_main:
        last = read_jsonl(run / "metrics.jsonl")[-1]
        result.update(same_as_one_process=check, train={
            "arch": "style", "res": sizes.ddp_res, "global_batch": sizes.ddp_batch, "kimg": last["kimg"],
            "s_per_kimg_last_tick": last.get("sec_per_kimg"), "world_size": json.loads((run / "run.json").read_text())["world_size"]})
    write_json(args.work / f"rank{info.rank}.json", result)


if __name__ == "__main__":
    main()
