"""Augmentations that let a GAN learn from a few hundred paintings without D memorising them.

ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): every
transform is applied with probability p to real and fake images alike, differentiably, so G is
never pushed to produce augmented-looking pictures. p is steered by the overfitting heuristic
r_t = E[sign(D(real))]: above the target (0.6) D is too sure of the reals, so p rises; p can go
from 0 to 1 in ``speed_kimg`` (500) thousand images. The pipeline is ADA's 'bgc': geometric
(x-flip, 90° rotations, integer translation, isotropic and anisotropic scaling, arbitrary
rotation, fractional translation, resampled once with ``F.affine_grid``/``F.grid_sample`` and
reflection padding) then colour (brightness, contrast, luma flip, hue rotation, saturation, one
4×4 matrix per image).

DiffAugment (Zhao et al. 2020): colour, translation and cutout applied to every image, always.

All randomness comes from the ``torch.Generator`` passed in, so training stays reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

AUGMENT_KINDS = ("ada", "diffaugment", "none")


# ----------------------------------------------------------------------------- matrices


def _eye(n: int, batch: int, device) -> torch.Tensor:
    return torch.eye(n, device=device).expand(batch, n, n).clone()


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(3, tx.shape[0], tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(3, sx.shape[0], sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    m = _eye(3, theta.shape[0], theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _translate3d(t: torch.Tensor) -> torch.Tensor:
    m = _eye(4, t.shape[0], t.device)
    m[:, :3, 3] = t[:, None]
    return m


def _scale3d(s: torch.Tensor) -> torch.Tensor:
    m = _eye(4, s.shape[0], s.device)
    for i in range(3):
        m[:, i, i] = s
    return m


def _rotate3d(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation by theta about a unit axis (Rodrigues), as a homogeneous 4×4."""
    x, y, z = axis
    c, s = torch.cos(theta), torch.sin(theta)
    cc = 1 - c
    m = _eye(4, theta.shape[0], theta.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s
    m[:, 2, 0], m[:, 2, 1], m[:, 2, 2] = z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c
    return m


# ----------------------------------------------------------------------------- ADA


class AdaptiveAugment(torch.nn.Module):
    """ADA's 'bgc' pipeline with its probability ``p`` steered toward ``target`` by r_t.

    ``p`` and the running r_t sums are buffers, so they travel in checkpoints with the weights.
    """

    def __init__(self, target: float = 0.6, speed_kimg: float = 500.0, interval: int = 4, p: float = 0.0,
                 fixed_p: bool = False):
        super().__init__()
        self.target, self.speed_kimg, self.interval, self.fixed_p = target, speed_kimg, interval, fixed_p
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("sign_sum", torch.zeros([]))
        self.register_buffer("sign_count", torch.zeros([]))
        # ADA's published strengths.
        self.scale_std, self.rotate_max, self.aniso_std, self.xfrac_std, self.xint_max = 0.2, 1.0, 0.2, 0.125, 0.125
        self.brightness_std, self.contrast_std, self.hue_max, self.saturation_std = 0.2, 0.5, 1.0, 1.0

    # -- the heuristic

    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add D's logits on (augmented) reals to the running r_t estimate."""
        real_logits = real_logits.detach().float()
        self.sign_sum += real_logits.sign().sum()
        self.sign_count += real_logits.numel()

    def update(self, batch_images: int, step: int, reduce=None) -> float | None:
        """Every ``interval`` steps: move p by ±(images since last update)/(speed_kimg·1000). Returns r_t."""
        if self.fixed_p or (step + 1) % self.interval:
            return None
        sums = torch.stack([self.sign_sum, self.sign_count])
        if reduce is not None:
            sums = reduce(sums)
        self.sign_sum.zero_()
        self.sign_count.zero_()
        if sums[1] <= 0:
            return None
        r_t = sums[0] / sums[1]
        adjust = torch.sign(r_t - self.target) * (batch_images * self.interval) / (self.speed_kimg * 1000)
        self.p.copy_((self.p + adjust).clamp(0.0, 1.0))
        return float(r_t)

    # -- the transforms

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        p = float(self.p)
        if p <= 0:
            return images
        images = self._geometric(images, p, generator)
        return self._colour(images, p, generator)

    def _rand(self, n, generator, device) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=device)

    def _randn(self, n, generator, device) -> torch.Tensor:
        return torch.randn(n, generator=generator, device=device)

    def _gate(self, values: torch.Tensor, p: float, neutral: float, generator) -> torch.Tensor:
        keep = self._rand(values.shape[0], generator, values.device) < p
        return torch.where(keep, values, torch.full_like(values, neutral))

    def _geometric(self, images: torch.Tensor, p: float, generator) -> torch.Tensor:
        n, _, h, w = images.shape
        dev = images.device
        # Output pixel coords → input pixel coords, about the image centre (in pixels, so rotations
        # stay rotations on non-square images).
        m = _eye(3, n, dev)
        i = self._gate(torch.floor(self._rand(n, generator, dev) * 2), p, 0, generator)
        m = m @ _scale2d(1 - 2 * i, torch.ones_like(i))
        i = self._gate(torch.floor(self._rand(n, generator, dev) * 4), p, 0, generator)
        m = m @ _rotate2d(-math.pi / 2 * i)
        tx = self._gate((self._rand(n, generator, dev) * 2 - 1) * self.xint_max, p, 0, generator)
        ty = self._gate((self._rand(n, generator, dev) * 2 - 1) * self.xint_max, p, 0, generator)
        m = m @ _translate2d(torch.round(tx * w), torch.round(ty * h))
        s = self._gate(torch.exp2(self._randn(n, generator, dev) * self.scale_std), p, 1, generator)
        m = m @ _scale2d(s, s)
        p_rot = 1 - math.sqrt(max(0.0, 1 - p))  # two rotations: the chance of at least one is p
        theta = self._gate((self._rand(n, generator, dev) * 2 - 1) * math.pi * self.rotate_max, p_rot, 0, generator)
        m = m @ _rotate2d(-theta)
        s = self._gate(torch.exp2(self._randn(n, generator, dev) * self.aniso_std), p, 1, generator)
        m = m @ _scale2d(s, 1 / s)
        theta = self._gate((self._rand(n, generator, dev) * 2 - 1) * math.pi * self.rotate_max, p_rot, 0, generator)
        m = m @ _rotate2d(-theta)
        tx = self._gate(self._randn(n, generator, dev) * self.xfrac_std, p, 0, generator)
        ty = self._gate(self._randn(n, generator, dev) * self.xfrac_std, p, 0, generator)
        m = m @ _translate2d(tx * w, ty * h)
        # Pixel coordinates → the [-1, 1] coordinates affine_grid works in.
        to_norm = _scale2d(torch.full((n,), 2.0 / w, device=dev), torch.full((n,), 2.0 / h, device=dev))
        to_pix = _scale2d(torch.full((n,), w / 2.0, device=dev), torch.full((n,), h / 2.0, device=dev))
        theta_norm = (to_norm @ m @ to_pix)[:, :2, :]
        grid = F.affine_grid(theta_norm.to(images.dtype), [n, images.shape[1], h, w], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _colour(self, images: torch.Tensor, p: float, generator) -> torch.Tensor:
        n, c, h, w = images.shape
        if c != 3:
            return images
        dev = images.device
        m = _eye(4, n, dev)
        luma = torch.tensor([1.0, 1.0, 1.0, 0.0], device=dev) / math.sqrt(3)
        b = self._gate(self._randn(n, generator, dev) * self.brightness_std, p, 0, generator)
        m = _translate3d(b) @ m
        s = self._gate(torch.exp2(self._randn(n, generator, dev) * self.contrast_std), p, 1, generator)
        m = _scale3d(s) @ m
        outer = torch.outer(luma, luma)
        i = self._gate(torch.floor(self._rand(n, generator, dev) * 2), p, 0, generator)
        m = (torch.eye(4, device=dev) - 2 * outer * i[:, None, None]) @ m
        theta = self._gate((self._rand(n, generator, dev) * 2 - 1) * math.pi * self.hue_max, p, 0, generator)
        m = _rotate3d(luma[:3], theta) @ m  # hue: rotate about the grey axis
        s = self._gate(torch.exp2(self._randn(n, generator, dev) * self.saturation_std), p, 1, generator)
        m = (outer + (torch.eye(4, device=dev) - outer) * s[:, None, None]) @ m
        m = m.to(images.dtype)
        flat = images.reshape(n, c, h * w)
        out = m[:, :3, :3] @ flat + m[:, :3, 3:]
        return out.reshape(n, c, h, w)


# ----------------------------------------------------------------------------- DiffAugment


class DiffAugment(torch.nn.Module):
    """DiffAugment's 'color,translation,cutout', applied to every image, differentiably."""

    def __init__(self, policy: str = "color,translation,cutout", translation_ratio: float = 0.125,
                 cutout_ratio: float = 0.5):
        super().__init__()
        self.policy = [p for p in policy.split(",") if p]
        self.translation_ratio, self.cutout_ratio = translation_ratio, cutout_ratio

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for name in self.policy:
            x = getattr(self, f"_{name}")(x, generator)
        return x

    def _color(self, x, g):
        n, dev = x.shape[0], x.device
        x = x + (torch.rand(n, 1, 1, 1, generator=g, device=dev).to(x.dtype) - 0.5)  # brightness
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, generator=g, device=dev).to(x.dtype) * 2) + mean  # saturation
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (torch.rand(n, 1, 1, 1, generator=g, device=dev).to(x.dtype) + 0.5) + mean  # contrast

    def _translation(self, x, g):
        n, _, h, w = x.shape
        dev = x.device
        sy, sx = int(h * self.translation_ratio + 0.5), int(w * self.translation_ratio + 0.5)
        ty = torch.randint(-sy, sy + 1, (n, 1, 1), generator=g, device=dev)
        tx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=g, device=dev)
        gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
        gy = (gy[None] + ty + 1).clamp(0, h + 1)
        gx = (gx[None] + tx + 1).clamp(0, w + 1)
        padded = F.pad(x, (1, 1, 1, 1))  # out-of-frame pixels read the zero border
        index = (gy * (w + 2) + gx).reshape(n, 1, h * w).expand(-1, x.shape[1], -1)
        return padded.flatten(2).gather(2, index).reshape_as(x)

    def _cutout(self, x, g):
        n, _, h, w = x.shape
        dev = x.device
        ch, cw = int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5)
        oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g, device=dev)
        ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g, device=dev)
        gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
        # Zero a ch×cw box whose top-left corner is (oy - ch//2, ox - cw//2), as DiffAugment places it.
        inside = ((gy[None] >= oy - ch // 2) & (gy[None] < oy - ch // 2 + ch)
                  & (gx[None] >= ox - cw // 2) & (gx[None] < ox - cw // 2 + cw))
        return x * (~inside).unsqueeze(1).to(x.dtype)


def make_augment(kind: str, target: float = 0.6, speed_kimg: float = 500.0, p: float = 0.0):
    """The augmentation module for ``--augment``; None for 'none'. ``p``: ADA's starting probability."""
    if kind == "ada":
        return AdaptiveAugment(target=target, speed_kimg=speed_kimg, p=p)
    if kind == "diffaugment":
        return DiffAugment()
    if kind == "none":
        return None
    raise ValueError(f"unknown augmentation {kind!r}")
