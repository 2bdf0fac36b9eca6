"""A StyleGAN2-class generator and discriminator for small art corpora, in plain PyTorch.

Generator: a mapping network z (+ class) → w, tracked ``w_avg`` for truncation, and a synthesis
network of modulated/demodulated 3×3 convolutions with per-pixel noise and skip (toRGB) outputs,
upsampled with the [1, 3, 3, 1] filter. Discriminator: residual blocks, minibatch standard
deviation, and a projection head for class-conditional models (StyleGAN2-ADA's ``cmap``).

Widths follow StyleGAN2: channels at resolution r = min(channel_base / r, channel_max). The
defaults shrink with resolution so that 64² trains on a laptop CPU (channel_base 2048, about the
per-image cost of art-DCGAN); from 512² they are config-f's (channel_base 32768, channel_max 512,
8 mapping layers).

Portrait shapes: the 4×4 start becomes h0×w0 (5×4 for 4:5, 4×3 for 3:4); the image is then
``res·h0/4`` tall and ``res·w0/4`` wide, and the discriminator ends on the same h0×w0 grid.

``layers`` names the layer variant. ``stylegan2-ada`` (every new run) computes the function of
NVlabs' StyleGAN2-ADA networks, so that their weights, imported one-to-one, draw the same images;
``belamy-1`` is the first variant (see ``style_layers``), which a config written before variants
existed gets, so old runs draw exactly what they drew.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from belamy.errors import BelamyError
from belamy.models import limits
from belamy.models.registry import Architecture, EMAOptions, LabelOptions, one_pass_features, register
from belamy.models.style_layers import (
    Conv2d,
    FullyConnected,
    MinibatchStd,
    SynthesisLayer,
    ToRGB,
    binomial_filter,
    normalize_2nd_moment,
    upsample2d,
)
from belamy.utils.aspect import ASPECTS, check_aspect
from belamy.utils.declared import option

LAYERS_EXACT = "stylegan2-ada"
LAYERS_V1 = "belamy-1"
LAYER_VARIANTS = (LAYERS_EXACT, LAYERS_V1)


@dataclass(frozen=True)
class MappingConfig:
    """What the StyleGAN2 and StyleGAN3 configs share: the size, the mapping network and the classes."""

    res: int = 64
    z_dim: int = 256
    w_dim: int = 256
    map_layers: int = 2
    num_classes: int = 0
    label_names: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class StyleNetworkOptions:
    """The training options of the StyleGAN networks (stylegan2 and stylegan3): None is the config's default."""

    w_dim: int | None = option(help="stylegan2, stylegan3: the width of w, the mapping network's output (default: "
                                    "the latent size, at most 512).", shape=True)
    map_layers: int | None = option(help="stylegan2, stylegan3: mapping-network depth (default: 2 at ≤64², 4 at 128², "
                                         "8 above).", shape=True)
    channel_base: int | None = option(help="stylegan2, stylegan3: channels at resolution r are channel_base / r "
                                           "(default: by resolution; --ngf / --ndf set G's and D's apart).", shape=True)
    channel_max: int | None = option(help="stylegan2, stylegan3: the most channels of any layer (default: by "
                                          "resolution).", shape=True)
    mbstd_group: int | None = option(help="stylegan2, stylegan3: D's minibatch-std group size (default 4; "
                                          "StyleGAN2-ADA's paper256/512 configs use 8).")


