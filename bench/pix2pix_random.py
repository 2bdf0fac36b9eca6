"""A pix2pix run folder with random weights, for speed figures (speed does not depend on training)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from belamy.models.pix2pix import UNetGenerator, init_weights, pix2pix_config
from belamy.trainer.checkpoint import module_tensors, save_checkpoint


def random_run(folder: Path, res: int, ngf: int, condition: str = "edges") -> Path:
    cfg = pix2pix_config(res, ngf=ngf, condition=condition)
    torch.manual_seed(0)
    G = UNetGenerator(cfg)
    init_weights(G)
    save_checkpoint(folder / "checkpoints", 0, module_tensors("G", G), {"arch": "pix2pix", "model": cfg.to_dict(), "kimg": 0})
    (folder / "run.json").write_text(json.dumps({"arch": "pix2pix", "model": cfg.to_dict()}))
    return folder
