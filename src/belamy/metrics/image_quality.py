"""PSNR and SSIM of enlarged pictures against the originals (uint8 NHWC arrays of one shape).

PSNR is over all three colour channels; SSIM (Wang et al., 2004: 11×11 Gaussian window, σ 1.5,
K1 0.01, K2 0.03) over luminance (BT.601), as super-resolution papers report it. Both are means
over the pictures.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def psnr(images: np.ndarray, originals: np.ndarray) -> float:
    mse = ((images.astype(np.float64) - originals.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    return float(np.mean([10 * math.log10(255.0**2 / max(m, 1e-10)) for m in mse]))


def _luma(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images.astype(np.float32))
    return (x @ torch.tensor([0.299, 0.587, 0.114]))[:, None]  # [N, 1, H, W]


def ssim(images: np.ndarray, originals: np.ndarray) -> float:
    a, b = _luma(images), _luma(originals)
    taps = torch.exp(-0.5 * ((torch.arange(11) - 5.0) / 1.5) ** 2)
    taps = taps / taps.sum()
    window = (taps[:, None] * taps[None, :])[None, None]

    def mean(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = mean(a), mean(b)
    var_a, var_b = mean(a * a) - mu_a**2, mean(b * b) - mu_b**2
    cov = mean(a * b) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(value.mean(dim=(1, 2, 3)).mean())