@dataclass(frozen=True)
class StyleConfig(MappingConfig):
    g_channel_base: int = 4096
    d_channel_base: int = 4096
    channel_max: int = 256
    aspect: str = "1:1"
    mbstd_group: int = 4  # 0: the whole batch is one group
    conv_clamp: float | None = None  # 256 for fp16 training, as StyleGAN2-ADA: keeps activations in range
    channels: int = 3
    layers: str = LAYERS_EXACT
    mbstd_channels: int = 1
    d_architecture: str = "resnet"  # "orig": no residual skips (the reference's cifar config)
    d_map_layers: int = 8  # the conditional D's label mapping (exact layers): embed, normalise, FC at lr ×0.01
    cmap_dim: int = 0  # width of D's class projection; 0: D's width at 4×4

    def __post_init__(self) -> None:
        # Every value, then the size it implies, before any layer is made (see belamy.models.limits).
        limits.power_of_two("res", self.res, 8, 2048)
        for name, high in (("z_dim", 4096), ("w_dim", 4096), ("map_layers", 16), ("channel_max", 4096),
                           ("g_channel_base", 4096 * 2048), ("d_channel_base", 4096 * 2048), ("channels", 4)):
            limits.whole(name, getattr(self, name), 1, high)
        limits.whole("mbstd_group", self.mbstd_group, 0, 256)  # 0: the whole batch is one group
        limits.whole("num_classes", self.num_classes, 0, limits.MAX_CLASSES)
        limits.names("label_names", self.label_names)
        limits.choice("aspect", self.aspect, ASPECTS)
        limits.number("conv_clamp", self.conv_clamp, 1e-3, 1e9, allow_none=True)
        limits.choice("layers", self.layers, LAYER_VARIANTS)
        limits.choice("d_architecture", self.d_architecture, ("resnet", "orig"))
        for name, low, high in (("mbstd_channels", 0, 64), ("d_map_layers", 0, 16), ("cmap_dim", 0, 4096)):
            limits.whole(name, getattr(self, name), low, high)
        limits.check_parameters("StyleGAN2 config", self.weight_count())

    @property
    def start(self) -> tuple[int, int]:
        return ASPECTS[self.aspect]

    @property
    def log2_res(self) -> int:
        return int(math.log2(self.res))

    @property
    def shape(self) -> tuple[int, int]:
        """Output (height, width)."""
        h0, w0 = self.start
        return self.res * h0 // 4, self.res * w0 // 4

    @property
    def num_ws(self) -> int:
        return 2 * self.log2_res - 2

    def weight_count(self) -> int:
        """The main weights of G and D (mapping, 3×3 and 1×1 convolutions): a lower bound on their size."""
        w, c, h0, w0 = self.w_dim, self.channels, *self.start
        total = (self.z_dim + (w if self.num_classes else 0)) * w + (self.map_layers - 1) * w * w
        previous = None
        for k in range(2, self.log2_res + 1):
            out = self.g_channels(2**k)
            total += out * out * 9 + out * c + (previous * out * 9 if previous else out * h0 * w0)
            previous = out
        for k in range(self.log2_res, 2, -1):
            here, below = self.d_channels(2**k), self.d_channels(2 ** (k - 1))
            total += here * here * 9 + here * below * 10
        c4 = self.d_channels(4)
        if self.num_classes and self.exact:  # the reference D maps labels through d_map_layers FC layers
            total += self.num_classes * self.d_cmap_dim + self.d_map_layers * self.d_cmap_dim**2
        return total + c * self.d_channels(self.res) + c4 * c4 * (9 + h0 * w0)

    def g_channels(self, r: int) -> int:
        return max(1, min(self.g_channel_base // r, self.channel_max))

    def d_channels(self, r: int) -> int:
        return max(1, min(self.d_channel_base // r, self.channel_max))

    @property
    def exact(self) -> bool:
        return self.layers == LAYERS_EXACT

    @property
    def d_cmap_dim(self) -> int:
        return (self.cmap_dim or self.d_channels(4)) if self.num_classes else 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["label_names"] = list(self.label_names)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StyleConfig:
        """A config read from a file: every value checked (``__post_init__``) before anything is built."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in limits.config_dict(data).items() if k in known}
        if "label_names" in kwargs:
            kwargs["label_names"] = limits.names("label_names", kwargs["label_names"])
        # Written before layer variants existed: those runs were trained with the first layers.
        kwargs.setdefault("layers", LAYERS_V1)
        if kwargs["layers"] not in LAYER_VARIANTS:
            raise BelamyError(f"unknown style layer variant {kwargs['layers']!r}",
                              f"this belamy knows {', '.join(LAYER_VARIANTS)}: is the run from a newer belamy?")
        return cls(**kwargs)


def default_widths(res: int) -> dict:
    """Small, CPU-friendly widths at 64², growing toward StyleGAN2 config-f at 512² and up."""
    # At 64² this costs about what art-DCGAN's networks cost per image (32 channels at 64², 256 at 8²).
    if res <= 64:
        return {"channel_base": 2048, "channel_max": 256, "map_layers": 2, "z_dim": 256}
    if res <= 128:
        return {"channel_base": 4096, "channel_max": 256, "map_layers": 4, "z_dim": 256}
    if res <= 256:
        return {"channel_base": 16384, "channel_max": 512, "map_layers": 8, "z_dim": 512}
    return {"channel_base": 32768, "channel_max": 512, "map_layers": 8, "z_dim": 512}


def style_config(res: int = 64, nz: int | None = None, ngf: int | None = None, ndf: int | None = None,
                 w_dim: int | None = None, map_layers: int | None = None, channel_base: int | None = None,
                 channel_max: int | None = None, label_names: list[str] | tuple[str, ...] = (), aspect: str = "1:1",
                 conv_clamp: float | None = None, mbstd_group: int | None = None, layers: str | None = None,
                 **_) -> StyleConfig:
    """A validated config. ``ngf``/``ndf`` set the width at the output resolution (channel_base = width·res)."""
    from belamy.models.dcgan import check_resolution

    check_resolution(res, low=16, high=1024)
    check_aspect(aspect)
    d = default_widths(res)
    base = channel_base or d["channel_base"]
    cmax = channel_max or d["channel_max"]
    z_dim = nz or d["z_dim"]
    w_dim = min(z_dim, 512) if w_dim is None else w_dim
    map_depth = d["map_layers"] if map_layers is None else map_layers
    g_base = ngf * res if ngf else base
    d_base = ndf * res if ndf else base
    group = 4 if mbstd_group is None else mbstd_group
    for name, value, low, high in (("nz", z_dim, 1, 4096), ("w-dim", w_dim, 1, 4096), ("map-layers", map_depth, 1, 16),
                                   ("channel-max", cmax, 1, 4096), ("ngf", g_base // res, 1, 4096),
                                   ("ndf", d_base // res, 1, 4096), ("mbstd-group", group, 1, 256)):
        if not low <= value <= high:
            raise BelamyError(f"--{name} {value} is out of range", f"use a value from {low} to {high}")
    variant = layers or LAYERS_EXACT
    if variant not in LAYER_VARIANTS:
        raise BelamyError(f"unknown style layer variant {variant!r}", f"use one of {', '.join(LAYER_VARIANTS)}")
    labels = tuple(str(n) for n in label_names)
    return StyleConfig(res=res, z_dim=z_dim, w_dim=w_dim, map_layers=map_depth, g_channel_base=g_base,
                       d_channel_base=d_base, channel_max=cmax, num_classes=len(labels), label_names=labels,
                       aspect=aspect, conv_clamp=conv_clamp, mbstd_group=group, layers=variant)


def _one_hot(labels: torch.Tensor | None, num_classes: int, batch: int, device) -> torch.Tensor | None:
    if num_classes == 0:
        return None
    if labels is None:
        raise BelamyError("this model is class-conditional: a label is needed", "pass a class label")
    labels = labels.to(device)
    if labels.ndim == 2:  # already one-hot (or soft) vectors
        return labels.float()
    if labels.shape[0] != batch:
        labels = labels.expand(batch)
    return torch.nn.functional.one_hot(labels.long(), num_classes).float()


class MappingNetwork(nn.Module):
    """z (+ embedded class) → w, through ``map_layers`` FC layers at lr ×0.01; tracks the mean w."""

    def __init__(self, cfg: StyleConfig, w_avg_beta: float = 0.995):
        super().__init__()
        self.num_classes, self.num_ws, self.w_avg_beta = cfg.num_classes, cfg.num_ws, w_avg_beta
        self.embed = FullyConnected(cfg.num_classes, cfg.w_dim, activation=False) if cfg.num_classes else None
        width = cfg.z_dim + (cfg.w_dim if cfg.num_classes else 0)
        layers = []
        for i in range(cfg.map_layers):
            layers.append(FullyConnected(width if i == 0 else cfg.w_dim, cfg.w_dim, lr_multiplier=0.01))
        self.layers = nn.Sequential(*layers)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                update_w_avg: bool = False, truncation_cutoff: int | None = None) -> torch.Tensor:
        """ws [B, num_ws, w_dim]; truncation ψ pulls toward ``w_avg`` the first ``truncation_cutoff`` ws
        (all when None): the coarse layers, which set pose and layout."""
        x = normalize_2nd_moment(z.float())
        c = _one_hot(labels, self.num_classes, z.shape[0], z.device)
        if c is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(c))], dim=1)
        w = self.layers(x)
        if update_w_avg:
            self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation != 1.0:
            cut = self.num_ws if truncation_cutoff is None else max(0, min(int(truncation_cutoff), self.num_ws))
            ws = torch.cat([self.w_avg.lerp(ws[:, :cut], truncation), ws[:, cut:]], dim=1)
        return ws


class SynthesisBlock(nn.Module):
    def __init__(self, cfg: StyleConfig, in_channels: int, out_channels: int, size: tuple[int, int], first: bool):
        super().__init__()
        clamp, exact = cfg.conv_clamp, cfg.exact
        self.first = first
        if first:
            self.const = nn.Parameter(torch.randn(out_channels, *size))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, cfg.w_dim, size, up=True, conv_clamp=clamp, exact=exact)
        self.conv1 = SynthesisLayer(out_channels, out_channels, cfg.w_dim, size, conv_clamp=clamp, exact=exact)
        self.torgb = ToRGB(out_channels, cfg.channels, cfg.w_dim, conv_clamp=clamp)
        self.register_buffer("resample_filter", binomial_filter(), persistent=False)
        self.num_ws = 1 if first else 2

    def forward(self, x, img, ws: torch.Tensor, noise_mode: str, generator):
        # ws: [B, num_ws + 1, w_dim]: this block's convolutions, then its toRGB (shared with the next conv).
        if self.first:
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode, generator)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, generator)
            x = self.conv1(x, ws[:, 1], noise_mode, generator)
        y = self.torgb(x, ws[:, self.num_ws])
        img = y if img is None else upsample2d(img, self.resample_filter).to(y.dtype) + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: StyleConfig):
        super().__init__()
        h0, w0 = cfg.start
        self.num_ws = cfg.num_ws
        blocks = []
        in_ch = 0
        for i in range(cfg.log2_res - 1):
            r = 4 * 2**i
            out_ch = cfg.g_channels(r)
            blocks.append(SynthesisBlock(cfg, in_ch, out_ch, (h0 * 2**i, w0 * 2**i), first=i == 0))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", generator: torch.Generator | None = None):
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"unknown noise_mode {noise_mode!r}")
        x = img = None
        index = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, index : index + block.num_ws + 1], noise_mode, generator)
            index += block.num_ws
        return img


class StyleGenerator(nn.Module):
    def __init__(self, cfg: StyleConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.res, self.num_classes = cfg.z_dim, cfg.res, cfg.num_classes
        self.label_names = list(cfg.label_names)
        self.mapping = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg)

    condition_channels = 0  # drawn from a latent, not from an image

    @property
    def num_ws(self) -> int:
        return self.cfg.num_ws

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                noise_mode: str = "random", generator: torch.Generator | None = None,
                update_w_avg: bool = False, truncation_cutoff: int | None = None) -> torch.Tensor:
        ws = self.mapping(z, labels, truncation=truncation, update_w_avg=update_w_avg, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, generator=generator)

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                   noise_mode: str = "const", batch_invariant: bool = True,
                   truncation_cutoff: int | None = None) -> torch.Tensor:
        """Deterministic images for generation: const noise, truncation ψ toward ``w_avg``.

        ``batch_invariant``: one image at a time, because matrix products round differently for
        different batch sizes (1e-6, enough to flip a pixel's last bit): a seed then gives the same
        PNG whether drawn alone or in a batch, as provenance promises.
        """
        kw = {"truncation": truncation, "noise_mode": noise_mode, "truncation_cutoff": truncation_cutoff}
        if not batch_invariant or z.shape[0] == 1:
            return self.forward(z, labels, **kw)
        if labels is not None and labels.ndim > 0 and labels.shape[0] == z.shape[0]:
            parts = [self.forward(z[i : i + 1], labels[i : i + 1], **kw) for i in range(z.shape[0])]
        else:
            parts = [self.forward(z[i : i + 1], labels, **kw) for i in range(z.shape[0])]
        return torch.cat(parts)

    def mix(self, z1: torch.Tensor, z2: torch.Tensor, crossover: int, labels: torch.Tensor | None = None,
            truncation: float = 1.0, noise_mode: str = "const", truncation_cutoff: int | None = None) -> torch.Tensor:
        """Style mixing: coarse styles (layers < crossover) from z1, the rest from z2."""
        if not 0 <= crossover <= self.num_ws:
            raise BelamyError(f"crossover {crossover} is out of range", f"use 0 to {self.num_ws}")
        ws = self.mapping(z1, labels, truncation=truncation, truncation_cutoff=truncation_cutoff)
        ws2 = self.mapping(z2, labels, truncation=truncation, truncation_cutoff=truncation_cutoff)
        ws = torch.cat([ws[:, :crossover], ws2[:, crossover:]], dim=1)
        return self.synthesis(ws, noise_mode=noise_mode)


class DiscriminatorBlock(nn.Module):
    """Two 3×3 convs (the second halving the resolution) with a 1×1 residual skip, scaled by √½
    (``residual=False``: no skip, the reference's 'orig' architecture)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, from_rgb: bool, channels: int,
                 conv_clamp: float | None, exact: bool = True, residual: bool = True):
        super().__init__()
        self.fromrgb = Conv2d(channels, tmp_channels, 1, conv_clamp=conv_clamp, exact=exact) if from_rgb else None
        self.conv0 = Conv2d(tmp_channels, tmp_channels, 3, conv_clamp=conv_clamp, exact=exact)
        self.conv1 = Conv2d(tmp_channels, out_channels, 3, down=True, conv_clamp=conv_clamp, exact=exact)
        self.skip = (Conv2d(tmp_channels, out_channels, 1, bias=False, activation=False, down=True, exact=exact)
                     if residual else None)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(img)
        if self.skip is None:
            return self.conv1(self.conv0(x))
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv0(x)
        x = self.conv1(x, gain=math.sqrt(0.5))
        return y + x


class LabelMapping(nn.Module):
    """The conditional D's class → projection vector, as the reference's D-side MappingNetwork:
    embed the label, normalise it, then ``layers`` FC layers with leaky ReLU at lr ×0.01."""

    def __init__(self, num_classes: int, dim: int, layers: int):
        super().__init__()
        self.embed = FullyConnected(num_classes, dim, activation=False)
        self.layers = nn.Sequential(*(FullyConnected(dim, dim, lr_multiplier=0.01) for _ in range(layers)))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.layers(normalize_2nd_moment(self.embed(c)))


class StyleDiscriminator(nn.Module):
    def __init__(self, cfg: StyleConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes = cfg.num_classes
        h0, w0 = cfg.start
        blocks = []
        for i, r in enumerate(2**k for k in range(cfg.log2_res, 2, -1)):
            tmp = cfg.d_channels(r)
            out = cfg.d_channels(r // 2)
            blocks.append(DiscriminatorBlock(tmp, tmp, out, from_rgb=i == 0, channels=cfg.channels,
                                             conv_clamp=cfg.conv_clamp, exact=cfg.exact,
                                             residual=cfg.d_architecture != "orig"))
        self.blocks = nn.ModuleList(blocks)
        c4 = cfg.d_channels(4)
        self.mbstd = MinibatchStd(cfg.mbstd_group, cfg.mbstd_channels) if cfg.mbstd_channels else None
        self.conv = Conv2d(c4 + cfg.mbstd_channels, c4, 3, conv_clamp=cfg.conv_clamp, exact=cfg.exact)
        self.fc = FullyConnected(c4 * h0 * w0, c4)
        self.cmap_dim = cfg.d_cmap_dim
        self.out = FullyConnected(c4, self.cmap_dim or 1, activation=False)
        # Projection discriminator: the score is ⟨features, mapping(class)⟩ / √dim.
        self.label_map = self.mapping = None
        if cfg.num_classes and cfg.exact:
            self.mapping = LabelMapping(cfg.num_classes, self.cmap_dim, cfg.d_map_layers)
        elif cfg.num_classes:  # the first variant's two-layer label map
            self.label_map = nn.Sequential(FullyConnected(cfg.num_classes, c4), FullyConnected(c4, c4, activation=False))

    def features(self, img: torch.Tensor) -> torch.Tensor:
        x = None
        for block in self.blocks:
            x = block(x, img)
        x = self.conv(self.mbstd(x) if self.mbstd is not None else x)
        return self.fc(x.flatten(1))

    def forward(self, img: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits_and_features(img, labels)[0]

    def logits_and_features(self, img: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` and ``penultimate`` from one pass (for losses that read both, e.g. CAN's style head)."""
        h = self.features(img)
        x = self.out(h)
        if self.num_classes:
            c = _one_hot(labels, self.num_classes, img.shape[0], img.device)
            cmap = self.mapping(c) if self.mapping is not None else self.label_map(c)
            x = (x * cmap.to(x.dtype)).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x.reshape(-1), h

    def penultimate(self, img: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer: a cheap learned image embedding (used by curation tools)."""
        return self.features(img)


# How the StyleGAN networks (this one and stylegan3) train: StyleGAN2's loss and options, and
# StyleGAN2-ADA's 'auto' config: Adam lr 0.0025, betas (0, 0.99); ADA on; a G_ema half-life that grows
# with the batch.
TRAINING = dict(
    default_loss="stylegan2",
    options=(StyleNetworkOptions, EMAOptions, LabelOptions),
    defaults={"batch": 32, "lr": 2.5e-3, "beta1": 0.0, "beta2": 0.99, "augment": "ada",
              "ema_kimg": lambda run: run.batch * 10 / 32},
    base_loss="stylegan2",
    equalized=True,
    feature_hook=one_pass_features,
)

register(Architecture(
    name="stylegan2",
    aliases=("style",),  # its name until 0.x: run.json files and imports that say "style" load as stylegan2
    config_from_dict=StyleConfig.from_dict,
    make_generator=StyleGenerator,
    make_discriminator=StyleDiscriminator,
    make_config=style_config,
    losses=("stylegan2", "can"),
    **TRAINING,
    summary="StyleGAN2-ADA (mapping network, modulated convolutions, G_ema), 16² to 1024²",
    design="StyleGAN2-ADA (Karras et al. 2020)",
))
