"""The contract every generator and discriminator keeps, so the rest of belamy needs no probing.

Generators (``nn.Module``):

- ``cfg``: the config (with ``to_dict()``; ``shape`` is the output (height, width)); ``res``.
- ``z_dim``: latent size (0 for generators conditioned on an image instead, e.g. pix2pix).
- ``condition_channels``: channels of the conditioning image (0 for latent generators).
- ``num_classes`` and ``label_names``: class conditioning (0 and [] when unconditional).
- ``forward(z, labels=None)``: a training forward pass (it may draw noise from a generator it is given).
- ``synthesize(z, labels=None, truncation=1.0, batch_invariant=True)``: deterministic images in
  [-1, 1], [N, 3, H, W] — the same input always gives the same picture. ``truncation`` ψ pulls
  toward the mean; ``batch_invariant=False`` may batch for speed (bit-equality across batch sizes
  is then not promised).

Discriminators: ``forward(x, labels=None)`` gives one logit per image; ``penultimate(x, labels=None)``
the features before the last layer (a learned image embedding: taste models, distillation,
attribution and feature-matching losses use it). Optionally ``logits_and_features(x, labels=None)``
gives both from one pass (losses that need both, such as CAN's, otherwise run D twice).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from belamy.errors import BelamyError


@runtime_checkable
class Generator(Protocol):
    z_dim: int
    num_classes: int
    res: int

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                   batch_invariant: bool = True) -> torch.Tensor: ...


@runtime_checkable
class Discriminator(Protocol):
    def penultimate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...


def check_generator(G, arch: str) -> None:
    if not isinstance(G, Generator):
        raise BelamyError(f"the {arch} generator does not keep belamy's generator contract",
                          "give it z_dim, num_classes, res and synthesize() (see belamy.models.contract)")


def check_discriminator(D, arch: str) -> None:
    if not isinstance(D, Discriminator):
        raise BelamyError(f"the {arch} discriminator has no penultimate features",
                          "give it penultimate() (see belamy.models.contract)")


def image_shape(cfg) -> tuple[int, int]:
    """(height, width) of the pictures a model config draws and judges: its ``shape``, or ``res`` square."""
    return tuple(getattr(cfg, "shape", None) or (cfg.res, cfg.res))
