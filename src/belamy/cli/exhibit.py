"""`belamy exhibit`: the live installation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from belamy.cli.app import app
from belamy.cli.options import Device, RunArgument
from belamy.utils.progress import console


@app.command("exhibit")
def exhibit_cmd(
    run: RunArgument,
    screens: Annotated[int, typer.Option(help="How many screens (pages /screen/1, /screen/2), each with its own walk.")] = 1,
    labels: Annotated[str | None, typer.Option(help="Class-conditional runs: one class per screen, e.g. portrait,landscape (names or indices).")] = None,
    res: Annotated[int | None, typer.Option(help="Side of the frames sent, in pixels (default: the model's; larger is upscaled, bilinear).")] = None,
    fps: Annotated[float, typer.Option(help="Frames per second to generate (at most; a slow machine or client gets fewer).")] = 24.0,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8750,
    host: Annotated[str, typer.Option(help="Address to bind. Anything but loopback requires the access token it prints.")] = "127.0.0.1",
    engine: Annotated[str, typer.Option(help="torch, onnx (ONNX Runtime, exported on start) or auto (measure both, keep the faster).")] = "auto",
    onnx_model: Annotated[Path | None, typer.Option("--onnx", help="With --engine onnx/auto: a model from `belamy export` instead of exporting on start.")] = None,
    truncation: Annotated[float, typer.Option(help="Truncation ψ: below 1 trades variety for typical, cleaner faces.")] = 1.0,
    seconds_per_face: Annotated[float, typer.Option(help="Seconds to morph from one face into the next.")] = 4.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the walks (default: new every start, so no show repeats).")] = None,
    quality: Annotated[int, typer.Option(help="JPEG/WebP quality of the frames, 1-100.")] = 85,
    image_format: Annotated[str, typer.Option("--format", help="Frame encoding: jpeg (fastest) or webp (smaller).")] = "jpeg",
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, or a kimg number / file name.")] = "latest",
    device: Device = "auto",
    poses: Annotated[Path | None, typer.Option(help="A pix2pix run: a folder (sketches, figures, keypoint .json keyframes) or a video to paint, looping; --seconds-per-face sets each keyframe's time.")] = None,
) -> None:
    """Serve the live installation: full-screen pages of portraits morphing forever, generated live."""
    from belamy.exhibit.server import ExhibitConfig, serve

    config = ExhibitConfig(run=run, screens=screens, labels=labels, res=res, fps=fps, engine=engine,
                           truncation=truncation, seed=seed, seconds_per_face=seconds_per_face, checkpoint=checkpoint,
                           device=device, quality=quality, format=image_format, onnx_model=onnx_model, poses=poses)
    serve(config, host=host, port=port, echo=lambda line: console.print(line, soft_wrap=True))
