"""pix2pix (Isola et al. 2017): a U-Net generator and a 70×70 PatchGAN discriminator.

Generator: an encoder of stride-2 4×4 convolutions (64, 128, 256, 512, 512, ... channels at ``ngf``
64) down to a 1×1 bottleneck at 128² and 256², and a decoder that mirrors it, each decoder layer
joined to the encoder layer of its size (the skips carry the condition's lines straight to the
output). Dropout (0.5) in the three innermost decoder layers is the model's only noise, as in the
paper. Normalisation is per image (InstanceNorm): a picture is translated the same whatever else
is in its batch, so training and drawing live at batch 1 agree.

Choices beyond the paper, for the problems pix2pix users report most:

- *Checkerboard artefacts*: the decoder upsamples by nearest-neighbour resize then a 3×3
  convolution (``upsample="resize"``, the default; Odena et al. 2016) instead of a stride-2
  transposed convolution (``"transpose"``, the paper's), whose uneven overlap paints a grid.
- *Non-square pictures*: portrait shapes (4:5, 3:4) train directly; the depth is the number of
  halvings both sides allow (e.g. 6 at 256×320, bottleneck 4×5).
- *Train/test size mismatch*: the generator takes any size. An input whose sides are not multiples
  of 2^depth is padded (edge pixels repeated) and the output cropped back, so nothing is resampled.
- *Width*: ``ngf`` / ``ndf`` 64 as published; 16-32 gives a narrow model fast enough to draw
  with live on a laptop CPU.

Discriminator: C64-C128-C256-C512 (the last at stride 1) and a 1-channel 4×4 convolution over
concat(condition, image): each output logit judges one 70×70 patch. ``features=True`` also returns
the activations of every layer, for the feature-matching term (an anti-blur loss that needs no
downloaded network).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from belamy.errors import BelamyError
from belamy.utils.aspect import check_aspect, shape_for

UPSAMPLES = ("resize", "transpose")
CONDITIONS = ("edges", "landmarks", "pose", "folders")
MAX_DEPTH = 8


@dataclass(frozen=True)
class Pix2PixConfig:
    res: int = 256
    aspect: str = "1:1"
    ngf: int = 64
    ndf: int = 64
    upsample: str = "resize"
    dropout: float = 0.5
    d_layers: int = 3
    channels: int = 3
    # What the condition images are (from the pair corpus): how translate pads them, what the studio draws.
    condition: str = "edges"

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the pictures the model was trained on."""
        return shape_for(self.res, self.aspect)

    @property
    def depth(self) -> int:
        """Number of halvings in the U-Net: as many as both sides allow, at most 8 (1×1 at 256²)."""
        return unet_depth(*self.shape)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Pix2PixConfig:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


def unet_depth(height: int, width: int) -> int:
    depth = 0
    while depth < MAX_DEPTH and height % 2 ** (depth + 1) == 0 and width % 2 ** (depth + 1) == 0:
        depth += 1
    return depth


def pix2pix_config(res: int = 256, aspect: str = "1:1", ngf: int | None = None, ndf: int | None = None,
                   upsample: str = "resize", dropout: float = 0.5, d_layers: int = 3, condition: str = "edges",
                   **_ignored) -> Pix2PixConfig:
    """A validated config (unknown keyword arguments are ignored, so every architecture takes the same call)."""
    check_aspect(aspect)
    if isinstance(res, bool) or not isinstance(res, int) or not 16 <= res <= 1024 or res % 8:
        raise BelamyError(f"--res {res} does not suit pix2pix", "use a multiple of 8 from 16 to 1024, e.g. 128 or 256")
    ngf, ndf = ngf or 64, ndf or 64
    for name, value in (("ngf", ngf), ("ndf", ndf)):
        if not 4 <= value <= 512:
            raise BelamyError(f"--{name} {value} is out of range", "use 4 to 512 (64 as published; 16-32 for live CPU use)")
    if upsample not in UPSAMPLES:
        raise BelamyError(f"upsample {upsample!r} is not known", f"use one of {', '.join(UPSAMPLES)}")
    if not 0.0 <= dropout < 1.0:
        raise BelamyError(f"dropout {dropout} is out of range", "use 0 (none) to below 1; 0.5 as published")
    if condition not in CONDITIONS:
        raise BelamyError(f"unknown condition kind {condition!r}", f"use one of {', '.join(CONDITIONS)}")
    cfg = Pix2PixConfig(res=res, aspect=aspect, ngf=ngf, ndf=ndf, upsample=upsample, dropout=dropout,
                        d_layers=d_layers, condition=condition)
    if cfg.depth < 3:
        h, w = cfg.shape
        raise BelamyError(f"a {w}×{h} picture halves only {cfg.depth} times", "use --res a multiple of 32")
    d_layers_fit(*cfg.shape, d_layers)
    return cfg


