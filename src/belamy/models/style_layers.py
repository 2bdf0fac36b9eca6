"""Building blocks of the style-based GAN, in plain PyTorch (no custom CUDA or C++ ops).

Everything follows StyleGAN2 (Karras et al. 2020): equalised learning rate (weights stored at unit
variance and scaled at run time by 1/sqrt(fan_in)), leaky ReLU with gain sqrt(2), modulated and
demodulated convolutions, and resampling with the binomial [1, 3, 3, 1] filter. The filter runs as
a depthwise ``F.conv2d``, so autograd, double backward (R1), autocast and channels-last all just work.

Two layer variants (``exact`` below): the StyleGAN2-ADA reference's function (NVlabs'
``conv2d_resample``: the ×2 conv is a transposed convolution then the blur; the ÷2 3×3 conv is the
blur at full resolution then a stride-2 conv; demodulation's 1e-8 on the unscaled weights), and
belamy's first layers (blur, ×2, then a 3×3 correlation; ÷2 then a 3×3 conv), which runs made before
the exact ones keep so that they draw what they drew.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)


def lrelu(x: torch.Tensor, gain: float = LRELU_GAIN, clamp: float | None = None) -> torch.Tensor:
    x = F.leaky_relu(x, 0.2) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def binomial_filter(taps: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)) -> torch.Tensor:
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], stride: int = 1) -> torch.Tensor:
    channels = x.shape[1]
    weight = f.to(dtype=x.dtype, device=x.device)[None, None].expand(channels, 1, *f.shape)
    x = F.pad(x, pad)
    return F.conv2d(x, weight, stride=stride, groups=channels)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """×2 upsampling: zero-insertion then the blur filter (gain 4 keeps the mean), as upfirdn2d(up=2)."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, h, 2, w, 2)
    up[:, :, :, 0, :, 0] = x
    up = up.reshape(n, c, h * 2, w * 2)
    # A 4-tap filter after ×2 zero-insertion needs 2 pixels before and 1 after to stay centred.
    return _depthwise(up, f * 4, (2, 1, 2, 1))


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """÷2 downsampling: the blur filter then every other pixel, as upfirdn2d(down=2)."""
    return _depthwise(x, f, (1, 1, 1, 1), stride=2)


def upsample_conv2d(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """×2 upsampling 3×3 conv as the reference computes it: a stride-2 transposed convolution
    (a true convolution: the kernel acts flipped against ``F.conv2d``) to 2H+1, then the blur (gain 4)
    padded by 1, which brings it back to 2H with nothing cropped."""
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    return _depthwise(x, f * 4, (1, 1, 1, 1))


def blur_conv2d_down(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """÷2 downsampling k×k conv as the reference computes it: the blur at full resolution (padded so
    the strided conv lands centred), then a stride-2 conv with no further padding."""
    pad = (f.shape[-1] - 2 + 1) // 2 + weight.shape[-1] // 2  # 2 for the 4-tap filter and a 3×3 kernel
    x = _depthwise(x, f, (pad, pad, pad, pad))
    return F.conv2d(x, weight, bias, stride=2)


class FullyConnected(nn.Module):
    def __init__(self, in_features: int, out_features: int, activation: bool = True, bias_init: float = 0.0,
                 lr_multiplier: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.activation = activation
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain
        x = F.linear(x, w, b)
        return lrelu(x) if self.activation else x


class Conv2d(nn.Module):
    """Equalised-lr convolution for the discriminator, optionally halving the resolution first."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True, activation: bool = True,
                 down: bool = False, conv_clamp: float | None = None, exact: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel * kernel)
        self.activation, self.down, self.padding, self.conv_clamp = activation, down, kernel // 2, conv_clamp
        # A 1×1 kernel commutes with the subsampling, so both variants downsample first for it.
        self.blur_then_stride = exact and down and kernel > 1
        self.register_buffer("resample_filter", binomial_filter(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        if self.blur_then_stride:
            x = blur_conv2d_down(x, w, self.resample_filter, b)
        else:
            if self.down:
                x = downsample2d(x, self.resample_filter)
            x = F.conv2d(x, w, b, padding=self.padding)
        if self.activation:
            return lrelu(x, LRELU_GAIN * gain, None if self.conv_clamp is None else self.conv_clamp * gain)
        x = x * gain if gain != 1.0 else x
        return x if self.conv_clamp is None else x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, eps: float = 1e-8, up_filter: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2's modulated convolution, computed as scale → shared conv → scale.

    Modulating the input channels by the style and demodulating the output channels is the same as
    convolving with a per-sample weight, but keeps one shared weight: an ordinary dense conv,
    fast on CPU and GPU and friendly to channels-last and autocast. ``eps`` is added to the sum of
    squares of the modulated weight; ``up_filter`` makes it the ×2 ``upsample_conv2d``.
    """
    x = x * styles.to(x.dtype)[:, :, None, None]
    if up_filter is not None:
        out = upsample_conv2d(x, weight.to(x.dtype), up_filter)
    else:
        out = F.conv2d(x, weight.to(x.dtype), padding=padding)
    if demodulate:
        # Σ_{i,k}(w_oik · s_i)² = Σ_i s_i² · Σ_k w_oik²: a [B, out] matrix product, no per-sample weights.
        # In float32 at least: under fp16 autocast the sums of squares would lose precision.
        wide = torch.promote_types(styles.dtype, torch.float32)
        dcoefs = (styles.to(wide).square() @ weight.to(wide).square().sum(dim=(2, 3)).t() + eps).rsqrt()
        out = out * dcoefs.to(out.dtype)[:, :, None, None]
    return out


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution + per-pixel noise + bias + leaky ReLU (optionally ×2 upsampling first)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, size: tuple[int, int], up: bool = False,
                 conv_clamp: float | None = None, exact: bool = True):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, activation=False, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(size))
        self.register_buffer("resample_filter", binomial_filter(), persistent=False)
        self.up, self.size, self.conv_clamp, self.exact = up, size, conv_clamp, exact
        self.weight_gain = 1 / math.sqrt(in_channels * 9)
        # Styles are pre-scaled by weight_gain (which demodulation cancels) to keep fp16 in range; the
        # reference adds its 1e-8 to the unscaled weights, i.e. 1e-8 · gain² on the scaled ones.
        self.demod_eps = 1e-8 * self.weight_gain**2 if exact else 1e-8

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if self.up and self.exact:
            x = modulated_conv2d(x, self.weight, styles, eps=self.demod_eps, up_filter=self.resample_filter)
        else:
            if self.up:
                x = upsample2d(x, self.resample_filter)
            x = modulated_conv2d(x, self.weight, styles, demodulate=True, padding=1, eps=self.demod_eps)
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *self.size, device=x.device, generator=generator).to(x.dtype)
            x = x + noise * self.noise_strength.to(x.dtype)
        elif noise_mode == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        x = x + self.bias.to(x.dtype)[None, :, None, None]
        return lrelu(x, clamp=self.conv_clamp)


class ToRGB(nn.Module):
    """Modulated 1×1 convolution to RGB, without demodulation (the skip output of a block)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, activation=False, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        x = x + self.bias.to(x.dtype)[None, :, None, None]
        return x if self.conv_clamp is None else x.clamp(-self.conv_clamp, self.conv_clamp)


class MinibatchStd(nn.Module):
    """Appends the standard deviation of features over small groups: lets D see a lack of variety."""

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels  # group_size 0: the whole batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size else n
        while n % g:  # groups must tile the batch; the odd last batch of a sweep falls back to smaller groups
            g -= 1
        f = self.num_channels
        y = x.float().reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()
        y = y.mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1)
        y = y.repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)
