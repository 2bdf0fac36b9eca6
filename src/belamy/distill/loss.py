"""What "draws like the teacher" means: L1 in pixels at three scales, plus the teacher D's view.

Pixel L1 alone at full resolution lets a small student settle for a blur; the lower scales weigh
composition and colour (what a viewer sees across the room) on their own, and the discriminator's
intermediate activations compare texture and structure the way the teacher's training judged them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 4)  # the two lower scales: ½ and ¼ of the student's side


class FeatureTap:
    """Intermediate activations of a frozen discriminator, captured by forward hooks."""

    def __init__(self, D: nn.Module):
        self.D = D
        self.outputs: list[torch.Tensor] = []
        for layer in feature_layers(D):
            layer.register_forward_hook(lambda _m, _i, out: self.outputs.append(out))

    def __call__(self, images: torch.Tensor) -> list[torch.Tensor]:
        self.outputs = []
        last = self.D.penultimate(images)
        found = self.outputs
        self.outputs = []
        return [*found, last]


def feature_layers(D: nn.Module) -> list[nn.Module]:
    """The layers whose outputs count: a style D's residual blocks, or a DCGAN D's activations."""
    if isinstance(getattr(D, "blocks", None), nn.ModuleList):
        return list(D.blocks)
    features = getattr(D, "features", None)
    if isinstance(features, nn.Sequential):
        acts = [m for m in features if isinstance(m, nn.LeakyReLU | nn.ReLU)]
        return acts[:-1]  # the last one is the penultimate output, taken anyway
    return []


class DistillLoss:
    def __init__(self, pixel_weight: float, scale_weight: float, feature_weight: float, D: nn.Module | None,
                 teacher_shape: tuple[int, int]):
        self.pixel_weight, self.scale_weight = pixel_weight, scale_weight
        self.feature_weight = feature_weight if D is not None else 0.0
        self.tap = FeatureTap(D) if D is not None and self.feature_weight > 0 else None
        self.teacher_shape = tuple(teacher_shape)

    def __call__(self, student: torch.Tensor, target: torch.Tensor, target_full: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its parts. ``target`` is at the student's size; ``target_full`` at the teacher's
        (only needed for the feature term when the student is smaller)."""
        parts: dict[str, torch.Tensor] = {"l1": F.l1_loss(student, target)}
        total = self.pixel_weight * parts["l1"]
        for factor in SCALES:
            if min(student.shape[-2:]) // factor < 1:
                continue
            s, t = F.avg_pool2d(student, factor), F.avg_pool2d(target, factor)
            parts[f"l1_x{factor}"] = F.l1_loss(s, t)
            total = total + self.scale_weight * parts[f"l1_x{factor}"]
        if self.tap is not None:
            full = target if target_full is None else target_full
            s = student
            if tuple(s.shape[-2:]) != self.teacher_shape:
                s = F.interpolate(s, size=self.teacher_shape, mode="bilinear", align_corners=False)
            with torch.no_grad():
                wanted = self.tap(full)
            got = self.tap(s)
            # Each layer normalised by the size of its own activations, so no one layer dominates.
            terms = [F.l1_loss(g, w) / (w.abs().mean() + 1e-6) for g, w in zip(got, wanted, strict=True)]
            parts["feature"] = torch.stack(terms).mean()
            total = total + self.feature_weight * parts["feature"]
        return total, parts
