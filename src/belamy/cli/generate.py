"""`belamy generate`, `translate`, `eval`, `export` and `walk`: what a trained run draws."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from belamy.cli.app import app
from belamy.cli.options import Device, RunArgument
from belamy.errors import BelamyError
from belamy.utils.progress import console


@app.command("generate")
def generate_cmd(
    run: RunArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write PNGs to.")],
    n: Annotated[int | None, typer.Option("--n", help="How many images (with --curate: how many candidates to choose from).")] = None,
    seed: Annotated[int, typer.Option(help="First seed; image i uses seed + i.")] = 0,
    grid: Annotated[bool, typer.Option("--grid", help="Also write all images as one grid.png.", metavar="")] = False,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, best (lowest SWD, with --metric-kimg), or a kimg number / file name.")] = "latest",
    device: Device = "auto",
    truncation: Annotated[float, typer.Option(help="Truncation ψ: 1 = the full range, lower = closer to the average image (style: toward w_avg).")] = 1.0,
    label: Annotated[str | None, typer.Option(help="Class-conditional runs: the class to draw (default: seed mod classes).")] = None,
    truncation_cutoff: Annotated[int | None, typer.Option(help="Style runs: apply ψ to the first N ws only (the coarse layers), as StyleGAN2-ADA's truncation_cutoff.")] = None,
    curate: Annotated[int | None, typer.Option("--curate", help="Draw --n candidates (default 8×K) into OUT/pool and keep the K best by the taste learned in `belamy studio`.")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="With --curate: the studio's belamy-studio.sqlite (default: found above OUT or here).")] = None,
) -> None:
    """Generate new images from a trained run; each PNG records its run, checkpoint hash and seed."""
    from belamy.generate.sample import generate

    if curate is not None:
        from belamy.curate.rank import generate_curated

        if truncation_cutoff is not None:
            raise BelamyError("--truncation-cutoff is not taken with --curate", "drop one of them")

        result = generate_curated(run, out, curate, seed=seed, checkpoint=checkpoint, device=device, db=db,
                                  truncation=truncation, label=label, pool_size=n, grid=grid)
        console.print(f"kept the {len(result.selected)} best of {len(result.ranking)} in {out} (see {result.csv_path.name})")
        typer.echo(str(out))
        return
    written = generate(run, out, n=16 if n is None else n, seed=seed, grid=grid, checkpoint=checkpoint, device=device,
                       truncation=truncation, label=label, truncation_cutoff=truncation_cutoff)
    console.print(f"wrote {len(written.images)} images to {out}")
    typer.echo(str(out))


@app.command("translate")
def translate_cmd(
    run: Annotated[Path, typer.Argument(help="A pix2pix run made by `belamy train PAIRS --arch pix2pix` (or one checkpoint file).")],
    inputs: Annotated[list[Path], typer.Argument(help="Sketches or figures: images, folders of them, videos, or keypoint .json files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the paintings (PNG per image, MP4 per video).")],
    fit: Annotated[str, typer.Option(help="pad: fit inside the run's shape (nothing lost); crop: fill it; none: keep each input's size.")] = "pad",
    derive: Annotated[bool, typer.Option("--derive", help="Inputs are photos or paintings: make the run's kind of condition from them first, as `corpus pairs` did.", metavar="")] = False,
    model: Annotated[Path | None, typer.Option(help="With --derive on a pose or landmarks run: the ONNX keypoint model.")] = None,
    side_by_side: Annotated[bool, typer.Option("--side-by-side", help="Write condition | painting next to each other.", metavar="")] = False,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, or a kimg number / file name.")] = "latest",
    device: Device = "auto",
) -> None:
    """Turn sketches, face markers or poses into paintings; each output records its run, checkpoint and input hashes."""
    from belamy.generate.translate import translate

    report = translate(run, inputs, out, fit=fit, derive=derive, model=model, checkpoint=checkpoint, device=device,
                       side_by_side=side_by_side)
    console.print(f"wrote {len(report.written)} file(s), {report.frames} painting(s), to {out}")
    typer.echo(str(out))


@app.command("eval")
def eval_cmd(
    run: RunArgument,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="The corpus to compare against (default: the run's training corpus).")] = None,
    n: Annotated[int, typer.Option("--n", help="Images to generate (and reals to sample, at most the corpus size).")] = 1000,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, best, or a kimg number / file name.")] = "latest",
    inception: Annotated[Path | None, typer.Option(help="A local Inception-v3 FID weights file (.safetensors or .pth): adds FID and KID.")] = None,
    classifier: Annotated[Path | None, typer.Option(help="A style classifier from `belamy classify train`: adds style ambiguity, per-style shares, and SWD to its held-out paintings.")] = None,
    device: Device = "auto",
    seed: Annotated[int, typer.Option(help="Seed for the real sample and the SWD projections.")] = 0,
) -> None:
    """Measure a run against a corpus: SWD, memorisation, novelty, a two-sample test and precision/recall with real-vs-real floors (no downloads), FID/KID with --inception, style ambiguity with --classifier; appends to RUN/eval.jsonl."""
    from rich.table import Table

    from belamy.metrics.evaluate import evaluate_run

    record = evaluate_run(run, corpus, n=n, checkpoint=checkpoint, inception=inception, device=device, seed=seed,
                          classifier=classifier)
    table = Table(title=f"{run} @ {record['kimg']:g} kimg ({record['checkpoint']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in record.items():
        if key.endswith("style_share"):
            value = ", ".join(f"{name} {share:.0%}" for name, share in value.items())
        elif not key.startswith(("swd", "two_sample", "precision", "recall", "density", "coverage", "fid", "kid", "memorization", "novelty", "heldout", "ambiguity", "classifier_acc")):
            continue
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    typer.echo(str(Path(run) / "eval.jsonl") if Path(run).is_dir() else str(run))


@app.command("export")
def export_cmd(
    run: RunArgument,
    onnx: Annotated[Path, typer.Option("--onnx", help="The ONNX file to write (inputs z [, labels], or a pix2pix run's uint8 condition; output image).")],
    truncation: Annotated[float, typer.Option(help="Truncation ψ folded into the graph (1 = none).")] = 1.0,
    output: Annotated[str, typer.Option(help="uint8: [N,H,W,3] pixels; float: [N,3,H,W] in [-1, 1].")] = "uint8",
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, or a kimg number / file name.")] = "latest",
) -> None:
    """Export the generator (with its mapping network and truncation) to ONNX, for ONNX Runtime."""
    from belamy.export.onnx import export_onnx

    path = export_onnx(run, onnx, truncation=truncation, checkpoint=checkpoint, output=output)
    typer.echo(str(path))


@app.command("walk")
def walk_cmd(
    run: RunArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="The video to write: .mp4 (H.264) or .gif.")],
    seeds: Annotated[str, typer.Option(help="Keyframe seeds, in order, e.g. 1,7,42 (noise mode: 1 or 2 seeds).")] = "0,1,2",
    seconds: Annotated[float, typer.Option(help="Length of the video, in seconds.")] = 10.0,
    fps: Annotated[float, typer.Option(help="Frames per second, 1-120.")] = 30.0,
    loop: Annotated[bool, typer.Option("--loop", help="Return to the first keyframe so the video repeats seamlessly.", metavar="")] = False,
    mode: Annotated[str, typer.Option(help="slerp: eased spherical steps between the seeds; noise: a circle through latent space.")] = "slerp",
    label: Annotated[str | None, typer.Option(help="Class-conditional runs: the class to draw (name or index; default the first).")] = None,
    truncation: Annotated[float, typer.Option(help="Truncation ψ (1 = none).")] = 1.0,
    res: Annotated[int | None, typer.Option(help="Side of the video frames in pixels (default: the model's).")] = None,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, or a kimg number / file name.")] = "latest",
    device: Device = "auto",
) -> None:
    """Render an interpolation video between seeds (or a seamless loop) as MP4 or GIF."""
    from belamy.walk.video import write_walk

    path = write_walk(run, out, seeds, seconds=seconds, fps=fps, loop=loop, mode=mode, label=label,
                      truncation=truncation, res=res, checkpoint=checkpoint, device=device)
    typer.echo(str(path))
