"""StyleGAN3 (alias-free) generators, -T and -R, in plain PyTorch: the function of NVlabs/stylegan3.

The generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"):

- a mapping network z (+ class) → w with a tracked ``w_avg`` for truncation (StyleGAN2's, shared);
- a synthesis *input*: Fourier features of a fixed set of random frequencies, rotated and shifted by
  an affine of the first w (and by a user transform), through a learned channel mix;
- ``num_layers`` synthesis layers, each a modulated convolution then a *filtered leaky ReLU*: the
  signal is upsampled with a windowed-sinc low-pass (×2 by default), the nonlinearity runs at that
  higher rate, then a second low-pass brings it down to the layer's own sampling rate. Cutoffs and
  stopbands follow a geometric schedule from the first layer to the last (critically sampled) ones;
  the filters are designed here from the config (Kaiser-windowed sinc, or for -R a radially
  symmetric jinc for downsampling), as the reference designs them with scipy;
- a last 1×1 layer to RGB, scaled by ``output_scale``.

-R (``cfg r``) uses 1×1 convolutions (``conv_kernel`` 1), twice the channels and radial filters.
Each layer keeps a running mean of its input's magnitude (``magnitude_ema``) that scales its input.

The discriminator is belamy's StyleGAN2 one: NVlabs/stylegan3 trains StyleGAN3 generators with its
StyleGAN2 discriminator, and its pickles carry that D, which imports weight for weight.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from belamy.errors import BelamyError
from belamy.models import limits
from belamy.models.registry import Architecture, register
from belamy.models.style import (
    LAYERS_EXACT,
    TRAINING,
    MappingConfig,
    MappingNetwork,
    StyleConfig,
    StyleDiscriminator,
    StyleGenerator,
)
from belamy.models.style_layers import FullyConnected

CONFIGS = ("t", "r")  # StyleGAN3-T (translation equivariant) and -R (also rotation)


@dataclass(frozen=True)
class StyleGAN3Config(MappingConfig):
    z_dim: int = 512
    w_dim: int = 512
    channel_base: int = 32768
    channel_max: int = 512
    channels: int = 3
    # The synthesis network's design (the reference's keywords, same defaults).
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    conv_kernel: int = 3  # 1 for -R
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False  # True for -R
    conv_clamp: float | None = 256.0
    magnitude_ema_beta: float = 0.999
    # The discriminator (StyleGAN2's, as the reference trains with).
    d_channel_base: int = 32768
    d_channel_max: int = 512
    mbstd_group: int = 4
    mbstd_channels: int = 1
    d_architecture: str = "resnet"
    d_map_layers: int = 8
    cmap_dim: int = 0
    d_conv_clamp: float | None = 256.0

    def __post_init__(self) -> None:
        limits.power_of_two("res", self.res, 16, 2048)
        for name, low, high in (("z_dim", 1, 4096), ("w_dim", 1, 4096), ("map_layers", 1, 16),
                                ("channel_base", 1, 2**24), ("channel_max", 1, 4096), ("channels", 1, 4),
                                ("num_layers", 2, 64), ("num_critical", 0, 64), ("margin_size", 0, 256),
                                ("conv_kernel", 1, 7), ("filter_size", 1, 32), ("lrelu_upsampling", 1, 8),
                                ("d_channel_base", 1, 2**24), ("d_channel_max", 1, 4096)):
            limits.whole(name, getattr(self, name), low, high)
        limits.whole("num_classes", self.num_classes, 0, limits.MAX_CLASSES)
        limits.names("label_names", self.label_names)
        if self.num_critical >= self.num_layers:
            raise BelamyError(f"model config: num_critical {self.num_critical} is not below num_layers {self.num_layers}",
                              limits.HINT)
        for name, low, high in (("first_cutoff", 1e-3, 1e4), ("first_stopband", 1e-3, 1e4),
                                ("last_stopband_rel", 1.0, 16.0), ("output_scale", 1e-6, 1e6),
                                ("magnitude_ema_beta", 0.0, 1.0)):
            limits.number(name, getattr(self, name), low, high)
        limits.number("conv_clamp", self.conv_clamp, 1e-3, 1e9, allow_none=True)
        if not isinstance(self.use_radial_filters, bool):
            raise BelamyError(f"model config: use_radial_filters = {self.use_radial_filters!r} is not true/false", limits.HINT)
        count = sum(c_in * c_out * (1 if torgb else self.conv_kernel**2) + self.w_dim * c_in
                    for c_in, c_out, torgb in self._layer_widths())
        limits.check_parameters("StyleGAN3 config", count + self.z_dim * self.w_dim + (self.map_layers - 1) * self.w_dim**2)
        self.discriminator_config()  # checks D's values too

    def _layer_widths(self):
        ch = self.schedule()["channels"]
        return [(int(ch[max(i - 1, 0)]), int(ch[i]), i == self.num_layers) for i in range(self.num_layers + 1)]

    @property
    def shape(self) -> tuple[int, int]:
        return self.res, self.res

    @property
    def num_ws(self) -> int:
        return self.num_layers + 2

    @property
    def variant(self) -> str:
        return "r" if self.use_radial_filters else "t"

    def schedule(self) -> dict[str, np.ndarray]:
        """Per layer (0 … num_layers, the last is toRGB): cutoff, stopband, sampling rate, transition
        half-width, size (with margin) and channels — the reference's geometric progression, in float64."""
        last_cutoff = self.res / 2
        last_stopband = last_cutoff * self.last_stopband_rel
        exponents = np.minimum(np.arange(self.num_layers + 1) / (self.num_layers - self.num_critical), 1)
        cutoffs = self.first_cutoff * (last_cutoff / self.first_cutoff) ** exponents
        stopbands = self.first_stopband * (last_stopband / self.first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, self.res))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + self.margin_size * 2
        sizes[-2:] = self.res
        channels = np.rint(np.minimum((self.channel_base / 2) / cutoffs, self.channel_max))
        channels[-1] = self.channels
        return {"cutoffs": cutoffs, "stopbands": stopbands, "rates": rates, "half_widths": half_widths,
                "sizes": sizes, "channels": channels}

    def discriminator_config(self) -> StyleConfig:
        return StyleConfig(res=self.res, g_channel_base=self.d_channel_base, d_channel_base=self.d_channel_base,
                           channel_max=self.d_channel_max, num_classes=self.num_classes, label_names=self.label_names,
                           mbstd_group=self.mbstd_group, mbstd_channels=self.mbstd_channels,
                           d_architecture=self.d_architecture, d_map_layers=self.d_map_layers, cmap_dim=self.cmap_dim,
                           conv_clamp=self.d_conv_clamp, channels=self.channels, layers=LAYERS_EXACT)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["label_names"] = list(self.label_names)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StyleGAN3Config:
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in limits.config_dict(data).items() if k in known}
        if "label_names" in kwargs:
            kwargs["label_names"] = limits.names("label_names", kwargs["label_names"])
        return cls(**kwargs)