def d_layers_fit(height: int, width: int, layers: int) -> None:
    """The PatchGAN must leave at least a 2×2 map of patches."""
    side = min(height, width)
    for _ in range(layers):
        side //= 2
    if side - 2 < 2 or layers < 1:
        raise BelamyError(f"a {layers}-layer PatchGAN does not fit {width}×{height} pictures",
                          "use --res 32 or larger (3 layers give the 70×70 patches of the paper)")


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class SeededDropout(nn.Module):
    """Dropout that draws its masks from a given ``torch.Generator`` (the run's one random stream), so a
    resumed run drops exactly the units the uninterrupted one would; identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


class _Up(nn.Module):
    """Doubling the size without a transposed convolution's checkerboard, or with one (``transpose``).

    ``resize``: inner layers convolve (3×3) at the lower size and enlarge the result bilinearly, a
    quarter of the work of convolving after enlarging, with no uneven overlaps; the last layer
    enlarges first (nearest) and then convolves, so the picture itself is never interpolated.
    """

    def __init__(self, cin: int, cout: int, mode: str, last: bool = False):
        super().__init__()
        self.mode, self.last = mode, last
        if mode == "transpose":
            self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        else:
            self.conv = nn.Conv2d(cin, cout, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "transpose":
            return self.conv(x)
        if self.last:
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return F.interpolate(self.conv(x), scale_factor=2.0, mode="bilinear", align_corners=False)


class UNetGenerator(nn.Module):
    """condition [N, 3, H, W] in [-1, 1] → picture [N, 3, H, W] in [-1, 1], any H and W.

    It keeps belamy's generator contract (:mod:`belamy.models.contract`) as an image-conditioned
    generator: ``z_dim`` 0, ``condition_channels`` 3, and ``synthesize(condition)`` the deterministic
    picture (no dropout), whatever mode the module is in.
    """

    z_dim = 0
    num_classes = 0
    label_names: tuple[str, ...] = ()

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__()
        self.cfg = cfg
        self.res = cfg.res
        self.condition_channels = cfg.channels
        self.depth = depth = cfg.depth
        widths = [cfg.ngf * min(2**i, 8) for i in range(depth)]
        self.widths = widths
        self.down = nn.ModuleList()
        for i in range(depth):
            cin = cfg.channels if i == 0 else widths[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(cin, widths[i], 4, 2, 1, bias=i in (0, depth - 1)))
            if 0 < i < depth - 1:  # not the first (as published) nor the bottleneck (1×1: nothing to normalise)
                layers.append(_norm(widths[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):  # i: the encoder level this decoder layer returns to
            cin = widths[i] if i == depth - 1 else widths[i] * 2
            outermost = i == 0
            cout = cfg.channels if outermost else widths[i - 1]
            layers = [nn.ReLU(), _Up(cin, cout, cfg.upsample, last=outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(_norm(cout))
                if cfg.dropout > 0 and depth - 1 - i < 3:  # the three innermost decoder layers
                    layers.append(SeededDropout(cfg.dropout))
            self.up.append(nn.Sequential(*layers))

    @torch.no_grad()
    def synthesize(self, condition: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                   batch_invariant: bool = True) -> torch.Tensor:
        """The painting of ``condition`` without dropout (labels and truncation do not apply)."""
        was_training = self.training
        self.eval()
        try:
            return self(condition)
        finally:
            self.train(was_training)

    def use_generator(self, generator: torch.Generator | None) -> None:
        """Draw dropout masks from ``generator`` (None: the global random stream)."""
        for m in self.modules():
            if isinstance(m, SeededDropout):
                m.generator = generator

    @property
    def multiple(self) -> int:
        return 2**self.depth

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        h, w = condition.shape[-2:]
        m = self.multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        x = condition
        if pad_h or pad_w:  # any size: pad to the U-Net's multiple, crop back after
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="replicate")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips[-1])
        for k, layer in enumerate(self.up[1:], start=2):
            x = layer(torch.cat([x, skips[-k]], dim=1))
        if pad_h or pad_w:
            x = x[..., pad_h // 2 : pad_h // 2 + h, pad_w // 2 : pad_w // 2 + w]
        return x


class PatchDiscriminator(nn.Module):
    """concat(condition, picture) [N, 6, H, W] → a map of patch logits [N, 1, h, w] (70×70 patches at 3 layers)."""

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__()
        self.cfg = cfg
        ndf, layers = cfg.ndf, cfg.d_layers
        blocks: list[nn.Module] = [nn.Sequential(nn.Conv2d(cfg.channels * 2, ndf, 4, 2, 1), nn.LeakyReLU(0.2))]
        width = ndf
        for n in range(1, layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(width, out, 4, stride, 1, bias=False), _norm(out), nn.LeakyReLU(0.2)))
            width = out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(width, 1, 4, 1, 1)

    def forward(self, condition: torch.Tensor, picture: torch.Tensor, features: bool = False):
        x = torch.cat([condition, picture], dim=1)
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        logits = self.head(x)
        return (logits, feats) if features else logits


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """N(0, 0.02) convolutions and N(1, 0.02) norm scales, as pix2pix initialises."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- registration

def _config_from_options(res=256, ngf=None, ndf=None, aspect="1:1", upsample="resize", condition="edges", **_):
    return pix2pix_config(res, aspect or "1:1", ngf, ndf, upsample=upsample, condition=condition)


from belamy.models.registry import Architecture, register  # noqa: E402  (model files register at their bottom)

register(Architecture(
    name="pix2pix",
    config_from_dict=Pix2PixConfig.from_dict,
    make_generator=UNetGenerator,
    make_discriminator=PatchDiscriminator,
    make_config=_config_from_options,
    task="pix2pix",
    default_loss="pix2pix",
    losses=("pix2pix",),
    defaults={"batch": 8, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "augment": "none"},
    summary="image-to-image: a U-Net paints from a line drawing, face markers or a pose (train on `corpus pairs`)",
    design="pix2pix (Isola, Zhu, Zhou and Efros 2017): U-Net generator, 70×70 PatchGAN discriminator",
))
