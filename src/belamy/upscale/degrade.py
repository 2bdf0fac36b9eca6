"""Synthetic degradations in the style of Real-ESRGAN (Wang et al., 2021): HR patch -> plausible LR patch.

An SR network learns to undo what it is shown. Generated portraits are soft, a little noisy and
sometimes blocky, so the training pairs are made by degrading real paintings the same ways, in a
random order of strengths: blur with a random isotropic or anisotropic Gaussian kernel, a random
resize, Gaussian or Poisson noise, JPEG compression (PIL, in memory), and a final resize to the
low resolution. Every random choice comes from one numpy Generator, whose state a checkpoint keeps.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_MODES = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.BOX, Image.Resampling.LANCZOS)


@dataclass
class DegradationConfig:
    blur_prob: float = 0.9
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13)
    sigma_range: tuple[float, float] = (0.2, 2.5)
    anisotropic_prob: float = 0.5
    resize_range: tuple[float, float] = (0.6, 1.3)  # intermediate size relative to the final LR size
    noise_prob: float = 0.7
    gaussian_sigma_range: tuple[float, float] = (1.0, 12.0)  # in 0-255 units
    gray_noise_prob: float = 0.4
    poisson_log2_range: tuple[float, float] = (7.0, 11.0)  # photons per unit intensity: 2**7 .. 2**11
    jpeg_prob: float = 0.8
    jpeg_quality_range: tuple[int, int] = (35, 95)

    def to_dict(self) -> dict:
        return asdict(self)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, angle: float) -> np.ndarray:
    """A normalised (possibly anisotropic, rotated) Gaussian kernel, ``size`` × ``size``."""
    r = (size - 1) / 2.0
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).astype(np.float32)


def random_kernel(rng: np.random.Generator, cfg: DegradationConfig) -> np.ndarray:
    size = int(rng.choice(cfg.kernel_sizes))
    sx = rng.uniform(*cfg.sigma_range)
    if rng.random() < cfg.anisotropic_prob:
        sy, angle = rng.uniform(*cfg.sigma_range), rng.uniform(0, np.pi)
    else:
        sy, angle = sx, 0.0
    return gaussian_kernel(size, sx, sy, angle)


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Float HWC image convolved per channel with ``kernel`` (reflect padding)."""
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[:, None]
    pad = kernel.shape[0] // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(x, torch.from_numpy(kernel)[None, None])
    return y[:, 0].numpy().transpose(1, 2, 0)


def _resize(img: np.ndarray, size: tuple[int, int], mode) -> np.ndarray:
    """Float HWC in [0, 255] resized to (w, h) through PIL's float mode, channel by channel."""
    chans = [np.asarray(Image.fromarray(img[..., c], "F").resize(size, mode)) for c in range(img.shape[2])]
    return np.stack(chans, axis=2)


def add_noise(img: np.ndarray, rng: np.random.Generator, cfg: DegradationConfig) -> np.ndarray:
    gray = rng.random() < cfg.gray_noise_prob
    shape = img.shape[:2] + ((1,) if gray else (img.shape[2],))
    if rng.random() < 0.5:
        return img + rng.normal(0.0, rng.uniform(*cfg.gaussian_sigma_range), shape).astype(np.float32)
    photons = 2.0 ** rng.uniform(*cfg.poisson_log2_range)
    base = np.clip(img, 0, 255) / 255.0
    if gray:
        lum = base.mean(axis=2, keepdims=True)
        return img + ((rng.poisson(lum * photons) / photons - lum) * 255.0).astype(np.float32)
    return (rng.poisson(base * photons) / photons * 255.0).astype(np.float32)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def shrink_bicubic(hr: np.ndarray, scale: int) -> np.ndarray:
    """A uint8 HR image [H, W, 3] -> [H/scale, W/scale, 3] by a plain bicubic resize: the clean, textbook input."""
    h, w = hr.shape[:2]
    return np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.Resampling.BICUBIC))


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator, cfg: DegradationConfig | None = None) -> np.ndarray:
    """A uint8 HR patch [H, W, 3] -> a uint8 LR patch [H/scale, W/scale, 3]."""
    cfg = cfg or DegradationConfig()
    h, w = hr.shape[:2]
    lr_size = (w // scale, h // scale)
    img = hr.astype(np.float32)
    if rng.random() < cfg.blur_prob:
        img = blur(img, random_kernel(rng, cfg))
    u = rng.uniform(*cfg.resize_range)
    mid = (max(2, round(lr_size[0] * u)), max(2, round(lr_size[1] * u)))
    img = _resize(img, mid, _MODES[rng.integers(len(_MODES))])
    if rng.random() < cfg.noise_prob:
        img = add_noise(img, rng, cfg)
    if rng.random() < cfg.jpeg_prob:
        img = jpeg(img, rng.integers(cfg.jpeg_quality_range[0], cfg.jpeg_quality_range[1] + 1))
    img = _resize(img, lr_size, _MODES[rng.integers(len(_MODES))])
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
