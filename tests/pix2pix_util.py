"""Helpers for the pix2pix tests: keypoint models the tests make themselves, sketches they draw, pair corpora."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn


class HeatmapModel(nn.Module):
    """A fixed 'detector': K Gaussian heatmaps peaking at given cells, scaled by the input's brightness
    (a black picture has no figure in it)."""

    def __init__(self, peaks: list[tuple[int, int]], hm_hw: tuple[int, int]):
        super().__init__()
        h, w = hm_hw
        yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        maps = torch.stack([torch.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 2.0) for x, y in peaks])
        self.register_buffer("maps", maps[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        brightness = x.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1).clamp(0, 1)
        return self.maps * (brightness * 10).clamp(max=1.0)


class CoordsModel(nn.Module):
    """A fixed landmark 'regressor': [1, K, 2] coordinates in [0, 1] of the input, whatever it shows."""

    def __init__(self, points: np.ndarray):
        super().__init__()
        self.register_buffer("points", torch.tensor(points, dtype=torch.float32)[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.points + 0.0 * x.mean()


class MoveNetModel(nn.Module):
    """MoveNet's interface: int32 pixels [1, H, W, 3] in; out SinglePose's [1, 1, 17, 3] (y, x, score) in
    [0, 1], or MultiPose's [1, 6, 56] (six people: 17 × (y, x, score), box, person score) where the third
    person scores highest and the others stand elsewhere. Scores follow the picture's brightness."""

    def __init__(self, points_xy: np.ndarray, multipose: bool = False):
        super().__init__()
        self.multipose = multipose
        self.register_buffer("yx", torch.tensor(points_xy, dtype=torch.float32)[None, None, :, [1, 0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.float().mean() / 255 * 10).clamp(0, 1) * torch.ones(1, 1, self.yx.shape[2], 1)
        single = torch.cat([self.yx, score], dim=3)
        if not self.multipose:
            return single
        people = [torch.cat([(single if i == 2 else single * 0.5).reshape(1, 1, -1), torch.zeros(1, 1, 4),
                             score[:, :, :1, 0] * (0.9 if i == 2 else 0.4)], dim=2) for i in range(6)]
        return torch.cat(people, dim=1)


class YoloPoseModel(nn.Module):
    """YOLOv8-pose's exported output: [1, 56, N] detections (cx, cy, w, h, score, 17 × (x, y, visibility))
    in input pixels, N = 84 for a 64² input (8² + 4² + 2² anchors). Detection ``best`` carries ``points``;
    the others score lower and point elsewhere."""

    def __init__(self, points_px: np.ndarray, n: int = 84, best: int = 37):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        det = torch.rand(56, n, generator=g) * 40
        det[4] = torch.rand(n, generator=g) * 0.5
        det[4, best] = 0.9
        det[5:, best] = torch.cat([torch.tensor(points_px, dtype=torch.float32), torch.full((17, 1), 0.95)], 1).reshape(-1)
        self.register_buffer("det", det[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.det + 0.0 * x.mean()


def export_model(module: nn.Module, path: Path, input_hw: tuple[int, int], example: torch.Tensor | None = None) -> Path:
    """``module`` as an ONNX file taking ``example`` (by default a float [1, 3, H, W] image)."""
    example = torch.zeros(1, 3, *input_hw) if example is None else example
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (example,), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["out"])
    return path


def head_and_shoulders(size: int = 256, width: int | None = None, pen: int = 3) -> Image.Image:
    """A sketch as a person draws it: an oval head, two eyes, a nose, a mouth, a neck and shoulders."""
    w, h = width or size, size
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    cx = w / 2
    d.ellipse([cx - 0.18 * w, 0.12 * h, cx + 0.18 * w, 0.58 * h], outline=0, width=pen)
    for ex in (cx - 0.07 * w, cx + 0.07 * w):
        d.ellipse([ex - 0.03 * w, 0.3 * h, ex + 0.03 * w, 0.33 * h], outline=0, width=max(1, pen - 1))
    d.line([cx, 0.34 * h, cx - 0.02 * w, 0.42 * h, cx + 0.01 * w, 0.43 * h], fill=0, width=max(1, pen - 1))
    d.arc([cx - 0.07 * w, 0.44 * h, cx + 0.07 * w, 0.5 * h], 20, 160, fill=0, width=max(1, pen - 1))
    d.line([cx - 0.06 * w, 0.57 * h, cx - 0.07 * w, 0.68 * h], fill=0, width=pen)
    d.line([cx + 0.06 * w, 0.57 * h, cx + 0.07 * w, 0.68 * h], fill=0, width=pen)
    d.line([cx - 0.07 * w, 0.68 * h, cx - 0.42 * w, 0.8 * h, cx - 0.48 * w, h], fill=0, width=pen)
    d.line([cx + 0.07 * w, 0.68 * h, cx + 0.42 * w, 0.8 * h, cx + 0.48 * w, h], fill=0, width=pen)
    return img


def edge_pairs(folder: Path, n: int = 24, size: int = 32, seed: int = 0) -> Path:
    """A pair corpus built the real way: synthetic portraits, then `build_pairs` (edges)."""
    from conftest import synthetic_portraits, write_corpus

    from belamy.corpus.pairs import build_pairs

    corpus = write_corpus(folder / "corpus", synthetic_portraits(n, size, seed=seed))
    build_pairs(corpus, folder / "pairs")
    return folder / "pairs"


def random_pix2pix_run(folder: Path, res: int = 32, condition: str = "edges", ngf: int = 8, aspect: str = "1:1") -> Path:
    """A pix2pix run folder with one checkpoint of freshly initialised weights (for pages and plumbing)."""
    from belamy.models.pix2pix import UNetGenerator, init_weights, pix2pix_config
    from belamy.trainer.checkpoint import module_tensors, save_checkpoint

    cfg = pix2pix_config(res, aspect, ngf=ngf, ndf=8, condition=condition)
    torch.manual_seed(0)
    G = UNetGenerator(cfg)
    init_weights(G, std=0.2)  # large weights: the output visibly depends on the drawing
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / "checkpoints", 64, module_tensors("G", G),
                    {"arch": "pix2pix", "model": cfg.to_dict(), "kimg": 0.064})
    (folder / "run.json").write_text(json.dumps({"arch": "pix2pix", "model": cfg.to_dict()}))
    return folder
