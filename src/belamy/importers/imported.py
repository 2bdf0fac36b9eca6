"""An imported model, and the ordinary belamy run folder it becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from belamy import __version__
from belamy.errors import BelamyError
from belamy.models.registry import get_architecture
from belamy.trainer import checkpoint as ck
from belamy.trainer.paths import RunPaths, prepare_writable
from belamy.utils.atomic import write_json


@dataclass
class ImportedModel:
    """What an importer read: belamy config and tensors under the prefixes G, D, G_ema (any may be absent)."""

    arch: str
    config: Any
    tensors: dict[str, torch.Tensor]
    format: str
    details: dict = field(default_factory=dict)
    seed_latents: str | None = None  # how seeds become z where the source had its own way (see models.latents)
    licence_note: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    run_dir: Path
    checkpoint: Path
    imported_from: dict
    notes: list[str]
    licence_note: str | None


def _prefix_tensors(tensors: dict[str, torch.Tensor], prefix: str) -> bool:
    return any(k.startswith(prefix + ".") for k in tensors)


def check_out_free(out: Path) -> RunPaths:
    paths = RunPaths(Path(out))
    if paths.run_json.exists() or paths.has_checkpoints():
        raise BelamyError(f"{out} already holds a run", "import into a new folder")
    return paths


def write_imported_run(model: ImportedModel, source: Path, source_sha256: str, out: Path) -> ImportResult:
    """Build the networks, load every tensor strictly (a mismatch is one clear line), then write
    ``checkpoints/ckpt-000000000`` and ``run.json`` as a training run writes them."""
    paths = check_out_free(out)
    arch = get_architecture(model.arch)
    cfg = model.config
    builders = {"G": arch.make_generator, "G_ema": arch.make_generator, "D": arch.make_discriminator}
    notes = list(model.notes)
    tensors = dict(model.tensors)
    if not _prefix_tensors(tensors, "G_ema") and not _prefix_tensors(tensors, "G"):
        raise BelamyError(f"{source.name} holds no generator", "nothing to import")
    if not _prefix_tensors(tensors, "G"):  # fine-tuning starts G where the averaged generator is
        tensors.update({"G." + k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    checkpoint_tensors: dict[str, torch.Tensor] = {}
    for prefix, build in builders.items():
        if not _prefix_tensors(tensors, prefix):
            continue
        module = build(cfg)
        ck.load_module_tensors(prefix, module, tensors, source.name)
        checkpoint_tensors.update(ck.module_tensors(prefix, module))
    imported_from = {"format": model.format, "file": source.name, "sha256": source_sha256,
                     "size_bytes": source.stat().st_size, **model.details}
    if model.licence_note:
        imported_from["licence"] = model.licence_note
    label_names = list(getattr(cfg, "label_names", ()) or ())
    meta: dict[str, Any] = {"arch": model.arch, "model": cfg.to_dict(), "tick": 0, "kimg": 0.0, "train_seconds": 0.0,
                            "belamy": __version__, "imported_from": imported_from}
    if label_names:
        meta["label_names"] = label_names
    if model.seed_latents:
        meta["seed_latents"] = model.seed_latents
    prepare_writable(paths.root)
    json_path = ck.save_checkpoint(paths.checkpoints, 0, checkpoint_tensors, meta)
    run_info = {"format": "belamy-run", "version": 1, "belamy": __version__, "arch": model.arch, "model": cfg.to_dict(),
                "options": {}, "label_names": label_names, "imported_from": imported_from}
    if model.seed_latents:
        run_info["seed_latents"] = model.seed_latents
    write_json(paths.run_json, run_info)
    return ImportResult(run_dir=paths.root, checkpoint=json_path, imported_from=imported_from, notes=notes,
                        licence_note=model.licence_note)
