"""Paths through latent space: spherical interpolation with eased keyframes, and a seamless circle.

A Gaussian latent lives, in practice, on a thin shell of radius ≈ √d; a straight line between two
points cuts through the hollow middle (dull, washed-out faces), so keyframes are joined by slerp.
Smoothstep easing gives zero velocity at each keyframe: every face rests a moment before the next
one is born out of it.
"""

from __future__ import annotations

import numpy as np


def smoothstep(t: float | np.ndarray) -> float | np.ndarray:
    """3t² − 2t³: eases in and out, with zero slope at 0 and 1."""
    return t * t * (3.0 - 2.0 * t)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between two vectors (falls back to a straight line when they are parallel)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return (1.0 - t) * a + t * b
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1.0 - t) * a + t * b
    s = np.sin(omega)
    return (np.sin((1.0 - t) * omega) / s) * a + (np.sin(t * omega) / s) * b


def circle_point(a: np.ndarray, b: np.ndarray, t: float, radius: float | None = None) -> np.ndarray:
    """z(t) = a·cos 2πt + b·sin 2πt, rescaled to ``radius``: a loop that closes by construction."""
    z = np.asarray(a, np.float64) * np.cos(2 * np.pi * t) + np.asarray(b, np.float64) * np.sin(2 * np.pi * t)
    radius = radius if radius is not None else 0.5 * (np.linalg.norm(a) + np.linalg.norm(b))
    norm = np.linalg.norm(z)
    return z if norm == 0.0 else z * (radius / norm)


class LatentWalk:
    """An endless, never-repeating walk: a chain of random keyframes joined by eased slerp.

    ``step()`` returns the next (z, label-vector) pair. A new keyframe is drawn from a seeded RNG
    only when the old one is reached, so memory stays flat however long the walk runs. With
    ``num_classes`` and no fixed ``label``, each keyframe also draws a class and the one-hot label
    blends with the same easing (a conditional model's faces drift from one class into another).
    """

    def __init__(self, z_dim: int, seed: int, frames_per_keyframe: int = 96, num_classes: int = 0,
                 label: int | None = None):
        if frames_per_keyframe < 1:
            raise ValueError("frames_per_keyframe must be at least 1")
        self.z_dim, self.num_classes, self.label = z_dim, num_classes, label
        self.frames_per_keyframe = frames_per_keyframe
        self.rng = np.random.default_rng(seed)
        self.frame = 0
        self.keyframes_drawn = 0
        self.start_z, self.start_c = self._keyframe()
        self.end_z, self.end_c = self._keyframe()

    def _keyframe(self) -> tuple[np.ndarray, np.ndarray | None]:
        self.keyframes_drawn += 1
        z = self.rng.standard_normal(self.z_dim)
        if not self.num_classes:
            return z, None
        cls = self.label if self.label is not None else int(self.rng.integers(self.num_classes))
        return z, np.eye(self.num_classes)[cls]

    def step(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The next point of the walk, as float32 (z [z_dim], label [num_classes] or None)."""
        phase = self.frame % self.frames_per_keyframe
        if phase == 0 and self.frame > 0:
            self.start_z, self.start_c = self.end_z, self.end_c
            self.end_z, self.end_c = self._keyframe()
        self.frame += 1
        t = float(smoothstep(phase / self.frames_per_keyframe))
        z = slerp(self.start_z, self.end_z, t).astype(np.float32)
        c = None if self.start_c is None else ((1 - t) * self.start_c + t * self.end_c).astype(np.float32)
        return z, c
