"""Loading a trained generator from a run folder or a checkpoint file, ready to draw images."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from belamy.models.contract import check_generator
from belamy.models.latents import latents_for_seeds
from belamy.runs.modules import load_module


@dataclass
class LoadedGenerator:
    G: nn.Module
    arch: str
    res: int
    z_dim: int
    num_classes: int
    run_dir: Path
    checkpoint_path: Path
    checkpoint_sha256: str
    device: torch.device
    kimg: float
    meta: dict = field(default_factory=dict, repr=False)

    def latents(self, seeds: list[int]) -> torch.Tensor:
        return latents_for_seeds(seeds, self.z_dim).to(self.device)

    @torch.no_grad()
    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0) -> torch.Tensor:
        """Images in [-1, 1], [N, 3, H, W]. ``truncation`` pulls z toward the mean (the origin for a DCGAN)."""
        return self.G.synthesize(z.to(self.device), labels=labels, truncation=truncation)

    def provenance(self, seed: int | None = None, **extra) -> dict:
        record = {
            "generator": "belamy", "arch": self.arch, "res": self.res, "run": str(self.run_dir),
            "checkpoint": self.checkpoint_path.with_suffix(".safetensors").name,
            "checkpoint_sha256": self.checkpoint_sha256, "kimg": self.kimg,
        }
        corpus = self.meta.get("corpus") or self.run_corpus()
        if corpus:
            record["corpus"] = corpus
        teacher = self.meta.get("distilled_from")
        if teacher:  # a student from `belamy distill`: name the run whose images it learned to draw
            record["distilled_from"] = teacher
        if seed is not None:
            record["seed"] = seed
        record.update(extra)
        return record


    def run_corpus(self) -> dict | None:
        """The training corpus named in run.json: where the work's paintings came from."""
        try:
            return json.loads((self.run_dir / "run.json").read_text(encoding="utf-8")).get("corpus")
        except (OSError, ValueError):
            return None


def load_generator(run_or_ckpt: Path, checkpoint: str = "latest", device: str = "auto") -> LoadedGenerator:
    loaded = load_module(Path(run_or_ckpt), "generator", checkpoint, device)
    G, meta = loaded.module, loaded.meta
    check_generator(G, loaded.arch.name)
    return LoadedGenerator(
        G=G, arch=loaded.arch.name, res=loaded.cfg.res, z_dim=G.z_dim, num_classes=getattr(G, "num_classes", 0),
        run_dir=loaded.run_dir, checkpoint_path=loaded.checkpoint_path, checkpoint_sha256=loaded.weights_sha256(),
        device=loaded.device, kimg=meta.get("kimg", meta.get("nimg", 0) / 1000), meta=meta,
    )