# ---------------------------------------------------------------------------- filter design

def _kaiser_beta(attenuation: float) -> float:
    """Kaiser's β for a stopband attenuation in dB (scipy.signal.kaiser_beta)."""
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def _kaiser_window(numtaps: int, width: float, fs: float) -> np.ndarray:
    """The Kaiser window for a transition band ``width`` (scipy.signal.kaiser_atten, then kaiser_beta)."""
    attenuation = 2.285 * (numtaps - 1) * np.pi * (width / (fs / 2)) + 7.95
    return np.kaiser(numtaps, _kaiser_beta(attenuation))


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """The reference's low-pass: a Kaiser-windowed sinc with unit DC gain (scipy.signal.firwin), or a
    radially symmetric jinc under a separable Kaiser window (2-D). None for a single tap (identity)."""
    if numtaps == 1:
        return None
    if not radial:
        nyq = fs / 2
        m = np.arange(numtaps) - (numtaps - 1) / 2
        h = (cutoff / nyq) * np.sinc((cutoff / nyq) * m)
        h *= _kaiser_window(numtaps, width, fs)
        return torch.as_tensor(h / np.sum(h), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    j1 = torch.special.bessel_j1(torch.from_numpy(2 * cutoff * (np.pi * r))).numpy()
    f = j1 / (np.pi * r)
    w = _kaiser_window(numtaps, width, fs)
    f *= np.outer(w, w)
    f /= np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)


