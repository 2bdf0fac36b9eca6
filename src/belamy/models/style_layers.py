"""Building blocks of the style-based GAN, in plain PyTorch (no custom CUDA or C++ ops).

Everything follows StyleGAN2 (Karras et al. 2020): equalised learning rate (weights stored at unit
variance and scaled at run time by 1/sqrt(fan_in)), leaky ReLU with gain sqrt(2), modulated and
demodulated convolutions, and resampling with the binomial [1, 3, 3, 1] filter. The filter runs as
a depthwise ``F.conv2d``, so autograd, double backward (R1), autocast and channels-last all just work.
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
                 down: bool = False, conv_clamp: float | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel * kernel)
        self.activation, self.down, self.padding, self.conv_clamp = activation, down, kernel // 2, conv_clamp
        self.register_buffer("resample_filter", binomial_filter(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        if self.down:
            x = downsample2d(x, self.resample_filter)
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = F.conv2d(x, w, b, padding=self.padding)
        if self.activation:
            return lrelu(x, LRELU_GAIN * gain, None if self.conv_clamp is None else self.conv_clamp * gain)
        x = x * gain if gain != 1.0 else x
        return x if self.conv_clamp is None else x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0) -> torch.Tensor:
    """StyleGAN2's modulated convolution, computed as scale → shared conv → scale.

    Modulating the input channels by the style and demodulating the output channels is the same as
    convolving with a per-sample weight, but keeps one shared weight: an ordinary dense conv,
    fast on CPU and GPU and friendly to channels-last and autocast.
    """
    x = x * styles.to(x.dtype)[:, :, None, None]
    out = F.conv2d(x, weight.to(x.dtype), padding=padding)
    if demodulate:
        # Σ_{i,k}(w_oik · s_i)² = Σ_i s_i² · Σ_k w_oik²: a [B, out] matrix product, no per-sample weights.
        dcoefs = (styles.float().square() @ weight.float().square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()
        out = out * dcoefs.to(out.dtype)[:, :, None, None]
    return out


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution + per-pixel noise + bias + leaky ReLU (optionally ×2 upsampling first)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, size: tuple[int, int], up: bool = False,
                 conv_clamp: float | None = None):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, activation=False, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(size))
        self.register_buffer("resample_filter", binomial_filter(), persistent=False)
        self.up, self.size, self.conv_clamp = up, size, conv_clamp
        self.weight_gain = 1 / math.sqrt(in_channels * 9)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if self.up:
            x = upsample2d(x, self.resample_filter)
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, padding=1)
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
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:  # groups must tile the batch; the odd last batch of a sweep falls back to smaller groups
            g -= 1
        f = self.num_channels
        y = x.float().reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()
        y = y.mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1)
        y = y.repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)
