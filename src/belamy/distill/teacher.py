"""The teacher: a trained run's generator (G_ema when it has one) and, if saved, its discriminator.

The generator gives the targets; the discriminator, frozen, gives a perceptual yardstick learned on
the very paintings the teacher was trained on (no downloaded network needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from belamy.generate.loader import LoadedGenerator, load_generator
from belamy.trainer.modules import load_module
from belamy.utils.aspect import shape_for


@dataclass
class Teacher:
    gen: LoadedGenerator
    D: nn.Module | None
    truncation: float
    label_names: list[str]

    @property
    def res(self) -> int:
        return self.gen.res

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the teacher's pictures."""
        return tuple(getattr(getattr(self.gen.G, "cfg", None), "shape", (self.gen.res, self.gen.res)))

    @property
    def aspect(self) -> str:
        return getattr(getattr(self.gen.G, "cfg", None), "aspect", "1:1")

    @property
    def z_dim(self) -> int:
        return self.gen.z_dim

    @property
    def num_classes(self) -> int:
        return self.gen.num_classes

    def identity(self) -> dict:
        """What the student's run and every image it draws record about where it came from."""
        return {
            "run": str(self.gen.run_dir), "checkpoint": self.gen.checkpoint_path.with_suffix(".safetensors").name,
            "sha256": self.gen.checkpoint_sha256, "truncation": self.truncation, "arch": self.gen.arch,
            "res": self.gen.res, "kimg": self.gen.kimg,
        }

    @torch.no_grad()
    def images(self, z: torch.Tensor, labels: torch.Tensor | None, res: int) -> torch.Tensor:
        """Teacher images for (z, labels) in [-1, 1], area-averaged down to the shape at ``res`` if it is lower."""
        # Deterministic and batched: bit-equality across batch sizes is not needed here.
        x = self.gen.G.synthesize(z.to(self.gen.device), labels=labels, truncation=self.truncation,
                                  batch_invariant=False).float()
        shape = shape_for(res, self.aspect)
        return downsample(x, shape) if tuple(x.shape[-2:]) != shape else x


def downsample(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Area-average ``x`` down to (height, width)."""
    return F.interpolate(x, size=shape, mode="area")


def load_teacher(run: Path, checkpoint: str, truncation: float, device: str) -> Teacher:
    gen = load_generator(Path(run), checkpoint, device)
    # The generator's classes only: a CAN run stores its corpus's styles, but its G takes no class.
    names = list(gen.meta.get("label_names") or gen.meta.get("model", {}).get("label_names") or []) if gen.num_classes else []
    if gen.num_classes and len(names) != gen.num_classes:
        names = [str(i) for i in range(gen.num_classes)]
    return Teacher(gen=gen, D=_load_discriminator(gen), truncation=truncation, label_names=names)


def _load_discriminator(gen: LoadedGenerator) -> nn.Module | None:
    """The teacher's D from the same checkpoint, frozen, or None if the checkpoint holds none."""
    loaded = load_module(gen.checkpoint_path, "discriminator", device=gen.device, missing_ok=True)
    return loaded.module if loaded is not None else None