def _filter_bank(f: torch.Tensor | None, channels: int, gain: float) -> tuple[torch.Tensor, ...]:
    """Depthwise conv weights for ``f`` (flipped: upfirdn2d convolves), one per pass: a separable
    filter runs across then down, a 2-D one in one pass."""
    if f is None:
        return ()
    f = (f * gain ** (f.ndim / 2)).flip(list(range(f.ndim)))
    if f.ndim == 2:
        return (f[None, None].repeat(channels, 1, 1, 1),)
    bank = f[None, None].repeat(channels, 1, 1)
    return bank.unsqueeze(2), bank.unsqueeze(3)


# ---------------------------------------------------------------------------- layers

class SynthesisInput(nn.Module):
    """Fourier features at random frequencies (uniform in a disc of radius ``bandwidth``), rotated and
    translated by an affine of w, then the user ``transform`` (inverse, wrt the picture), then mixed."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, int(size), float(sampling_rate), float(bandwidth)
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnected(w_dim, 4, activation=False)
        with torch.no_grad():  # starts at the identity transform
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)
        # The sampling grid depends on the config alone: made once (also keeps affine_grid out of ONNX).
        theta = torch.eye(2, 3)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = F.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False)
        self.register_buffer("grid", grid, persistent=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        m_r, m_t = eye.clone(), eye.clone()  # inverse rotation and translation wrt the picture
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transforms = m_r @ m_t @ self.transform.unsqueeze(0)
        freqs, phases = self.freqs.unsqueeze(0), self.phases.unsqueeze(0)
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Dampen frequencies the user transform pushed out of band.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        x = (self.grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


def _pad(x: torch.Tensor, x0: int, x1: int, y0: int, y1: int) -> torch.Tensor:
    """Pad, or crop where a padding is negative."""
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    return x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]


def _zeros_between(x: torch.Tensor, up: int, dim: int) -> torch.Tensor:
    """``up - 1`` zeros after each sample along ``dim`` (3: across, 2: down)."""
    n, c, h, w = x.shape
    if dim == 3:
        return F.pad(x.reshape(n, c, h, w, 1), [0, up - 1]).reshape(n, c, h, w * up)
    return F.pad(x.reshape(n, c, h, 1, w), [0, 0, 0, up - 1]).reshape(n, c, h * up, w)


def _upfirdn(x: torch.Tensor, bank: tuple[torch.Tensor, ...], up: int = 1, down: int = 1,
             padding: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
    """upfirdn2d as the reference computes it on the CPU: zero insertion, pad (or crop), the filter
    bank as depthwise convolutions, then every ``down``-th pixel. The same sums, fewer of them: the
    down-sampling is the convolutions' stride (the pixels thrown away are never computed), and a
    separable filter's first pass runs before the zero rows are inserted (it would only add zeros there)."""
    c = x.shape[1]
    x0, x1, y0, y1 = padding
    if len(bank) == 2 and up > 1:  # across, then down: zero columns, filter across, zero rows, filter down
        x = _pad(_zeros_between(x, up, 3), x0, x1, 0, 0)
        x = F.conv2d(x, bank[0].to(x.dtype), stride=(1, down), groups=c)
        x = _pad(_zeros_between(x, up, 2), 0, 0, y0, y1)
        return F.conv2d(x, bank[1].to(x.dtype), stride=(down, 1), groups=c)
    if up > 1:
        x = _zeros_between(_zeros_between(x, up, 3), up, 2)
    x = _pad(x, x0, x1, y0, y1)
    for weight in bank:
        stride = (down if weight.shape[2] > 1 else 1, down if weight.shape[3] > 1 else 1)
        x = F.conv2d(x, weight.to(x.dtype), stride=stride, groups=c)
    return x[:, :, ::down, ::down] if down > 1 and not bank else x


