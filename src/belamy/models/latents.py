"""Latent vectors from seeds: the same seed gives the same z on every machine and device.

Two schemes: belamy's (a torch generator per seed), and ``numpy-randomstate``, StyleGAN2-ADA's
``generate.py`` (``np.random.RandomState(seed).randn(1, z_dim)``), which runs imported from NVlabs
pickles use, so that a seed draws the image it draws there.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from belamy.errors import BelamyError

SEED_SCHEMES = ("belamy", "numpy-randomstate")
SEED_MAX = 2**64 - 1  # a torch generator's seed is 64 bits: a larger one would silently wrap to another's


def check_seed(seed, what: str = "--seed") -> int:
    """``seed`` if it is a whole number in 0 .. 2**64 - 1, else one clear error (never a silent wrap)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        shown = str(seed) if len(str(seed)) <= 30 else str(seed)[:27] + "..."
        raise BelamyError(f"{what} {shown} is out of range", f"use a whole number from 0 to {SEED_MAX} (2**64 - 1)")
    return seed


def latents_for_seeds(seeds: Iterable[int], z_dim: int, scheme: str | None = None) -> torch.Tensor:
    """One standard-normal z per seed, drawn on the CPU so the values never depend on the device."""
    scheme = scheme or "belamy"
    if scheme == "numpy-randomstate":
        rows = []
        for s in seeds:
            if not 0 <= int(s) < 2**32:
                raise BelamyError(f"seed {s} is out of range for this model", "its seeds run from 0 to 4294967295")
            rows.append(torch.from_numpy(np.random.RandomState(int(s)).randn(z_dim)).float())
    elif scheme == "belamy":
        rows = [torch.randn(z_dim, generator=torch.Generator().manual_seed(check_seed(s, "seed"))) for s in seeds]
    else:
        raise BelamyError(f"unknown seed scheme {scheme!r}", f"this belamy knows {', '.join(SEED_SCHEMES)}")
    return torch.stack(rows) if rows else torch.empty(0, z_dim)
