"""Data-parallel training with ``torchrun``: one process per device, gradients averaged by hand.

GAN steps freeze and unfreeze networks between phases and run D several times per backward, which
``DistributedDataParallel``'s hooks handle badly; averaging the gradients of each phase explicitly
(one flat all-reduce per phase, as StyleGAN3 does) is simple and exact. Every rank starts from the
same weights (same seed, then a broadcast from rank 0), so averaged gradients keep them identical.
Only rank 0 writes files. NCCL on CUDA, gloo on CPU, and gloo too where more processes than GPUs
share a machine (NCCL refuses two ranks on one GPU): ranks then take the GPUs in turn.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def init_distributed(device_name: str) -> DistInfo:
    """Join the process group torchrun set up (a no-op for a single process)."""
    if not launched_by_torchrun():
        return DistInfo()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda and not gpus_shared() else "gloo")
    return DistInfo(rank, world, local_rank)


def gpus_shared() -> bool:
    """More processes on this machine than it has GPUs: some ranks share one."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return local_world > torch.cuda.device_count()


def device_for(info: DistInfo, device_name: str) -> str:
    """Each rank on its own GPU; 'auto'/'cuda' under torchrun becomes cuda:LOCAL_RANK."""
    if info.enabled and device_name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{info.local_rank % torch.cuda.device_count()}"
    return device_name


def shutdown(info: DistInfo, finished: bool = True) -> None:
    """Leave the process group. After a run that finished, every rank first waits for the others, so
    none closes its connections while another (rank 0, writing the last files) still holds them; a
    rank that failed leaves at once, as the others may never arrive. The group's threads are then
    collected while the interpreter is whole, not during its teardown (where gloo can abort)."""
    if info.enabled and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def all_reduce_mean(info: DistInfo):
    """A ``reduce`` for StatsCollector.means and the ADA statistics: the mean over ranks (None alone)."""
    return _all_reduce(info, mean=True)


def all_reduce_sum(info: DistInfo):
    """Likewise, the sum over ranks."""
    return _all_reduce(info, mean=False)


def _all_reduce(info: DistInfo, mean: bool):
    if not info.enabled:
        return None

    def reduce(t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t / info.world if mean else t

    return reduce


def average_gradients(info: DistInfo, module: nn.Module) -> None:
    """Average this phase's gradients over ranks in one flat all-reduce."""
    if not info.enabled:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    flat /= info.world
    # nan_to_num: one rank's overflow must not poison every rank's weights (as StyleGAN3 does).
    torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def broadcast_module(info: DistInfo, module: nn.Module) -> None:
    """Make every rank's parameters and buffers rank 0's."""
    if not info.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        _in_place(t, lambda flat: dist.broadcast(flat, src=0))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def average_buffers(info: DistInfo, module: nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks, so that every rank
    holds, and rank 0 saves, statistics of the whole corpus rather than of its own shard."""
    if not info.enabled:
        return
    def mean_over_ranks(flat: torch.Tensor) -> None:
        dist.all_reduce(flat)
        flat.div_(info.world)

    for t in module.buffers():
        if t.is_floating_point():
            _in_place(t, mean_over_ranks)


def _in_place(t: torch.Tensor, collective) -> None:
    """Run ``collective`` on ``t``'s data in the standard layout (channels-last tensors travel that
    way) and write the result back into ``t``."""
    flat = t.data.contiguous()
    collective(flat)
    if flat.data_ptr() != t.data.data_ptr():
        t.data.copy_(flat)
