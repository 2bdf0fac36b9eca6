"""Small convolutional networks and image views shared by the two-sample test and precision/recall.

Neither measure downloads weights: the two-sample test trains :func:`conv_net` from scratch, and
precision/recall use one left at its seeded random initialisation (random features rank generative
models about as well as trained ones: Naeem et al., 2020). :func:`low_pass` is the structure view:
at 16² the brushwork and noise are gone and what is left is where the eyes, mouth and lights sit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from belamy.metrics.swd import as_float_nchw

LOW_PASS_SIDE = 16


def as_unit_nchw(images) -> torch.Tensor:
    """uint8 NHWC arrays or float NCHW tensors in 0..255, as float NCHW in [-1, 1]."""
    return as_float_nchw(images) / 127.5 - 1.0


def low_pass(images: torch.Tensor, side: int = LOW_PASS_SIDE) -> torch.Tensor:
    """Float NCHW images averaged down to ``side``² (area filter: no aliasing, no texture left)."""
    if min(images.shape[-2:]) <= side:
        return images
    return F.interpolate(images, size=(side, side), mode="area")


def conv_net(side: int, width: int = 16, outputs: int | None = None) -> nn.Sequential:
    """Stride-2 3×3 convolutions down to about 4², widths doubling from ``width`` up to 8×; then
    global mean and max pooling (2 × the last width features), and a linear layer if ``outputs``."""
    depth = max(1, min(5, int(math.log2(max(side, 8))) - 2))
    layers: list[nn.Module] = []
    channels = 3
    for i in range(depth):
        out = width * min(2**i, 8)
        layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
        channels = out
    layers.append(_MeanMaxPool())
    if outputs is not None:
        layers.append(nn.Linear(2 * channels, outputs))
    return nn.Sequential(*layers)


class _MeanMaxPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


def seeded(seed: int, make):
    """``make()`` with torch's global RNG seeded, leaving the caller's RNG state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()
