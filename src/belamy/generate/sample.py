"""`belamy generate`: new images from a trained run, each carrying its provenance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from belamy.errors import BelamyError
from belamy.generate.loader import LoadedGenerator, load_generator
from belamy.models.latents import check_seed
from belamy.provenance.embed import save_png
from belamy.trainer.paths import prepare_writable
from belamy.utils.grid import make_grid, to_pictures, to_uint8
from belamy.utils.progress import make_progress

__all__ = ["GenerateResult", "generate", "generate_images", "to_uint8"]

GRID_MAX = 256  # a grid of more would be too small to look at, and held in memory


@dataclass
class GenerateResult:
    images: list[Path]
    grid: Path | None


def label_names(gen: LoadedGenerator) -> list[str]:
    """Class names of a class-conditional run (empty for an unconditional one, even one trained with
    --labels for another purpose, such as CAN's style head)."""
    if not gen.num_classes:
        return []
    return list(gen.meta.get("label_names") or gen.meta.get("model", {}).get("label_names") or [])


def label_index(gen: LoadedGenerator, name: str | None) -> int | None:
    """The class index for ``--label NAME`` (None: each seed picks class seed mod classes)."""
    if name is None:
        return None
    names = label_names(gen)
    if not names:
        raise BelamyError(f"--label {name}: this run is not class-conditional", "drop --label")
    if name not in names:
        raise BelamyError(f"unknown label {name!r}", f"this run knows: {', '.join(names)}")
    return names.index(name)


def generate_images(gen: LoadedGenerator, seeds: list[int], batch: int = 32, truncation: float = 1.0,
                    label: int | None = None, truncation_cutoff: int | None = None):
    """Yield (seed, uint8 HWC array) for each seed, in order, batch by batch."""
    for start in range(0, len(seeds), batch):
        chunk = seeds[start : start + batch]
        labels = None
        if gen.num_classes:
            # One class for all (--label), else class = seed mod classes: reproducible per seed.
            values = [label if label is not None else s % gen.num_classes for s in chunk]
            labels = torch.tensor(values, device=gen.device)
        pictures = to_pictures(gen.synthesize(gen.latents(chunk), labels=labels, truncation=truncation,
                                           truncation_cutoff=truncation_cutoff))
        yield from zip(chunk, pictures, strict=True)


def generate(run: Path, out: Path, n: int = 16, seed: int = 0, grid: bool = False, checkpoint: str = "latest",
             device: str = "auto", truncation: float = 1.0, batch: int = 32, label: str | None = None,
             truncation_cutoff: int | None = None) -> GenerateResult:
    """Write ``seed-<s>.png`` for seeds ``seed .. seed+n-1``; the same run, checkpoint and seed give the same image.

    With ``grid``, also ``grid.png`` of the first (up to 256) images.
    """
    if not 1 <= n <= 1_000_000:
        raise BelamyError(f"--n {n} is not valid", "ask for 1 to 1,000,000 images")
    check_seed(seed)
    check_seed(seed + n - 1, f"--seed {seed} with --n {n} reaches seed")
    if truncation_cutoff is not None and truncation_cutoff < 0:
        raise BelamyError(f"--truncation-cutoff {truncation_cutoff} is negative", "give how many coarse ws to truncate (0 or more)")
    gen = load_generator(Path(run), checkpoint, device)
    class_index = label_index(gen, label)
    out = Path(out)
    prepare_writable(out)
    seeds = list(range(seed, seed + n))
    written: list[Path] = []
    pictures = []
    with torch.inference_mode(), make_progress("img") as progress:
        task = progress.add_task("generate", total=n)
        for s, picture in generate_images(gen, seeds, batch=batch, truncation=truncation, label=class_index,
                                          truncation_cutoff=truncation_cutoff):
            target = out / f"seed-{s:06d}.png"
            extra = {"label": label_names(gen)[class_index if class_index is not None else s % gen.num_classes]} if gen.num_classes else {}
            if truncation_cutoff is not None:
                extra["truncation_cutoff"] = truncation_cutoff
            save_png(picture, target, gen.provenance(seed=s, truncation=truncation, **extra))
            written.append(target)
            if grid and len(pictures) < GRID_MAX:
                pictures.append(picture)
            progress.advance(task)
    grid_path = None
    if grid:
        import numpy as np

        grid_path = save_png(make_grid(np.stack(pictures)), out / "grid.png", gen.provenance(seeds=f"{seed}-{seed + len(pictures) - 1}"))
    return GenerateResult(written, grid_path)
