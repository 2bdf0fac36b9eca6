"""The built-in super-resolution networks: an ESRGAN-class RRDB generator and a patch discriminator.

The generator follows RRDBNet (Wang et al., ESRGAN, 2018) in the parameter layout Real-ESRGAN
uses (``conv_first``, ``body.N.rdbK.convJ``, ``conv_body``, ``conv_upK``, ``conv_hr``,
``conv_last``), so a belamy SR model made with ``gc=32, residual=0`` is also a valid (Real-)ESRGAN
state dict for other tools. By default belamy adds a bicubic skip connection (``residual=1``).
The defaults are small (32 features, 6 blocks) so it trains and runs on a laptop CPU;
Real-ESRGAN's own model is 64 features, 23 blocks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from belamy.errors import BelamyError
from belamy.models import limits
from belamy.models.registry import Architecture, register


@dataclass
class SRConfig:
    scale: int = 4  # 2 or 4: one or two ×2 nearest-neighbour + conv steps
    nf: int = 32  # feature channels
    nb: int = 6  # residual-in-residual dense blocks
    gc: int = 16  # growth channels inside each dense block
    ndf: int = 32  # discriminator base width
    # Predict only the difference from a bicubic enlargement: the net is a fair upscaler from the
    # first step, and a short CPU training run only has to learn detail. 0 gives plain ESRGAN.
    residual: int = 1

    def validate(self) -> None:
        for name in ("scale", "nf", "nb", "gc", "ndf", "residual"):  # types first: a file may hold anything
            limits.whole(name, getattr(self, name), what="SR model config")
        if self.scale not in (2, 4):
            raise BelamyError(f"SR scale {self.scale} is not supported", "train a ×2 or ×4 model (--scale 2 or 4)")
        for name, low, high in (("nf", 4, 256), ("nb", 1, 64), ("gc", 4, 128), ("ndf", 4, 256)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise BelamyError(f"--{name} {value} is not valid", f"use {low} to {high}")
        if self.residual not in (0, 1):
            raise BelamyError(f"residual {self.residual} is not valid", "use 0 (plain ESRGAN) or 1 (bicubic skip)")
        limits.check_parameters("SR model", self.weight_count())

    def weight_count(self) -> int:
        """Convolution weights of the RRDB generator (5 convs × 3 dense blocks × nb) and its other convs."""
        nf, gc = self.nf, self.gc
        dense = 9 * (sum((nf + i * gc) * gc for i in range(4)) + (nf + 4 * gc) * nf)
        return self.nb * 3 * dense + 9 * nf * (6 + nf * (3 + (self.scale == 4)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SRConfig:
        """A config read from a file, validated (types, ranges, size) before any layer is made."""
        cfg = cls(**{k: v for k, v in limits.config_dict(data, "SR model config").items()
                     if k in cls.__dataclass_fields__})
        cfg.validate()
        return cfg


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2, inplace=True)


class DenseBlock(nn.Module):
    """Five 3×3 convs, each seeing all earlier feature maps; the output is scaled by 0.2 and added."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            # ESRGAN's trick: small initial weights keep the deep residual stack near identity.
            nn.init.kaiming_normal_(conv.weight, a=0.2)
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = _lrelu(self.conv1(x))
        x2 = _lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = _lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = _lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.rdb1 = DenseBlock(nf, gc)
        self.rdb2 = DenseBlock(nf, gc)
        self.rdb3 = DenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """Image in [0, 1], [N, 3, h, w] -> [N, 3, h·scale, w·scale] (not clamped)."""

    def __init__(self, cfg: SRConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.scale = cfg.scale
        self.conv_first = nn.Conv2d(3, cfg.nf, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(cfg.nf, cfg.gc) for _ in range(cfg.nb)])
        self.conv_body = nn.Conv2d(cfg.nf, cfg.nf, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(cfg.nf, cfg.nf, 3, 1, 1)
        # ×4 has a second upsampling step; ×2 does not (so its state dict also reads as ESRGAN ×2).
        self.conv_up2 = nn.Conv2d(cfg.nf, cfg.nf, 3, 1, 1) if cfg.scale == 4 else None
        self.conv_hr = nn.Conv2d(cfg.nf, cfg.nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(cfg.nf, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        # Nearest-neighbour + conv rather than transposed convs or pixel shuffle: no checkerboard.
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        if self.conv_up2 is not None:
            feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(_lrelu(self.conv_hr(feat)))
        if self.cfg.residual:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


def deepen(net: RRDBNet, smaller: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of ``net`` that computes what ``smaller`` (the same network with fewer blocks)
    computes: its blocks first, then ``net``'s own extra blocks with the last conv of every dense
    block zeroed. Such a block passes its input on scaled by 1.2 (``x·0.2 + x``), which ``conv_body``,
    divided by 1.2 per extra block, takes back; training then grows the new blocks from zero."""
    own = net.state_dict()
    have = 1 + max(int(k.split(".")[1]) for k in smaller if k.startswith("body."))
    grown = dict(own)
    grown.update(smaller)
    for key in own:
        if key.startswith("body.") and int(key.split(".")[1]) >= have and ".conv5." in key:
            grown[key] = torch.zeros_like(own[key])
    extra = net.cfg.nb - have
    grown["conv_body.weight"] = smaller["conv_body.weight"] / 1.2**extra
    return grown


class PatchDiscriminator(nn.Module):
    """A VGG-style patch discriminator with spectral norm; returns logits per patch and its features.

    The features feed the feature-matching loss: the generator is asked to make the discriminator's
    view of its output match its view of the real image, a perceptual loss that needs no
    downloaded VGG weights.
    """

    def __init__(self, ndf: int = 32, depth: int = 4):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers = []
        ch_in, ch = 3, ndf
        for i in range(depth):
            layers.append(nn.Sequential(
                sn(nn.Conv2d(ch_in, ch, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True),
                sn(nn.Conv2d(ch, ch, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            ))
            ch_in, ch = ch, min(ch * 2, ndf * 8) if i < depth - 1 else ch
        self.stages = nn.ModuleList(layers)
        self.head = sn(nn.Conv2d(ch_in, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        h = x * 2.0 - 1.0
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        return self.head(h), feats


def passes_needed(ratio: float, model_scale: int, overshoot: float = 1.25) -> int:
    """How many model passes to make an image ``ratio`` times larger before a final Lanczos resize.

    A pass is made while its output stays within ``overshoot`` of the target (a sharper image is
    then reduced a little), and at least one pass is made for any enlargement. A 256² sample to
    8268² with a ×4 model: 256 → 1024 → 4096 by the network, then Lanczos to 8268.
    """
    if ratio <= 1.0 or model_scale <= 1:
        return 1 if model_scale <= 1 and ratio > 1.0 else 0
    passes = max(1, int(math.floor(math.log(ratio * overshoot) / math.log(model_scale) + 1e-9)))
    return passes


register(Architecture(
    name="rrdb",
    config_from_dict=SRConfig.from_dict,
    make_generator=RRDBNet,
    make_discriminator=lambda cfg: PatchDiscriminator(cfg.ndf),
    task="sr",  # trained by `belamy sr train`
    summary="ESRGAN's RRDB super-resolution network",
    design="ESRGAN / Real-ESRGAN RRDBNet (Wang et al. 2018, 2021)",
))