class SynthesisLayer(nn.Module):
    """Modulated convolution, then bias, ×up low-pass, leaky ReLU (and clamp), low-pass and ÷down."""

    def __init__(self, cfg: StyleGAN3Config, index: int, schedule: dict[str, np.ndarray]):
        super().__init__()
        last = index == cfg.num_layers
        prev = max(index - 1, 0)
        self.is_torgb = last
        self.in_channels, self.out_channels = int(schedule["channels"][prev]), int(schedule["channels"][index])
        in_size, out_size = int(schedule["sizes"][prev]), int(schedule["sizes"][index])
        self.out_size = out_size
        in_rate, out_rate = int(schedule["rates"][prev]), int(schedule["rates"][index])
        tmp_rate = max(in_rate, out_rate) * (1 if last else cfg.lrelu_upsampling)
        self.conv_kernel = 1 if last else cfg.conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = cfg.conv_clamp, cfg.magnitude_ema_beta
        self.gain, self.slope = (1.0, 1.0) if last else (math.sqrt(2), 0.2)

        self.affine = FullyConnected(cfg.w_dim, self.in_channels, activation=False, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn([self.out_channels, self.in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up = int(np.rint(tmp_rate / in_rate))
        self.down = int(np.rint(tmp_rate / out_rate))
        up_taps = cfg.filter_size * self.up if self.up > 1 and not last else 1
        down_taps = cfg.filter_size * self.down if self.down > 1 and not last else 1
        critical = index >= cfg.num_layers - cfg.num_critical
        self.up_filter = lowpass_filter(up_taps, schedule["cutoffs"][prev], schedule["half_widths"][prev] * 2, tmp_rate)
        self.down_filter = lowpass_filter(down_taps, schedule["cutoffs"][index], schedule["half_widths"][index] * 2,
                                          tmp_rate, radial=cfg.use_radial_filters and not critical)
        for name, bank in (("up", _filter_bank(self.up_filter, self.out_channels, self.up**2)),
                           ("down", _filter_bank(self.down_filter, self.out_channels, 1.0))):
            for i, weight in enumerate(bank):
                self.register_buffer(f"{name}_bank{i}", weight, persistent=False)
        # Padding so that the output lands on the symmetric sample positions (the paper's appendix C.3).
        pad_total = (out_size - 1) * self.down + 1 - (in_size + self.conv_kernel - 1) * self.up + up_taps + down_taps - 2
        pad_lo = (pad_total + self.up) // 2
        self.padding = (pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo)

    def _bank(self, name: str) -> tuple[torch.Tensor, ...]:
        return tuple(b for i in range(2) if (b := getattr(self, f"{name}_bank{i}", None)) is not None)

    def forward(self, x: torch.Tensor, w: torch.Tensor, update_ema: bool = False) -> torch.Tensor:
        if update_ema:
            magnitude = x.detach().float().square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        styles = self.affine(w)
        weight = self.weight
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * self.conv_kernel**2))
            scale = None
        else:  # pre-normalised, then demodulated: [N, out] coefficients, no per-sample weights
            weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
            styles = styles * styles.square().mean().rsqrt()
            scale = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()
        x = x * (styles * self.magnitude_ema.rsqrt())[:, :, None, None]
        x = F.conv2d(x, weight.to(x.dtype), padding=self.conv_kernel - 1)
        if scale is not None:
            x = x * scale[:, :, None, None]
        # The filtered leaky ReLU (the reference's _filtered_lrelu_ref).
        x = x + self.bias.to(x.dtype)[None, :, None, None]
        x = _upfirdn(x, self._bank("up"), up=self.up, padding=self.padding)
        x = F.leaky_relu(x, self.slope) if self.slope != 1 else x
        x = x * self.gain if self.gain != 1 else x
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return _upfirdn(x, self._bank("down"), down=self.down)


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: StyleGAN3Config):
        super().__init__()
        s = cfg.schedule()
        self.num_ws, self.output_scale = cfg.num_ws, cfg.output_scale
        self.input = SynthesisInput(cfg.w_dim, int(s["channels"][0]), int(s["sizes"][0]), s["rates"][0], s["cutoffs"][0])
        self.layers = nn.ModuleList(SynthesisLayer(cfg, i, s) for i in range(cfg.num_layers + 1))

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", generator: torch.Generator | None = None) -> torch.Tensor:
        """``noise_mode``/``generator`` are accepted for StyleGAN2's callers: StyleGAN3 has no noise."""
        # The magnitude EMAs move as the reference's do: on the training passes without gradients (the
        # fakes shown to D; training draws with random noise, synthesize() with const).
        update = self.training and noise_mode == "random" and not torch.is_grad_enabled()
        ws = ws.float().unbind(dim=1)
        x = self.input(ws[0])
        for layer, w in zip(self.layers, ws[1:], strict=True):
            x = layer(x, w, update_ema=update)
        return x * self.output_scale if self.output_scale != 1 else x


