"""Sliced Wasserstein Distance between two image sets, as Karras et al. (2018, ProGAN) define it.

For each level of a Laplacian pyramid (full resolution down to 16², Gaussian 5×5 from the
separable [1, 4, 6, 4, 1]/16, mirrored borders, like cv2.pyrDown/pyrUp), take 128 random 7×7
neighbourhoods per image as descriptors (3·7·7 = 147 numbers), normalise each colour channel by the
mean and standard deviation over all descriptors of that set and level, then project both sets
onto 4 × 128 random unit directions and average |sorted(A·d) − sorted(B·d)|. Reported ×10³ per
level and averaged: lower is better, and identical sets give ~0.

Pixel values are in 0..255 as in the reference, so figures are comparable with published ones
(for the same image counts; the paper used 16384 images).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NHOOD = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_RES = 16

_TAPS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Separable 5×5 Gaussian with mirrored borders ('reflect' = scipy's 'mirror')."""
    c = x.shape[1]
    k = (_TAPS * gain**0.5).to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, h * 2, w * 2)
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=4.0)


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    pyramid = [images.float()]
    for _ in range(1, levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1])
    return pyramid


def pyramid_levels(height: int, width: int) -> list[int]:
    """Level sizes (the shorter side) from full resolution down to 16."""
    sizes, s = [], min(height, width)
    while s >= MIN_RES:
        sizes.append(s)
        s //= 2
    return sizes


def as_float_nchw(images) -> torch.Tensor:
    """uint8 NHWC arrays (belamy's corpus format) or float NCHW tensors in 0..255, as float NCHW."""
    if isinstance(images, np.ndarray):
        images = np.ascontiguousarray(images)
        if not images.flags.writeable:  # a memory-mapped corpus: torch wants memory it may write
            images = images.copy()
        images = torch.from_numpy(images)
        if images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.permute(0, 3, 1, 2)
    return images.float()


def descriptors(images, generator: torch.Generator, batch: int = 64) -> list[torch.Tensor]:
    """Per pyramid level: [N·128, 3·7·7] normalised neighbourhood descriptors."""
    images = as_float_nchw(images)
    n, _, h, w = images.shape
    levels = len(pyramid_levels(h, w))
    if levels == 0:
        raise ValueError(f"images of {h}×{w} are smaller than {MIN_RES}²: SWD needs at least one 16² level")
    half = NHOOD // 2
    per_level: list[list[torch.Tensor]] = [[] for _ in range(levels)]
    for start in range(0, n, batch):
        pyramid = laplacian_pyramid(images[start : start + batch], levels)
        for lod, level in enumerate(pyramid):
            b, c, lh, lw = level.shape
            count = b * NHOODS_PER_IMAGE
            ys = torch.randint(half, lh - half, (count,), generator=generator)
            xs = torch.randint(half, lw - half, (count,), generator=generator)
            img = torch.arange(b).repeat_interleave(NHOODS_PER_IMAGE)
            offs = torch.arange(-half, half + 1)
            yy = (ys[:, None] + offs[None, :])[:, :, None]  # [count, 7, 1]
            xx = (xs[:, None] + offs[None, :])[:, None, :]  # [count, 1, 7]
            patches = level[img[:, None, None], :, yy, xx]  # [count, 7, 7, c]
            per_level[lod].append(patches.permute(0, 3, 1, 2))
    out = []
    for chunks in per_level:
        desc = torch.cat(chunks).double()
        desc = desc - desc.mean(dim=(0, 2, 3), keepdim=True)
        desc = desc / desc.std(dim=(0, 2, 3), keepdim=True, correction=0).clamp_min(1e-12)
        out.append(desc.reshape(desc.shape[0], -1).float())
    return out


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator,
                       dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT) -> float:
    """Mean over random unit directions of the mean |sorted(A·d) − sorted(B·d)|."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    results = []
    for _ in range(dir_repeats):
        dirs = torch.randn(a.shape[1], dirs_per_repeat, generator=generator)
        dirs = dirs / dirs.square().sum(dim=0, keepdim=True).sqrt()
        # numpy's sort along the contiguous last axis is ~10× faster than torch.sort on a CPU.
        proj_a = np.sort((dirs.t() @ a.t()).numpy(), axis=1)
        proj_b = np.sort((dirs.t() @ b.t()).numpy(), axis=1)
        results.append(float(np.abs(proj_a - proj_b).mean(dtype=np.float64)))
    return float(np.mean(results))


def swd(images_a, images_b, seed: int = 0) -> dict[str, float]:
    """SWD×10³ between two equally sized image sets, per level (``swd_64``, ``swd_32``, ...) and ``swd``.

    Images: uint8 [N, H, W, 3] arrays or float [N, 3, H, W] tensors in 0..255.
    """
    a, b = as_float_nchw(images_a), as_float_nchw(images_b)
    if len(a) != len(b):
        raise ValueError(f"SWD compares sets of the same size, not {len(a)} and {len(b)}")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"SWD compares images of the same shape, not {tuple(a.shape[1:])} and {tuple(b.shape[1:])}")
    # The same neighbourhood positions in both sets (common random numbers): identical sets give
    # exactly 0 and differences are not drowned in sampling noise.
    desc_a = descriptors(a, torch.Generator().manual_seed(seed))
    desc_b = descriptors(b, torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed((seed + 1) % 2**64)  # the largest seed wraps to 0, not an error
    sizes = pyramid_levels(a.shape[2], a.shape[3])
    result = {}
    for size, da, db in zip(sizes, desc_a, desc_b, strict=True):
        result[f"swd_{size}"] = sliced_wasserstein(da, db, g) * 1e3
    result["swd"] = float(np.mean([result[f"swd_{s}"] for s in sizes]))
    return result


def images_to_uint8_nchw(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] → float 0..255 as the metric expects (rounded like saved PNGs)."""
    return images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().cpu()
