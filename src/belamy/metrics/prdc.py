"""Precision, recall, density and coverage (Naeem et al., 2020) on the features of a seeded random CNN.

Fidelity and diversity kept apart: precision is the share of generated pictures that fall inside
the k-nearest-neighbour balls of the paintings (do they look like paintings?), recall the share of
paintings inside the balls of the generated pictures (is every kind of painting drawn?); density
and coverage are the versions less swayed by outliers. All four are ~1 for a model that draws the
paintings' distribution (density can exceed 1) and 0 for pictures nothing like them. The features
are a randomly initialised network's (belamy.metrics.features.conv_net, fixed by ``seed``): no
downloaded weights.
"""

from __future__ import annotations

import torch

from belamy.metrics.features import as_unit_nchw, conv_net, low_pass, seeded

K = 5


def random_features(images, seed: int = 0, structure: bool = False) -> torch.Tensor:
    """[N, D] features of a randomly initialised CNN, standardised per dimension by nothing but the net."""
    x = as_unit_nchw(images)
    if structure:
        x = low_pass(x)
    net = seeded(seed, lambda: conv_net(x.shape[-1], width=32)).eval()
    with torch.no_grad():
        return torch.cat([net(b) for b in x.split(128)])


def prdc_from_features(real: torch.Tensor, fake: torch.Tensor, k: int = K) -> dict:
    k = min(k, len(real) - 1, len(fake) - 1)
    real_d, fake_d = torch.cdist(real, real), torch.cdist(fake, fake)
    real_radius = real_d.kthvalue(k + 1, dim=1).values  # +1: each point is its own nearest neighbour
    fake_radius = fake_d.kthvalue(k + 1, dim=1).values
    cross = torch.cdist(real, fake)  # [real, fake]
    inside = cross < real_radius[:, None]
    return {"precision": inside.any(dim=0).float().mean().item(),
            "recall": (cross < fake_radius[None, :]).any(dim=1).float().mean().item(),
            "density": (inside.sum(dim=0).float() / k).mean().item(),
            "coverage": (cross.min(dim=1).values < real_radius).float().mean().item()}


def prdc(reals, fakes, seed: int = 0, structure: bool = False, k: int = K) -> dict:
    """Precision, recall, density and coverage of ``fakes`` against ``reals`` (uint8 NHWC or float NCHW 0..255)."""
    return prdc_from_features(random_features(reals, seed, structure), random_features(fakes, seed, structure), k)