class StyleGAN3Generator(StyleGenerator):
    """StyleGAN2's mapping network and generator interface (synthesize, mix, truncation) over the
    alias-free synthesis network."""

    def __init__(self, cfg: StyleGAN3Config):
        nn.Module.__init__(self)  # StyleGenerator's interface, not its StyleGAN2 layers
        self.cfg = cfg
        self.z_dim, self.res, self.num_classes = cfg.z_dim, cfg.res, cfg.num_classes
        self.label_names = list(cfg.label_names)
        self.mapping = MappingNetwork(cfg, w_avg_beta=0.998)
        self.synthesis = SynthesisNetwork(cfg)


def make_discriminator(cfg: StyleGAN3Config) -> StyleDiscriminator:
    return StyleDiscriminator(cfg.discriminator_config())


def stylegan3_config(res: int = 64, nz: int | None = None, w_dim: int | None = None, map_layers: int | None = None,
                     channel_base: int | None = None, channel_max: int | None = None, ngf: int | None = None,
                     ndf: int | None = None, label_names: list[str] | tuple[str, ...] = (), aspect: str | None = "1:1",
                     conv_clamp: float | None = None, mbstd_group: int | None = None, variant: str = "t",
                     **_) -> StyleGAN3Config:
    """A new StyleGAN3 config (the reference's ``train.py --cfg stylegan3-t``/``-r`` at these widths)."""
    from belamy.models.dcgan import check_resolution

    check_resolution(res, low=16, high=1024)
    if (aspect or "1:1") != "1:1":
        raise BelamyError(f"StyleGAN3 draws square pictures, not {aspect}", "drop --aspect, or train --arch stylegan2")
    if variant not in CONFIGS:
        raise BelamyError(f"unknown StyleGAN3 config {variant!r}", "use t or r")
    base = channel_base or (ngf * res if ngf else 16384 if res <= 256 else 32768)
    cmax = channel_max or 512
    labels = tuple(str(n) for n in label_names)
    z = nz or 512
    r = variant == "r"
    return StyleGAN3Config(
        res=res, z_dim=z, w_dim=w_dim or min(z, 512), map_layers=2 if map_layers is None else map_layers,
        channel_base=base * (2 if r else 1), channel_max=cmax * (2 if r else 1), num_classes=len(labels),
        label_names=labels, conv_kernel=1 if r else 3, use_radial_filters=r,
        conv_clamp=256.0 if conv_clamp is None else conv_clamp, d_channel_base=ndf * res if ndf else base,
        d_channel_max=cmax, mbstd_group=4 if mbstd_group is None else mbstd_group)


register(Architecture(
    name="stylegan3",
    config_from_dict=StyleGAN3Config.from_dict,
    make_generator=StyleGAN3Generator,
    make_discriminator=make_discriminator,
    make_config=stylegan3_config,
    losses=("stylegan2",),
    # NVlabs/stylegan3's train.py for StyleGAN3: G lr 0.0025, D lr 0.002, betas (0, 0.99), and
    # StyleGAN2-ADA's G_ema half-life, as the reference keeps.
    **TRAINING,
    summary="StyleGAN3 (alias-free): -T or -R imported from NVlabs/stylegan3 pickles and fine-tuned; new runs -T; 16² to 1024²",
    design="StyleGAN3 (Karras et al. 2021)",
))
