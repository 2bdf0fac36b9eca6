"""Loading a trained generator from a run folder or a checkpoint file, ready to draw images."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from belamy.corpus.credits import build_credits, credits_path
from belamy.errors import BelamyError
from belamy.models.contract import check_generator
from belamy.models.latents import latents_for_seeds
from belamy.provenance.record import Record, code_section, corpus_section, generation_section, model_section
from belamy.trainer.modules import load_module
from belamy.utils import untrusted


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
    _corpus: dict | None = field(default=None, repr=False)

    def latents(self, seeds: list[int]) -> torch.Tensor:
        return latents_for_seeds(seeds, self.z_dim, self.meta.get("seed_latents")).to(self.device)

    @torch.no_grad()
    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0,
                   truncation_cutoff: int | None = None) -> torch.Tensor:
        """Images in [-1, 1], [N, 3, H, W]. ``truncation`` pulls z toward the mean (the origin for a DCGAN);
        ``truncation_cutoff`` (style models) truncates only the first that many ws, the coarse layers."""
        if truncation_cutoff is None:
            return self.G.synthesize(z.to(self.device), labels=labels, truncation=truncation)
        if "truncation_cutoff" not in inspect.signature(self.G.synthesize).parameters:
            raise BelamyError(f"--truncation-cutoff needs a model with a mapping network, not {self.arch}", "drop it")
        return self.G.synthesize(z.to(self.device), labels=labels, truncation=truncation,
                                 truncation_cutoff=truncation_cutoff)

    def record(self, seed: int | None = None, label: str | None = None, truncation: float | None = None,
               **generation) -> Record:
        """The provenance record of a picture this generator draws (for ``seed``: with its latent's digest)."""
        rec = Record(
            model=model_section(self.meta, self.run_dir, self.checkpoint_path.with_suffix(".safetensors").name,
                                self.checkpoint_sha256),
            corpus=self._corpus_section(),
            code=code_section(self.arch),
            generation=generation_section(seed=seed, label=label, truncation=truncation,
                                          latent=self.latents([seed])[0] if seed is not None else None, **generation),
        )
        rec.model.setdefault("res", self.res)
        return rec

    def provenance(self, seed: int | None = None, **extra) -> dict:
        """:meth:`record` as the JSON-ready dict that files carry."""
        return self.record(seed=seed, **extra).to_dict()

    def _corpus_section(self) -> dict:
        """The training corpus (from the checkpoint or run.json), with its credits when the corpus is here."""
        if self._corpus is None:
            corpus = self.meta.get("corpus") or self.run_corpus() or {}
            credits = None
            path = Path(corpus["path"]) if corpus.get("path") else None
            if path is not None and not credits_path(path).is_file() and (path / "manifest.jsonl").is_file():
                try:
                    credits = build_credits(path).to_dict()
                except BelamyError:
                    credits = None
            self._corpus = corpus_section(corpus, credits) if corpus else {}
        return dict(self._corpus)

    def run_corpus(self) -> dict | None:
        """The training corpus named in run.json: where the work's paintings came from."""
        try:
            return untrusted.read_json(self.run_dir / "run.json", "run.json", finite=False).get("corpus")
        except (OSError, ValueError):
            return None


def load_generator(run_or_ckpt: Path, checkpoint: str = "latest", device: str = "auto") -> LoadedGenerator:
    loaded = load_module(Path(run_or_ckpt), "generator", checkpoint, device)
    G, meta = loaded.module, loaded.meta
    if getattr(G, "condition_channels", 0):
        raise BelamyError(f"{run_or_ckpt} is an image-to-image ({loaded.arch.name}) run: it paints from drawings, not from noise",
                          f"use `belamy translate {run_or_ckpt} SKETCH... --out DIR`")
    check_generator(G, loaded.arch.name)
    return LoadedGenerator(
        G=G, arch=loaded.arch.name, res=loaded.cfg.res, z_dim=G.z_dim, num_classes=getattr(G, "num_classes", 0),
        run_dir=loaded.run_dir, checkpoint_path=loaded.checkpoint_path, checkpoint_sha256=loaded.weights_sha256(),
        device=loaded.device, kimg=_kimg(meta, loaded.checkpoint_path), meta=meta,
    )


def _kimg(meta: dict, json_path: Path) -> float:
    """How far the checkpoint was trained, in thousands of images (checked: it goes into every provenance)."""
    from belamy.models import limits

    what = f"{json_path.name}"
    if "kimg" in meta:
        return float(limits.number("kimg", meta["kimg"], 0, 1e12, what))
    return limits.whole("nimg", meta.get("nimg", 0), 0, 10**15, what) / 1000
