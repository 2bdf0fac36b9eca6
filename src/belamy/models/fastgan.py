"""A light FastGAN (Liu et al. 2021, "Towards Faster and Stabilized GAN Training for High-fidelity
Few-shot Image Synthesis"), sized for a CPU at 64² to 256².

Generator: z → 4×4 (transposed conv, BatchNorm, GLU), then up-blocks (nearest ×2, 3×3 conv,
BatchNorm, GLU) to the output size. Skip-layer excitation (SLE): a low-resolution feature map, pooled
to 4×4 and squeezed to one gate per channel, scales a feature map three doublings later, so coarse
layers steer fine ones through a short gradient path.

Discriminator: a 4×4 stride-2 stem, then residual down-blocks (a strided conv path averaged with an
average-pool path) down to 8×8, an SLE from the first block's map to the last, and a 5×5 map of
patch logits (for a square picture). Self-supervision: two small decoders read D's 8×8 features
and redraw the real picture at 32² (from the whole map) and one quadrant of it, also at 32² (from
that quadrant of the map: full resolution for a 64² picture); the loss compares them with L1 in pixels only (the paper adds a
perceptual distance from a downloaded network, which belamy leaves out). Reconstruction forces D to
keep describing the whole picture, which is what stops it overfitting a few hundred paintings.

Every convolution carries spectral normalisation, as in the paper. Widths follow the paper's
shape (halving as resolution doubles) at a fraction of its channels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from belamy.errors import BelamyError
from belamy.models.dcgan import check_resolution
from belamy.models.registry import Architecture, EMAOptions, register
from belamy.utils.aspect import AspectShaped, check_aspect

# Widths per resolution (ngf, ndf): narrow enough that a CPU sees tens of thousands of images an hour.
DEFAULT_WIDTHS = {64: (16, 16), 128: (16, 16), 256: (8, 8)}
MAX_CHANNELS = 512


@dataclass(frozen=True)
class FastGANConfig(AspectShaped):
    res: int = 64
    nz: int = 128
    ngf: int = 32
    ndf: int = 32
    channels: int = 3
    aspect: str = "1:1"

    def g_width(self, level: int) -> int:
        """Channels of G's map after ``level`` doublings (0: the 4×4 start): ngf·2^(doublings−level), capped."""
        return min(MAX_CHANNELS, self.ngf * 2 ** max(0, self.doublings - level))

    def d_width(self, level: int) -> int:
        """Channels of D's map ``level`` halvings below the input (1: the stem's output)."""
        return min(MAX_CHANNELS, self.ndf * 2 ** (level - 1))

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.aspect == "1:1":
            del data["aspect"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> FastGANConfig:
        return cls(**{k: data[k] for k in ("res", "nz", "ngf", "ndf", "channels", "aspect") if k in data})


def fastgan_config(res: int = 64, nz: int | None = None, ngf: int | None = None, ndf: int | None = None,
                   aspect: str | None = "1:1", **_ignored) -> FastGANConfig:
    """A validated config; widths default to DEFAULT_WIDTHS for the resolution."""
    check_resolution(res, low=32, high=1024)
    aspect = check_aspect(aspect or "1:1")
    default_ngf, default_ndf = DEFAULT_WIDTHS.get(res, (8, 8))
    ngf = default_ngf if ngf is None else ngf
    ndf = default_ndf if ndf is None else ndf
    nz = 128 if nz is None else nz
    for name, value in (("nz", nz), ("ngf", ngf), ("ndf", ndf)):
        if not 1 <= value <= 4096:
            raise BelamyError(f"--{name} {value} is out of range", "use a width between 1 and 4096")
    return FastGANConfig(res=res, nz=nz, ngf=ngf, ndf=ndf, aspect=aspect)


def _conv(*args, **kwargs) -> nn.Module:
    return spectral_norm(nn.Conv2d(*args, **kwargs))


def init_fastgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolutions and N(1, 0.02) BatchNorm scales, as the reference implementation."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        weight = getattr(module, "weight_orig", module.weight)
        nn.init.normal_(weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class GLU(nn.Module):
    """Half the channels gate the other half: out = a · sigmoid(b)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


class SkipExcitation(nn.Module):
    """SLE: a gate per channel of a high-resolution map, computed from a low-resolution one."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), _conv(ch_in, ch_out, 4, 1, 0, bias=False), nn.SiLU(),
            _conv(ch_out, ch_out, 1, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)


def _up_block(ch_in: int, ch_out: int) -> nn.Module:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(ch_in, ch_out * 2, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(ch_out * 2), GLU())


class FastGANGenerator(nn.Module):
    def __init__(self, cfg: FastGANConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim = cfg.nz
        self.res = cfg.res
        self.num_classes = 0
        self.label_names: list[str] = []
        width = cfg.g_width(0)
        self.init = nn.Sequential(spectral_norm(nn.ConvTranspose2d(cfg.nz, width * 2, cfg.start, 1, 0, bias=False)),
                                  nn.BatchNorm2d(width * 2), GLU())
        self.ups = nn.ModuleList(_up_block(cfg.g_width(i), cfg.g_width(i + 1)) for i in range(cfg.doublings))
        # SLE from the map after doubling i to the map after doubling i + 3 (4×4 → 32², 8² → 64², ...).
        self.sle_pairs = [(i, i + 3) for i in range(cfg.doublings - 2)]
        self.sles = nn.ModuleList(SkipExcitation(cfg.g_width(i), cfg.g_width(j)) for i, j in self.sle_pairs)
        self.to_rgb = _conv(cfg.g_width(cfg.doublings), cfg.channels, 3, 1, 1, bias=False)
        self.apply(init_fastgan_weights)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.init(z.reshape(z.shape[0], self.z_dim, 1, 1))
        maps = [x]
        sle_into = {j: (i, sle) for (i, j), sle in zip(self.sle_pairs, self.sles, strict=True)}
        for level, up in enumerate(self.ups, start=1):
            x = up(x)
            if level in sle_into:
                source, sle = sle_into[level]
                x = sle(maps[source], x)
            maps.append(x)
        return torch.tanh(self.to_rgb(x))

    condition_channels = 0  # drawn from a latent, not from an image

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                   batch_invariant: bool = True) -> torch.Tensor:
        """Images for generation (call in eval mode: BatchNorm then uses its running statistics, so
        each picture depends on its own z only): ψ scales z toward the origin, the latent mean."""
        return self(z * truncation if truncation != 1.0 else z, labels)


class DownBlock(nn.Module):
    """Halves the resolution: a strided 4×4 conv path and an average-pool path, averaged."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.main = nn.Sequential(
            _conv(ch_in, ch_out, 4, 2, 1, bias=False), nn.BatchNorm2d(ch_out), nn.LeakyReLU(0.2, True),
            _conv(ch_out, ch_out, 3, 1, 1, bias=False), nn.BatchNorm2d(ch_out), nn.LeakyReLU(0.2, True),
        )
        self.direct = nn.Sequential(nn.AvgPool2d(2, 2), _conv(ch_in, ch_out, 1, 1, 0, bias=False),
                                    nn.BatchNorm2d(ch_out), nn.LeakyReLU(0.2, True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """D's small decoder: a feature map (8×8, or a 4×4 quadrant of it) up to a 32² picture with up-blocks."""

    def __init__(self, ch_in: int, doublings: int, width: int):
        super().__init__()
        blocks, ch = [], ch_in
        for i in range(doublings):
            out = max(8, width // 2**i)
            blocks.append(_up_block(ch, out))
            ch = out
        self.blocks = nn.Sequential(*blocks)
        self.to_rgb = _conv(ch, 3, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_rgb(self.blocks(x)))


class Reconstructions(NamedTuple):
    logits: torch.Tensor  # [N, P] patch logits
    whole: torch.Tensor  # the picture redrawn
    part: torch.Tensor  # one quadrant redrawn
    features: torch.Tensor  # [N, F]: penultimate, from the same pass


class FastGANDiscriminator(nn.Module):
    """Patch logits, plus reconstructions of the real picture for the self-supervised term."""

    def __init__(self, cfg: FastGANConfig):
        super().__init__()
        self.cfg = cfg
        halvings = cfg.doublings - 1  # down to 8×8 (for a square picture)
        self.stem = nn.Sequential(_conv(cfg.channels, cfg.d_width(1), 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True))
        self.blocks = nn.ModuleList(DownBlock(cfg.d_width(i), cfg.d_width(i + 1)) for i in range(1, halvings))
        last = cfg.d_width(halvings)
        # SLE from the stem's map (res/2) to the 8×8 map.
        self.sle = SkipExcitation(cfg.d_width(1), last)
        self.head = nn.Sequential(_conv(last, last, 1, 1, 0, bias=False), nn.BatchNorm2d(last), nn.LeakyReLU(0.2, True),
                                  _conv(last, 1, 4, 1, 0, bias=False))
        self.decoder_whole = Decoder(last, 2, max(16, last // 2))  # 8² → 32²
        self.decoder_part = Decoder(last, 3, max(16, last // 2))  # a 4² quadrant → 32²
        self.apply(init_fastgan_weights)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        h = stem
        for block in self.blocks:
            h = block(h)
        return self.sle(stem, h)

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """[N, P]: one logit per patch."""
        return self.head(self._features(x)).flatten(1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """[N]: the mean patch logit, one score per picture."""
        return self.patch_logits(x).mean(dim=1)

    def penultimate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's 8×8 feature map, flattened: a learned image embedding."""
        return self._features(x).flatten(1)

    def patch_logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``patch_logits`` and ``penultimate`` from one pass (for losses that read both, e.g. CAN's style head)."""
        feats = self._features(x)
        return self.head(feats).flatten(1), feats.flatten(1)

    def logits_and_reconstructions(self, x: torch.Tensor, quadrant: int) -> Reconstructions:
        """Patch logits, the whole picture redrawn at 32², quadrant ``quadrant`` (0..3, row-major) redrawn,
        and the features they came from (``penultimate``)."""
        feats = self._features(x)
        h, w = feats.shape[2:]
        top, left = (quadrant // 2) * (h // 2), (quadrant % 2) * (w // 2)
        part = feats[:, :, top : top + h // 2, left : left + w // 2]
        return Reconstructions(self.head(feats).flatten(1), self.decoder_whole(feats), self.decoder_part(part),
                               feats.flatten(1))


def reconstruction_targets(real: torch.Tensor, quadrant: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """What D's decoders should redraw: the real picture and its quadrant ``quadrant``, each area-resized to ``size``."""
    h, w = real.shape[2:]
    whole = F.interpolate(real, size=size, mode="area")
    top, left = (quadrant // 2) * (h // 2), (quadrant % 2) * (w // 2)
    part = F.interpolate(real[:, :, top : top + h // 2, left : left + w // 2], size=size, mode="area")
    return whole, part


register(Architecture(
    name="fastgan",
    config_from_dict=FastGANConfig.from_dict,
    make_generator=FastGANGenerator,
    make_discriminator=FastGANDiscriminator,
    make_config=fastgan_config,
    default_loss="fastgan",
    losses=("fastgan", "can"),
    # The reference's Adam settings (lr 2e-4, betas (0.5, 0.999)); DiffAugment and a G average, as there.
    defaults={"batch": 32, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "augment": "diffaugment", "ema_kimg": 10.0},
    options=(EMAOptions,),
    base_loss="fastgan",
    summary="light FastGAN: skip-layer excitation, a D that redraws the real picture (32² to 1024²)",
    design="FastGAN (Liu, Zhu, Song and Elgammal 2021), narrowed for a CPU, without the perceptual loss",
))
