"""The `belamy` command: parses arguments and calls the library, nothing more.

Every command here is a thin wrapper over a function a user can call from Python.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from belamy.errors import BelamyError
from belamy.utils.progress import console

app = typer.Typer(
    name="belamy",
    help="A GAN art studio: corpus -> train -> generate -> curate -> upscale -> sign and print -> exhibit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
corpus_app = typer.Typer(help="Build and inspect training corpora of paintings.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


# --------------------------------------------------------------------------- corpus


@corpus_app.command("build")
def corpus_build(
    sources: Annotated[list[Path], typer.Argument(help="Folders (or single files) of paintings to read.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the corpus to.")],
    size: Annotated[int, typer.Option(help="Side of the square training images, in pixels.")] = 128,
    min_size: Annotated[int, typer.Option(help="Reject images whose short side (after trimming) is below this.")] = 64,
    max_pixels: Annotated[
        int, typer.Option(help="Reject images with more pixels than this (decompression-bomb guard).")
    ] = 178_956_970,
    dedupe_distance: Annotated[
        int, typer.Option(help="Perceptual-hash Hamming distance at or below which two images are duplicates; -1 keeps all.")
    ] = 4,
    workers: Annotated[int, typer.Option(help="Decoding processes; 0 means one per core.")] = 0,
) -> None:
    """Turn folders of paintings into a training corpus: square, cleaned, de-duplicated, with a manifest."""
    from belamy.corpus.build import build_corpus

    report = build_corpus(
        sources, out, size=size, min_size=min_size, max_pixels=max_pixels,
        dedupe_distance=dedupe_distance, workers=workers,
    )
    report.print_summary(console)
    typer.echo(str(out))


# --------------------------------------------------------------------------- train


class Arch(StrEnum):
    dcgan = "dcgan"


class LossKind(StrEnum):
    minimax = "minimax"
    nonsat = "nonsat"


@app.command("train")
def train_cmd(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, sample grids, metrics.")],
    arch: Annotated[Arch | None, typer.Option(help="Network architecture (default: dcgan; on --resume, the run's).")] = None,
    res: Annotated[int | None, typer.Option(help="Output resolution, a power of two: 64 or 128 for dcgan (default: 64; on --resume, the run's).")] = None,
    kimg: Annotated[float, typer.Option(help="Train until this many thousand real images have been shown.")] = 100.0,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 64,
    loss: Annotated[LossKind, typer.Option(help="minimax: the signed formula; nonsat: the non-saturating variant.")] = LossKind.nonsat,
    lr: Annotated[float, typer.Option(help="Adam learning rate for both networks.")] = 2e-4,
    beta1: Annotated[float, typer.Option(help="Adam beta1.")] = 0.5,
    nz: Annotated[int, typer.Option(help="Latent size.")] = 100,
    ngf: Annotated[int | None, typer.Option(help="Generator width (default: 64 at 64², 160 at 128², as art-DCGAN).")] = None,
    ndf: Annotated[int | None, typer.Option(help="Discriminator width (default: 64 at 64², 40 at 128²).")] = None,
    tick_kimg: Annotated[float, typer.Option(help="kimg between log lines (one metrics.jsonl line each).")] = 4.0,
    snapshot_ticks: Annotated[int, typer.Option(help="Ticks between sample grids and checkpoints.")] = 1,
    keep: Annotated[int, typer.Option(help="How many recent checkpoints to keep.")] = 3,
    grid_size: Annotated[int, typer.Option(help="Images in each sample grid (seeds 0..N-1, as `belamy generate`).")] = 36,
    mirror: Annotated[bool, typer.Option(help="Flip real images left-right at random (doubles a small corpus).")] = True,
    seed: Annotated[int, typer.Option(help="Random seed for weights, latents and data order.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    channels_last: Annotated[bool, typer.Option(help="Use the channels-last memory format (faster on most hardware).")] = True,
) -> None:
    """Train a GAN on a corpus, with sample grids, checkpoints and resume."""
    from belamy.train.loop import train
    from belamy.train.options import TrainOptions

    options = TrainOptions(
        corpus=corpus, out=out, arch=arch.value if arch else None, res=res, kimg=kimg, batch=batch, loss=loss.value,
        lr=lr, beta1=beta1, nz=nz, ngf=ngf, ndf=ndf, tick_kimg=tick_kimg, snapshot_ticks=snapshot_ticks,
        keep=keep, seed=seed, resume=resume, device=device, channels_last=channels_last, grid_size=grid_size,
        mirror=mirror,
    )
    result = train(options)
    if result.interrupted:
        raise typer.Exit(130)
    typer.echo(str(result.run_dir))


# --------------------------------------------------------------------------- generate


@app.command("generate")
def generate_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder made by `belamy train` (or one checkpoint file).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write PNGs to.")],
    n: Annotated[int, typer.Option("--n", help="How many images.")] = 16,
    seed: Annotated[int, typer.Option(help="First seed; image i uses seed + i.")] = 0,
    grid: Annotated[bool, typer.Option("--grid", help="Also write all images as one grid.png.")] = False,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, or a kimg number / file name.")] = "latest",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Generate new images from a trained run; each PNG records its run, checkpoint hash and seed."""
    from belamy.generate.sample import generate

    written = generate(run, out, n=n, seed=seed, grid=grid, checkpoint=checkpoint, device=device)
    console.print(f"wrote {len(written.images)} images to {out}")
    typer.echo(str(out))


# --------------------------------------------------------------------------- sign


# Corners are plain strings checked by the library, so a wrong one is a one-line error (exit 2).
CORNER_HELP = "Where the signature goes: bottom-right, bottom-left, top-right or top-left."


@app.command("sign")
def sign_cmd(
    image: Annotated[Path, typer.Argument(help="The image to sign (PNG, JPEG, TIFF; any colour mode).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the signed image: .png, .jpg or .tif.")],
    corner: Annotated[str, typer.Option(help=CORNER_HELP)] = "bottom-right",
    color: Annotated[str, typer.Option(help="auto (contrasting with the background there) or a colour: '#1a1a1a', 'gold'.")] = "auto",
    size: Annotated[float, typer.Option(help="Signature width as a fraction of the image width, in (0, 1].")] = 0.42,
) -> None:
    """Sign an image with the GAN loss formula, rendered as real mathematics, like Edmond de Belamy."""
    from belamy.print.signature import sign_image

    sign_image(image, out, corner=corner, color=color, width_fraction=size)
    typer.echo(str(out))


# --------------------------------------------------------------------------- entry point


def main() -> None:
    try:
        app()
    except BelamyError as err:
        console.print(Text.assemble(("error: ", "bold red"), str(err)), soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as err:  # a bug: one line for the user, the traceback on request
        if os.environ.get("BELAMY_DEBUG"):
            raise
        message = f"{type(err).__name__}: {err} (set BELAMY_DEBUG=1 for the traceback)"
        console.print(Text.assemble(("internal error: ", "bold red"), message), soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
