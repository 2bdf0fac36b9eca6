"""The exhibit's frame generator: one endless latent walk per screen, rendered and encoded together.

All screens are rendered in one batch (one forward pass is cheaper than two on every engine), then
resized to the display resolution and encoded as JPEG, ready to send.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from belamy.errors import BelamyError
from belamy.generate.latent_paths import LatentWalk

FORMATS = {"jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}


@dataclass(frozen=True)
class ScreenSpec:
    """What one screen shows: its walk's seed, and its class (index and name) or None for any."""

    number: int
    seed: int
    label: int | None = None
    label_name: str | None = None


def parse_labels(text: str | None, names: list[str], screens: int) -> list[int | None]:
    """``--labels A,B`` as one class index per screen (names or indices; one label serves every screen)."""
    if not text:
        return [None] * screens
    if not names:
        raise BelamyError("--labels needs a class-conditional model, and this run is unconditional",
                          "leave out --labels, or train with class labels (a style model with --labels)")
    wanted = [part.strip() for part in text.split(",")]
    if any(not part for part in wanted) or len(wanted) not in (1, screens):
        raise BelamyError(f"--labels {text!r} does not give one label per screen ({screens})",
                          f"give 1 or {screens} comma-separated labels from: {', '.join(names)}")
    indices = []
    for part in wanted:
        if part in names:
            indices.append(names.index(part))
        elif part.isdigit() and int(part) < len(names):
            indices.append(int(part))
        else:
            raise BelamyError(f"unknown label {part!r}", f"this run's labels are: {', '.join(names)}")
    return indices * screens if len(indices) == 1 else indices


def resize_frame(frame: np.ndarray, res: int) -> Image.Image:
    """An RGB image whose longer side is ``res``, in the frame's own shape (a portrait stays a
    portrait); bilinear: fast, and smooth enough for a 2× enlargement."""
    img = Image.fromarray(frame)
    scale = res / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    return img


def encode_frame(img: Image.Image, fmt: str = "jpeg", quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=FORMATS[fmt][0], quality=quality)
    return buffer.getvalue()


class FrameGenerator:
    """``next_frames()`` → one encoded frame per screen, each a step further along its walk."""

    def __init__(self, engine, screens: list[ScreenSpec], res: int | None = None, frames_per_face: int = 96,
                 fmt: str = "jpeg", quality: int = 85):
        if fmt not in FORMATS:
            raise BelamyError(f"format {fmt!r} is not supported", f"use one of {', '.join(FORMATS)}")
        if not 1 <= quality <= 100:
            raise BelamyError(f"--quality {quality} is out of range", "use 1 to 100")
        self.engine, self.screens = engine, screens
        self.res = res or engine.res
        if not 8 <= self.res <= 4096:
            raise BelamyError(f"--res {self.res} is out of range", "use 8 to 4096 pixels")
        self.fmt, self.quality = fmt, quality
        self.walks = [LatentWalk(engine.z_dim, spec.seed, frames_per_face, engine.num_classes, spec.label)
                      for spec in screens]
        self.frames = 0

    @property
    def mime(self) -> str:
        return FORMATS[self.fmt][1]

    @property
    def model_res(self) -> int:
        """The longer side of the pictures the model draws (the page upscales no further than its screen)."""
        return self.engine.res

    def next_pixels(self) -> list[Image.Image]:
        points = [walk.step() for walk in self.walks]
        z = np.stack([p[0] for p in points])
        labels = np.stack([p[1] for p in points]) if self.engine.num_classes else None
        rendered = self.engine.render(z, labels)
        self.frames += 1
        return [resize_frame(frame, self.res) for frame in rendered]

    def next_frames(self) -> list[bytes]:
        return [encode_frame(img, self.fmt, self.quality) for img in self.next_pixels()]
