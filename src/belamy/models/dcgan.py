"""The DCGAN behind the Belamy portraits, configured as art-DCGAN does.

art-DCGAN (Robbie Barrat, after Radford et al. 2015 and soumith/dcgan.torch) at 128²: nz 100,
ngf 160, ndf 40, a projection to ngf·16 channels at 4×4, then stride-2 transposed convolutions
halving the channels at each doubling; the discriminator mirrors it with LeakyReLU(0.2), and
BatchNorm everywhere but D's first layer and G's last. The 64² variant is dcgan.torch's (ngf = ndf = 64).

The discriminator returns logits; the sigmoid lives in the loss (``softplus``), which is the same
function as art-DCGAN's Sigmoid + BCE but numerically stable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from belamy.errors import BelamyError
from belamy.models import limits
from belamy.models.registry import Architecture, EMAOptions, one_pass_features, register
from belamy.utils.aspect import ASPECTS, AspectShaped, check_aspect

# Published widths: art-DCGAN at 128², dcgan.torch at 64².
DEFAULT_WIDTHS = {64: (64, 64), 128: (160, 40)}


@dataclass(frozen=True)
class DCGANConfig(AspectShaped):
    res: int = 64
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    channels: int = 3
    # Class conditioning (0 = unconditional, as art-DCGAN). Used by students distilled from a
    # class-conditional teacher: a learned label embedding is concatenated to z.
    num_classes: int = 0
    label_names: tuple[str, ...] = field(default_factory=tuple)
    # Portrait shapes (width:height): the 4×4 start becomes 5×4 (4:5) or 4×3 (3:4); see belamy.utils.aspect.
    aspect: str = "1:1"

    def __post_init__(self) -> None:
        # Every value, then the size it implies, before any layer is made (see belamy.models.limits).
        limits.power_of_two("res", self.res, 8, 2048)
        for name in ("nz", "ngf", "ndf"):
            limits.whole(name, getattr(self, name), 1, 4096)
        limits.whole("channels", self.channels, 1, 4)
        limits.whole("num_classes", self.num_classes, 0, limits.MAX_CLASSES)
        limits.names("label_names", self.label_names)
        if self.label_names and len(self.label_names) != self.num_classes:
            raise BelamyError(f"model config: {len(self.label_names)} label_names for {self.num_classes} "
                                     "classes", limits.HINT)
        limits.choice("aspect", self.aspect, ASPECTS)
        limits.check_parameters("DCGAN", self.weight_count())

    def weight_count(self) -> int:
        """Convolution and embedding weights of G and D together (BatchNorm's few are left out)."""
        h0, w0 = self.start
        width = self.ngf * 2 ** (self.doublings - 1)
        g = (self.nz + self.embed_dim) * width * h0 * w0 + self.num_classes * self.embed_dim
        for _ in range(self.doublings - 1):
            g, width = g + width * (width // 2) * 16, width // 2
        g += width * self.channels * 16
        width = self.ndf
        d = self.channels * width * 16
        for _ in range(self.doublings - 1):
            d, width = d + width * width * 2 * 16, width * 2
        return g + d + width * h0 * w0

    @property
    def embed_dim(self) -> int:
        """Width of the label embedding joined to z (0 when unconditional)."""
        return min(self.nz, 64) if self.num_classes else 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["label_names"] = list(self.label_names)
        if not self.num_classes:  # an unconditional config is written exactly as before conditioning existed
            del data["num_classes"], data["label_names"]
        if self.aspect == "1:1":  # likewise a square one
            del data["aspect"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DCGANConfig:
        """A config read from a file: every value checked (``__post_init__``) before anything is built."""
        data = limits.config_dict(data)
        kwargs = {k: data[k] for k in ("res", "nz", "ngf", "ndf", "channels", "num_classes", "aspect") if k in data}
        if data.get("label_names"):
            kwargs["label_names"] = limits.names("label_names", data["label_names"])
        return cls(**kwargs)


def dcgan_config(res: int = 64, nz: int = 100, ngf: int | None = None, ndf: int | None = None,
                 aspect: str = "1:1") -> DCGANConfig:
    """A validated config; widths default to the published ones for the resolution."""
    check_resolution(res, low=16, high=1024)
    check_aspect(aspect)
    default_ngf, default_ndf = DEFAULT_WIDTHS.get(res, (64, 64))
    ngf = default_ngf if ngf is None else ngf
    ndf = default_ndf if ndf is None else ndf
    for name, value in (("nz", nz), ("ngf", ngf), ("ndf", ndf)):
        if not 1 <= value <= 4096:
            raise BelamyError(f"--{name} {value} is out of range", "use a width between 1 and 4096")
    return DCGANConfig(res=res, nz=nz, ngf=ngf, ndf=ndf, aspect=aspect)


def check_resolution(res: int, low: int, high: int) -> None:
    if res < 1 or res & (res - 1):
        raise BelamyError(f"resolution {res} is not a power of two", f"use one of {low}, {low * 2}, ..., {high}")
    if not low <= res <= high:
        raise BelamyError(f"resolution {res} is out of range", f"use a power of two from {low} to {high}")


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales: the DCGAN paper's initialisation."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim = cfg.nz
        self.res = cfg.res
        self.num_classes = cfg.num_classes
        self.label_names = list(cfg.label_names)
        width = cfg.ngf * 2 ** (cfg.doublings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cfg.nz + cfg.embed_dim, width, cfg.start, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(cfg.doublings - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)
        # Created after the initialisation above, so an unconditional generator draws exactly the
        # same initial weights as before conditioning existed. A linear map of the one-hot (or soft,
        # blended) label vector: blending classes in the exhibit blends their embeddings.
        self.embed = nn.Linear(cfg.num_classes, cfg.embed_dim, bias=False) if cfg.num_classes else None

    condition_channels = 0  # drawn from a latent, not from an image

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = z.reshape(z.shape[0], self.z_dim)
        if self.embed is not None:
            x = torch.cat([x, self.embed(label_vectors(labels, self.num_classes, x.shape[0]).to(x.dtype))], dim=1)
        return self.main(x.reshape(x.shape[0], -1, 1, 1))

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                   batch_invariant: bool = True) -> torch.Tensor:
        """Images for generation (call in eval mode): ψ scales z toward the origin, the latent mean."""
        return self(z * truncation if truncation != 1.0 else z, labels)


def label_vectors(labels: torch.Tensor | None, num_classes: int, batch: int) -> torch.Tensor:
    """Class indices [N] (or one index for all) or one-hot/soft vectors [N, classes] as float vectors [N, classes]."""
    if labels is None:
        raise BelamyError("this model is class-conditional: a label is needed", "pass a class label")
    if labels.ndim == 2:
        return labels.float()
    labels = labels.reshape(-1).long()
    if labels.shape[0] != batch:
        labels = labels.expand(batch)
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise BelamyError(f"label {int(labels.max())} is out of range", f"this model has {num_classes} classes")
    return torch.nn.functional.one_hot(labels, num_classes).float()


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        width = cfg.ndf
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(cfg.doublings - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, cfg.start, 1, 0, bias=False)
        self.apply(init_dcgan_weights)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x)).reshape(-1)

    def penultimate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The 4×4 feature map before the last layer, flattened: a cheap learned image embedding."""
        return self.features(x).flatten(1)

    def logits_and_features(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` and ``penultimate`` from one pass (for losses that read both, e.g. CAN's style head)."""
        h = self.features(x)
        return self.head(h).reshape(-1), h.flatten(1)


register(Architecture(
    name="dcgan",
    config_from_dict=DCGANConfig.from_dict,
    make_generator=DCGANGenerator,
    make_discriminator=DCGANDiscriminator,
    make_config=lambda res=64, nz=None, ngf=None, ndf=None, aspect="1:1", **_: dcgan_config(
        res, nz or 100, ngf, ndf, aspect or "1:1"),
    defaults={"batch": 64, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "augment": "none"},
    default_loss="nonsat",
    # A G average (--ema-kimg, off by default as in art-DCGAN) draws the samples when it is on.
    options=(EMAOptions,),
    base_loss="nonsat",
    feature_hook=one_pass_features,
    summary="Belamy's DCGAN, configured as art-DCGAN (64² or 128²)",
    design="DCGAN (Radford, Metz and Chintala 2015), configured as in art-DCGAN by Robbie Barrat",
))
