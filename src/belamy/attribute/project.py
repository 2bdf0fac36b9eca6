"""Projecting pictures into a trained generator: the latent whose rendering comes closest to each.

The distance is the run's own view of pictures: pixels (at full and half resolution) plus the
activations of the run's own discriminator (no downloaded network), each layer normalised by its
size. DCGANs are searched in z; style-based generators in w, then per layer in w+. Several restarts
run side by side as one batch and the best is kept. A small learned zoom and shift lets a mildly
cropped picture line up with the full frame the generator draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from belamy.errors import BelamyError
from belamy.generate.loader import LoadedGenerator
from belamy.trainer.modules import load_module

FEATURE_WEIGHT = 0.2
PRIOR_WEIGHT = 0.01
MAX_CROP = 0.2  # the zoom may cut up to a fifth of each side's length in all


@dataclass
class Projection:
    reconstructions: torch.Tensor  # [N, 3, H, W] in [-1, 1]
    residual: torch.Tensor  # [N]: pixel + feature distance of the best restart (what the score is built on)
    rmse: torch.Tensor  # [N]: pixel RMSE in 0-255 levels
    latents: torch.Tensor  # [N, ...]: z (DCGAN) or w+ (style)


def load_discriminator(gen: LoadedGenerator) -> nn.Module:
    """The run's own discriminator, from the same checkpoint as the generator."""
    loaded = load_module(gen.checkpoint_path, "discriminator", json_path=gen.checkpoint_path, device=gen.device,
                         missing_ok=True)
    if loaded is None:
        raise BelamyError(f"{gen.checkpoint_path.name} holds no discriminator",
                          "attribute needs a training checkpoint (with D), not an export or a student")
    return loaded.module


def discriminator_features(D: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Intermediate activations: a style D's residual blocks, or a DCGAN D's LeakyReLU outputs."""
    feats = []
    blocks = getattr(D, "blocks", None)
    if isinstance(blocks, nn.ModuleList):
        x = None
        for block in blocks:
            x = block(x, images)
            feats.append(x)
        return feats
    features = getattr(D, "features", None)
    if isinstance(features, nn.Sequential):
        x = images
        for layer in features:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU | nn.ReLU):
                feats.append(x)
        return feats
    return []


class Projector:
    def __init__(self, gen: LoadedGenerator, D: nn.Module | None, restarts: int = 4, steps: int = 200,
                 lr: float = 0.05, crop: bool = True, seed: int = 0):
        if restarts < 1 or steps < 1:
            raise BelamyError(f"restarts {restarts} / steps {steps} are not valid", "use at least 1 of each")
        self.gen, self.D = gen, D
        self.restarts, self.steps, self.lr, self.crop, self.seed = restarts, steps, lr, crop, seed
        self.style = hasattr(gen.G, "mapping") and hasattr(gen.G, "synthesis")

    # ------------------------------------------------------------------ pieces

    def _distance(self, x: torch.Tensor, target: torch.Tensor, target_feats: list[torch.Tensor]) -> torch.Tensor:
        """Per-sample distance between renderings ``x`` and ``target`` (both [B, 3, H, W] in [-1, 1])."""
        pix = (x - target).pow(2).mean(dim=(1, 2, 3))
        pix = pix + (F.avg_pool2d(x, 2) - F.avg_pool2d(target, 2)).pow(2).mean(dim=(1, 2, 3))
        if self.D is None or not target_feats:
            return pix
        feats = discriminator_features(self.D, x)
        terms = [(f - t).pow(2).mean(dim=tuple(range(1, f.ndim))) / (t.pow(2).mean() + 1e-6)
                 for f, t in zip(feats, target_feats, strict=True)]
        return pix + FEATURE_WEIGHT * torch.stack(terms).mean(dim=0)

    def _warp(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Zoom in (scale 1 - MAX_CROP .. 1) and shift within the frame: a mild crop of the rendering."""
        if not self.crop:
            return x
        scale = 1.0 - MAX_CROP * torch.sigmoid(params[:, 0])
        room = 1.0 - scale
        tx, ty = room * torch.tanh(params[:, 1]), room * torch.tanh(params[:, 2])
        zero = torch.zeros_like(scale)
        theta = torch.stack([torch.stack([scale, zero, tx], 1), torch.stack([zero, scale, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _labels(self, batch: int) -> torch.Tensor | None:
        if not self.gen.num_classes:
            return None
        return (torch.arange(batch, device=self.gen.device) % self.gen.num_classes)

    def _render(self, latent: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        G = self.gen.G
        if self.style:
            return G.synthesis(latent, noise_mode="const")
        return G(latent, labels)

    # ------------------------------------------------------------------ the search

    def project(self, targets: torch.Tensor) -> Projection:
        """Best latent for each target ([N, 3, H, W] in [-1, 1], at the generator's size)."""
        dev = self.gen.device
        n, r = targets.shape[0], self.restarts
        target = targets.to(dev).float().repeat_interleave(r, dim=0)
        with torch.no_grad():
            target_feats = discriminator_features(self.D, target) if self.D is not None else []
        gen_rng = torch.Generator().manual_seed(self.seed)
        z = torch.randn(n * r, self.gen.z_dim, generator=gen_rng).to(dev)
        labels = self._labels(n * r)
        if self.style:
            with torch.no_grad():
                w = self.gen.G.mapping(z, labels, truncation=0.7)[:, :1].clone()  # one w, broadcast to every layer
            latent = w.requires_grad_(True)
        else:
            latent = z.clone().requires_grad_(True)
        warp = torch.zeros(n * r, 3, device=dev)
        warp[:, 0] = -4.0  # start from the full frame (scale ~1)
        warp.requires_grad_(True)
        phases = [(self.steps, latent)]
        if self.style:
            phases = [(max(1, self.steps // 2), latent), (max(1, self.steps - self.steps // 2), None)]
        for steps, current in phases:
            if current is None:  # style: from w to w+, one vector per layer
                current = latent.detach().repeat(1, self.gen.G.num_ws, 1).requires_grad_(True)
                latent = current
            opt = torch.optim.Adam([current, warp], lr=self.lr if not self.style else self.lr * 0.2)
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                loss = self._objective(current, warp, labels, target, target_feats)
                loss.sum().backward()
                opt.step()
        with torch.no_grad():
            full = self._full(latent)
            x = self._render(full, labels).float()
            xw = self._warp(x, warp)
            dist = self._distance(xw, target, target_feats)
            best = dist.view(n, r).argmin(dim=1) + torch.arange(n, device=dev) * r
            rmse = (xw[best] - target[best]).pow(2).mean(dim=(1, 2, 3)).sqrt() * 127.5
            return Projection(reconstructions=xw[best].clamp(-1, 1).cpu(), residual=dist[best].cpu(),
                              rmse=rmse.cpu(), latents=full[best].cpu())

    def _full(self, latent: torch.Tensor) -> torch.Tensor:
        """A style latent as w+ (one w broadcast to every layer until the w+ phase); a DCGAN's z as it is."""
        return latent.expand(-1, self.gen.G.num_ws, -1) if self.style and latent.shape[1] == 1 else latent

    def _objective(self, latent, warp, labels, target, target_feats) -> torch.Tensor:
        x = self._warp(self._render(self._full(latent), labels).float(), warp)
        loss = self._distance(x, target, target_feats)
        if not self.style:  # keep z on the Gaussian's shell, where the generator was trained
            loss = loss + PRIOR_WEIGHT * (latent.pow(2).mean(dim=1) - 1.0).pow(2)
        return loss
