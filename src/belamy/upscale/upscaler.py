"""`belamy upscale`: one entry point over the three ways to enlarge an image.

* ``model=SRRUN``: a belamy SR run trained on the paintings themselves (`belamy sr train`);
* ``weights=FILE``: third-party pretrained weights (ESRGAN, Real-ESRGAN, SwinIR...) via spandrel;
* ``method="painting"``: belamy's own painting-SR weights, shipped in the package (trained by
  belamy on public-domain portrait paintings; how: docs/super-resolution.md);
* ``method="lanczos"``: no network at all; also what ``method="auto"`` uses when neither is given.

A network is run as many times as it takes to reach the requested size (then a Lanczos resize
hits the exact pixel count), tile by tile so that memory stays bounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from belamy.errors import BelamyError
from belamy.models.rrdb import passes_needed
from belamy.upscale.tiled import Network, join_alpha, split_alpha, upscale_tiled
from belamy.utils.device import resolve_device
from belamy.utils.progress import console

METHODS = ("auto", "lanczos", "painting")
SR_FORMAT = "belamy-sr"
PAINTING_WEIGHTS = Path(__file__).resolve().parent / "weights" / "painting-sr-x4.json"


@dataclass
class Upscaler:
    """What enlarges an image: ``net`` is None for plain Lanczos."""

    name: str
    scale: int
    net: Network | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    provenance: dict = field(default_factory=dict)


def lanczos() -> Upscaler:
    return Upscaler(name="lanczos", scale=1, provenance={"upscaler": "lanczos"})


def load_sr_run(run: Path, checkpoint: str = "latest", device: str | torch.device = "auto") -> Upscaler:
    """A belamy SR run (or one of its checkpoints) as an upscaler."""
    from belamy.trainer import checkpoint as ck
    from belamy.trainer.modules import load_module

    if not Path(run).exists():
        raise BelamyError(f"no SR model at {run}", "give a run folder made by `belamy sr train`, "
                          "or --weights FILE for third-party weights")
    json_path = ck.resolve_checkpoint(Path(run), checkpoint)
    tensors, meta = ck.load_checkpoint(json_path)
    if meta.get("kind") != SR_FORMAT:
        raise BelamyError(f"{json_path.name} is not an SR model", "give a run made by `belamy sr train` (or use --weights)")
    meta.setdefault("arch", "rrdb")  # SR checkpoints from before the registry knew the SR network by name
    loaded = load_module(json_path, "generator", device=device, tensors_and_meta=(tensors, meta), json_path=json_path)
    net, cfg, dev, prefix = loaded.module, loaded.cfg, loaded.device, loaded.prefix
    return Upscaler(
        name=f"belamy RRDB ×{cfg.scale}", scale=cfg.scale, net=net, device=dev,
        provenance={"upscaler": "belamy-sr", "sr_run": str(run), "sr_checkpoint": loaded.weights_path.name,
                    "sr_checkpoint_sha256": loaded.weights_sha256(), "sr_model": cfg.to_dict(),
                    "sr_weights": prefix},
    )


def painting_sr(device: str | torch.device = "auto") -> Upscaler:
    """The painting-SR weights shipped with belamy, described by what they are and how they were trained."""
    if not PAINTING_WEIGHTS.exists():
        raise BelamyError("this belamy install has no painting-SR weights", "reinstall belamy, or use --method lanczos")
    up = load_sr_run(PAINTING_WEIGHTS, device=device)
    trained = json.loads(PAINTING_WEIGHTS.read_text(encoding="utf-8")).get("trained", {})
    up.name = "belamy painting-SR ×4"
    up.provenance = {"upscaler": "belamy-painting-sr", "architecture": f"{up.name} (RRDB; {trained.get('summary', '')})",
                     "weights": PAINTING_WEIGHTS.with_suffix(".safetensors").name,
                     "weights_sha256": up.provenance["sr_checkpoint_sha256"], "sr_model": up.provenance["sr_model"]}
    return up


def load_weights(path: Path, device: str | torch.device = "auto") -> Upscaler:
    """Third-party pretrained weights, read without unpickling code, run through spandrel."""
    from belamy.upscale.thirdparty import load_spandrel_weights
    from belamy.utils.imageio import file_sha256

    dev = device if isinstance(device, torch.device) else resolve_device(device)
    net = load_spandrel_weights(Path(path), dev)
    return Upscaler(name=net.name, scale=net.scale, net=net, device=dev,
                    provenance={"upscaler": "spandrel", "weights": Path(path).name, "weights_sha256": file_sha256(path),
                                "architecture": net.name})


def choose_upscaler(model: Path | None = None, weights: Path | None = None, method: str = "auto",
                    device: str = "auto", checkpoint: str = "latest") -> Upscaler:
    """The upscaler a user asked for; one of --model, --weights, --method lanczos."""
    if method not in METHODS:
        raise BelamyError(f"unknown method {method!r}",
                          "use auto (a model if given, else lanczos), painting (belamy's own SR weights) or lanczos")
    if model is not None and weights is not None:
        raise BelamyError("both --model and --weights were given", "choose one")
    if method in ("lanczos", "painting"):
        if model is not None or weights is not None:
            raise BelamyError(f"--method {method} uses no --model or --weights, but one was given",
                              "drop --model/--weights or --method")
        return lanczos() if method == "lanczos" else painting_sr(device)
    if model is not None:
        return load_sr_run(model, checkpoint, device)
    if weights is not None:
        return load_weights(weights, device)
    return lanczos()


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(rgb, "RGB")
    if img.size == size:
        return rgb
    return np.asarray(img.resize(size, Image.Resampling.LANCZOS))


def network_passes(upscaler: Upscaler, ratio: float) -> int:
    """How many times the network runs for an enlargement of ``ratio`` (0 for Lanczos)."""
    return passes_needed(ratio, upscaler.scale) if upscaler.net is not None else 0


def detail_scale(upscaler: Upscaler, ratio: float) -> int:
    """The part of an enlargement of ``ratio`` that the method draws detail for: the network's scale per
    pass; the rest is Lanczos, which only interpolates (1 for Lanczos alone)."""
    return upscaler.scale ** network_passes(upscaler, ratio)


def _px(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def upscale_plan(source: tuple[int, int], size: tuple[int, int], upscaler: Upscaler) -> list[str]:
    """Each step from ``source`` (W, H) to ``size`` as it will happen: network passes, then the Lanczos resize."""
    ratio = max(size[0] / source[0], size[1] / source[1])
    steps, (w, h) = [], source
    passes = network_passes(upscaler, ratio)
    for i in range(passes):
        after = (w * upscaler.scale, h * upscaler.scale)
        steps.append(f"pass {i + 1} of {passes}: {_px((w, h))} -> {_px(after)} with {upscaler.name}")
        w, h = after
    if (w, h) != tuple(size):
        steps.append(f"{'then ' if passes else ''}Lanczos: {_px((w, h))} -> {_px(size)}")
    return steps


def upscale_rgb(rgb: np.ndarray, size: tuple[int, int], upscaler: Upscaler, tile: int = 256, overlap: int = 16,
                progress: bool = True) -> np.ndarray:
    """An RGB uint8 array enlarged to exactly ``size`` (W, H) with ``upscaler``; each step is reported as it starts."""
    W, H = size
    ratio = max(W / rgb.shape[1], H / rgb.shape[0])
    steps = upscale_plan((rgb.shape[1], rgb.shape[0]), (W, H), upscaler)
    passes = network_passes(upscaler, ratio)
    for i in range(passes):
        console.print(f"upscale {steps[i]}")
        rgb = upscale_tiled(upscaler.net, rgb, upscaler.scale, tile=tile, overlap=overlap, device=upscaler.device,
                            progress=progress, description=f"pass {i + 1}/{passes}")
    if len(steps) > passes:
        console.print(f"upscale, {steps[-1]}" if passes else f"upscale with {steps[-1]}")
    return _resize(rgb, (W, H))


def upscale_image(img: Image.Image, upscaler: Upscaler, scale: float | None = None,
                  size: tuple[int, int] | None = None, tile: int = 256, overlap: int = 16,
                  progress: bool = True) -> Image.Image:
    """Enlarge a PIL image of any mode by ``scale`` or to ``size``; its mode (and alpha) is kept."""
    if (scale is None) == (size is None):
        raise BelamyError("give either a scale or a size", "e.g. --scale 4")
    if size is None:
        if not (scale and 1 <= scale <= 16):
            raise BelamyError(f"--scale {scale} is not valid", "use 2, 4 or 8")
        size = (round(img.width * scale), round(img.height * scale))
    rgb, alpha, mode = split_alpha(img)
    out = upscale_rgb(rgb, size, upscaler, tile=tile, overlap=overlap, progress=progress)
    return join_alpha(out, alpha, mode)


def check_tiling(tile: int, overlap: int) -> None:
    if not 32 <= tile <= 4096:
        raise BelamyError(f"--tile {tile} is not valid", "use 32 to 4096 pixels (256 suits a CPU)")
    if not 0 <= overlap < tile // 2:
        raise BelamyError(f"--overlap {overlap} is not valid", f"use 0 to {tile // 2 - 1} pixels")


def upscale_file(image: Path, out: Path, scale: int = 4, model: Path | None = None, weights: Path | None = None,
                 method: str = "auto", tile: int = 256, overlap: int = 16, device: str = "auto") -> Path:
    """`belamy upscale`: read any image, enlarge it ``scale`` times, write it (PNG keeps provenance)."""
    from belamy.provenance.embed import FORMATS, save_image
    from belamy.provenance.record import derive, upscaler_fields
    from belamy.utils.imageio import check_image_file, check_writable

    image, out = Path(image), Path(out)
    if scale not in (2, 4, 8):
        raise BelamyError(f"--scale {scale} is not valid", "use 2, 4 or 8")
    check_tiling(tile, overlap)
    if out.suffix.lower() not in FORMATS:
        raise BelamyError(f"cannot write {out.name}: unknown format {out.suffix or '(no extension)'}", "use .png, .jpg or .tif")
    check_writable(out)
    check_image_file(image)
    try:
        with Image.open(image) as src:
            src.load()
            img = src.copy()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BelamyError(f"cannot read image {image}: {exc}", "is it a PNG, JPEG or TIFF?") from None
    upscaler = choose_upscaler(model, weights, method, device)
    if upscaler.net is None and method == "auto":
        console.print("no --model or --weights given: enlarging with Lanczos")
    result = upscale_image(img, upscaler, scale=scale, tile=tile, overlap=overlap)
    record = derive(image, "upscale", scale=scale, **upscaler_fields(upscaler.provenance))
    if out.suffix.lower() in (".jpg", ".jpeg") and result.mode == "RGBA":
        result = result.convert("RGB")
    return save_image(result, out, record.to_dict(), parent=image, actions=record.c2pa_actions())
