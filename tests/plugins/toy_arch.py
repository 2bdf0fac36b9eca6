"""A whole new architecture in one file: two tiny MLP networks plus their registration.

Nothing else in belamy is edited to add it: importing this module registers it (or naming it in
BELAMY_PLUGINS), and from then on `train`, `generate`, `export`, `walk`, `exhibit` and `distill`
know it by name, and `belamy train` takes its own option, --toy-depth.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from belamy.models.registry import Architecture, register
from belamy.utils.declared import option


@dataclass
class ToyOptions:
    toy_depth: int | None = option(help="toy: hidden layers of the generator (default: 1).",
                                   check=lambda v: 1 <= v <= 8, hint="use 1 to 8 layers", shape=True)


@dataclass(frozen=True)
class ToyConfig:
    res: int = 16
    nz: int = 8
    width: int = 32
    channels: int = 3
    depth: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.res, self.res

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ToyConfig:
        return cls(**{k: data[k] for k in ("res", "nz", "width", "channels", "depth") if k in data})


class ToyGenerator(nn.Module):
    condition_channels = 0
    num_classes = 0
    label_names: list[str] = []

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.cfg, self.z_dim, self.res = cfg, cfg.nz, cfg.res
        hidden = [layer for _ in range(cfg.depth - 1) for layer in (nn.Linear(cfg.width, cfg.width), nn.ReLU())]
        self.net = nn.Sequential(nn.Linear(cfg.nz, cfg.width), nn.ReLU(), *hidden,
                                 nn.Linear(cfg.width, cfg.channels * cfg.res * cfg.res), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], -1)).reshape(z.shape[0], self.cfg.channels, self.res, self.res)

    def synthesize(self, z, labels=None, truncation: float = 1.0, batch_invariant: bool = True) -> torch.Tensor:
        return self(z * truncation, labels)


class ToyDiscriminator(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(cfg.channels * cfg.res * cfg.res, cfg.width), nn.LeakyReLU(0.2))
        self.head = nn.Linear(cfg.width, 1)

    def penultimate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x.contiguous())

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.penultimate(x)).reshape(-1)


def toy_config(res: int = 16, nz: int | None = None, ngf: int | None = None, toy_depth: int | None = None,
               **_) -> ToyConfig:
    if res < 4 or res & (res - 1) or res > 64:
        raise ValueError(f"toy resolution {res}")
    return ToyConfig(res=res, nz=nz or 8, width=ngf or max(8, int(math.sqrt(res) * 8)), depth=toy_depth or 1)


register(Architecture(
    name="toy",
    config_from_dict=ToyConfig.from_dict,
    make_generator=ToyGenerator,
    make_discriminator=ToyDiscriminator,
    make_config=toy_config,
    options=(ToyOptions,),
    defaults={"batch": 8, "lr": 1e-3, "beta1": 0.5, "beta2": 0.99},
    summary="a two-layer MLP GAN (a test of the registry)",
))
