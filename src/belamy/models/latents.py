"""Latent vectors from seeds: the same seed gives the same z on every machine and device."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def latents_for_seeds(seeds: Iterable[int], z_dim: int) -> torch.Tensor:
    """One standard-normal z per seed, drawn on the CPU so the values never depend on the device."""
    rows = [torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s) & 0xFFFF_FFFF_FFFF_FFFF)) for s in seeds]
    return torch.stack(rows) if rows else torch.empty(0, z_dim)
