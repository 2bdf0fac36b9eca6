"""A walk through latent space between two works of the same checkpoint, frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from belamy.curate.db import Candidate
from belamy.curate.features import find_checkpoint
from belamy.errors import BelamyError
from belamy.generate.latent_paths import slerp
from belamy.provenance.embed import save_png
from belamy.provenance.record import Record
from belamy.utils.grid import to_pictures


def class_of(gen, c: Candidate) -> int:
    """The class a work was drawn with: its recorded label, else what `belamy generate` picks (seed mod classes)."""
    from belamy.generate.sample import label_names

    names = label_names(gen)
    label = Record.from_dict(c.provenance).label
    if label in names:
        return names.index(label)
    return int(c.seed) % gen.num_classes


def render_travel(root: Path, a: Candidate, b: Candidate, frames: int, device: str = "auto") -> list[Path]:
    """Write ``frames`` PNGs from ``a`` to ``b`` (both ends included) under ``<root>/travels/``; cached on disk."""
    from belamy.generate.loader import load_generator

    if not 2 <= frames <= 240:
        raise BelamyError(f"{frames} frames is not valid", "ask for 2 to 240 frames")
    if a.seed is None or b.seed is None:
        raise BelamyError("both works need a seed in their provenance", "pick two images made by `belamy generate`")
    if not a.checkpoint_sha256 or a.checkpoint_sha256 != b.checkpoint_sha256:
        raise BelamyError("the two works come from different checkpoints", "pick two works of the same run and checkpoint")
    ckpt = find_checkpoint(a.provenance, [root], confine=root)
    if ckpt is None:
        raise BelamyError("the checkpoint these works came from is not under the studio root any more",
                          "keep the run folder inside the studio root")
    out = Path(root) / "travels" / f"{a.hash[:12]}-{b.hash[:12]}-{frames}"
    paths = [out / f"frame-{i:03d}.png" for i in range(frames)]
    if all(p.exists() for p in paths):
        return paths
    gen = load_generator(ckpt, device=device)
    truncation = Record.from_dict(a.provenance).truncation
    z = gen.latents([a.seed, b.seed]).cpu()
    steps = torch.linspace(0, 1, frames)
    path_z = torch.from_numpy(np.stack([slerp(z[0].numpy(), z[1].numpy(), float(t)) for t in steps])).float()
    labels = None
    if gen.num_classes:
        # A class-conditional run: each end keeps its own class (a class cannot be half of two), the switch at the middle.
        ends = [class_of(gen, c) for c in (a, b)]
        labels = torch.tensor([ends[0] if t < 0.5 else ends[1] for t in steps.tolist()], device=gen.device)
    images = []
    with torch.inference_mode():
        for start in range(0, frames, 32):
            chunk = None if labels is None else labels[start : start + 32]
            images.append(to_pictures(gen.synthesize(path_z[start : start + 32], labels=chunk, truncation=truncation)))
    pictures = np.concatenate(images)
    for i, (p, picture) in enumerate(zip(paths, pictures, strict=True)):
        save_png(picture, p, gen.provenance(travel={"from_seed": a.seed, "to_seed": b.seed, "t": float(steps[i]),
                                                    "frames": frames}, truncation=truncation))
    return paths
