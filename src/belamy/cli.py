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


class CropKind(StrEnum):
    center = "center"
    face = "face"
    none = "none"


@corpus_app.command("build")
def corpus_build(
    sources: Annotated[list[str], typer.Argument(
        help="Folders (or single files) of paintings to read, and/or Hugging Face datasets as hf:OWNER/NAME "
             "or hf:/path/to/saved/dataset.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the corpus to (rebuilt atomically if it holds one).")],
    size: Annotated[int, typer.Option(help="Side of the square training images, in pixels (≥ 8); with --aspect, the width of 4:5 and the height of 3:4 pictures.")] = 128,
    aspect: Annotated[str, typer.Option(help="Picture shape, width:height: 1:1, or portrait 4:5 (128×160 at --size 128) or 3:4 (96×128).")] = "1:1",
    min_size: Annotated[int, typer.Option(help="Reject images whose short side (after trimming) is below this.")] = 64,
    max_pixels: Annotated[
        int, typer.Option(help="Reject images with more pixels than this (decompression-bomb guard).")
    ] = 178_956_970,
    dedupe_distance: Annotated[
        int, typer.Option(help="Perceptual-hash Hamming distance at or below which two images are duplicates; "
                               "-1 merges only exact copies.")
    ] = 4,
    workers: Annotated[int, typer.Option(help="Decoding processes; 0 means one per core.")] = 0,
    crop: Annotated[CropKind, typer.Option(
        help="center: the largest centred crop of the --aspect; face: head-and-shoulders around each face found "
             "(centre crop when none); none: the whole picture, padded to the --aspect.")] = CropKind.center,
    face_scale: Annotated[float, typer.Option(help="With --crop face: the crop's width as a multiple of the face box.")] = 2.2,
    face_shift: Annotated[float, typer.Option(help="With --crop face: move the crop down by this fraction of the face box.")] = 0.25,
    trim: Annotated[bool, typer.Option(help="Trim black or white borders (letterbox bars, margins) before cropping.")] = True,
    where: Annotated[list[str] | None, typer.Option(
        help="Keep only dataset rows whose column equals a value, e.g. --where genre=portrait (repeatable).")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after reading this many files or dataset rows.")] = None,
    folder_labels: Annotated[bool, typer.Option(
        help="Label each image with the sub-folder it lies in (e.g. wikiart-styles/<style>/), for class-conditional training.")] = False,
) -> None:
    """Turn folders of paintings into a training corpus: cropped (square or portrait), cleaned, de-duplicated, with a manifest."""
    from belamy.corpus.build import build_corpus, parse_where

    report = build_corpus(
        sources, out, size=size, min_size=min_size, max_pixels=max_pixels,
        dedupe_distance=dedupe_distance, workers=workers, crop=crop.value, aspect=aspect, face_scale=face_scale,
        face_shift=face_shift, trim=trim, where=parse_where(where or []), limit=limit, folder_labels=folder_labels,
    )
    report.print_summary(console)
    typer.echo(str(out))


@corpus_app.command("report")
def corpus_report(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for report.html and its pictures (default: CORPUS/report).")] = None,
) -> None:
    """Write one HTML page to judge a corpus by: contact sheet, histograms, duplicates, rejects, labels."""
    from belamy.corpus.report import write_report

    page = write_report(corpus, out)
    typer.echo(str(page))


scrape_app = typer.Typer(help="Download paintings and their metadata from the web, politely and resumably.",
                         no_args_is_help=True)
corpus_app.add_typer(scrape_app, name="scrape")


@scrape_app.command("wikiart")
def corpus_scrape_wikiart(
    out: Annotated[Path, typer.Option("--out", "-o", help="RAW folder: images by artist, metadata.jsonl, scrape.sqlite.")],
    genre: Annotated[str | None, typer.Option(help="A WikiArt genre, as in its URL: portrait, landscape, ...")] = None,
    style: Annotated[str | None, typer.Option(help="A WikiArt style, as in its URL: baroque, impressionism, ...")] = None,
    artist: Annotated[str | None, typer.Option(help="A WikiArt artist, as in its URL: rembrandt, leonardo-da-vinci, ...")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop once RAW holds this many images from this listing (over all runs).")] = None,
    years: Annotated[str | None, typer.Option(help="Keep only works dated in this range, e.g. 1400-1900 (undated works are skipped).")] = None,
    rate: Annotated[float, typer.Option(help="Requests per second, all workers together.")] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Downloads in flight at once.")] = 2,
    base_url: Annotated[str, typer.Option(help="Site to read (a mirror or a test server).")] = "https://www.wikiart.org",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a connection or a read.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries on 429 / 5xx / dropped connections, with backoff.")] = 5,
    max_backoff: Annotated[float, typer.Option(help="Longest wait between retries, in seconds (Retry-After is honoured).")] = 60.0,
) -> None:
    """Download WikiArt originals of a genre, style or artist with their metadata (resumable; honours robots.txt)."""
    from belamy.corpus.scrape import scrape_wikiart

    try:
        report = scrape_wikiart(
            out, genre=genre, style=style, artist=artist, limit=limit, years=years, rate=rate,
            concurrency=concurrency, base_url=base_url, timeout=timeout, max_retries=retries, max_backoff=max_backoff,
        )
    except KeyboardInterrupt as exc:
        if getattr(exc, "scrape_report", None) is not None:
            exc.scrape_report.print_summary(console)
        console.print("interrupted: run the same command again to resume")
        raise
    report.print_summary(console)
    typer.echo(str(out))


@corpus_app.command("credits")
def corpus_credits(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder (with manifest.jsonl).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the credits here: .md, .json or .csv.")] = None,
) -> None:
    """List the artists in a corpus with their works and public-domain status; writes CORPUS/credits.json."""
    from belamy.corpus.credits import credits_path, write_credits

    credits = write_credits(corpus, out)
    credits.print_table(console)
    typer.echo(str(out if out is not None else credits_path(corpus)))


# --------------------------------------------------------------------------- train


class AugmentKind(StrEnum):
    ada = "ada"
    diffaugment = "diffaugment"
    none = "none"


class Precision(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    auto = "auto"


def _choices(names: list[str]) -> str:
    return ", ".join(names)


def _arch_help() -> str:
    from belamy.models.registry import architecture_names, get_architecture

    names = architecture_names("gan") + [n for n in architecture_names() if get_architecture(n).task not in ("gan", "sr")]
    return ("Network architecture: " + "; ".join(f"{n} ({get_architecture(n).summary})" for n in names)
            + " (default: the one --preset picks; on --resume, the run's).")


def _preset_help() -> str:
    from belamy.train.presets import preset_help

    return "A recipe by name. " + preset_help()


def _loss_help() -> str:
    from belamy.train.losses import get_loss, loss_names

    return "Loss by name: " + "; ".join(f"{n}: {get_loss(n).summary}" for n in loss_names()) + \
        " (default: the architecture's own)."


DURATION_HELP = ("Train until this many thousand real images have been shown (default: 100 for a new run; "
                 "on --resume, the run's own target).")
MINUTES_HELP = "Train for this many minutes of wall time instead (or as well: whichever comes first); kept on --resume."
CHECKPOINT_MINUTES_HELP = "Also write a checkpoint whenever this many minutes have passed since the last (0: off)."


@app.command("train")
def train_cmd(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, sample grids, metrics.")],
    arch: Annotated[str | None, typer.Option(help=_arch_help())] = None,
    preset: Annotated[str | None, typer.Option(help=_preset_help())] = None,
    res: Annotated[int | None, typer.Option(help="Output resolution, a power of two: 64 or 128 for dcgan, 16-1024 for style (default: 64; on --resume, the run's).")] = None,
    kimg: Annotated[float | None, typer.Option(help=DURATION_HELP)] = None,
    minutes: Annotated[float | None, typer.Option(help=MINUTES_HELP)] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size over all processes (default: 64 dcgan, 32 style and fastgan).")] = None,
    loss: Annotated[str | None, typer.Option(help=_loss_help())] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate for both networks (default: 2e-4 dcgan, 0.0025 style).")] = None,
    beta1: Annotated[float | None, typer.Option(help="Adam beta1 (default: 0.5 dcgan, 0 style).")] = None,
    nz: Annotated[int | None, typer.Option(help="Latent size (default: 100 dcgan; 256 style up to 128², 512 above).")] = None,
    ngf: Annotated[int | None, typer.Option(help="Generator width (dcgan: 64 at 64², 160 at 128², as art-DCGAN; style: channels at the output resolution; fastgan: channels at the output resolution, default 16).")] = None,
    ndf: Annotated[int | None, typer.Option(help="Discriminator width (dcgan: 64 at 64², 40 at 128²; style: channels at the input resolution; fastgan: after D's first layer, default 16).")] = None,
    augment: Annotated[AugmentKind | None, typer.Option(help="Augment real and fake images alike: ada (adaptive; style's default), diffaugment (fastgan's) or none (dcgan's).")] = None,
    ada_target: Annotated[float | None, typer.Option(help="ADA: the r_t = E(sign D(real)) it steers toward (default: 0.6).")] = None,
    r1_gamma: Annotated[float | None, typer.Option(help="stylegan2 loss: R1 weight γ (default: 0.0002·res²/batch).")] = None,
    ema_kimg: Annotated[float | None, typer.Option(help="Half-life in kimg of G_ema, the average of G that draws samples (style: batch·10/32; fastgan: 10; dcgan: none unless given).")] = None,
    map_layers: Annotated[int | None, typer.Option(help="style: mapping-network depth (default: 2 at ≤64², 4 at 128², 8 above).")] = None,
    aspect: Annotated[str | None, typer.Option(help="1:1, or portrait 4:5 / 3:4 (width:height); --res sets the scale (default: the corpus's aspect).")] = None,
    labels: Annotated[str | None, typer.Option(help="style: class-conditional on a manifest field (e.g. style), or 'folder' (the source's folder name).")] = None,
    init: Annotated[Path | None, typer.Option(help="Start from this run's (or checkpoint's) weights: same arch and res; fresh optimizers.")] = None,
    metric_kimg: Annotated[float, typer.Option(help="Compute SWD against the corpus every this many kimg and keep checkpoints/best (0: off).")] = 0.0,
    metric_n: Annotated[int, typer.Option(help="Images per SWD measurement during training.")] = 256,
    precision: Annotated[Precision | None, typer.Option(help="fp32 (the default without a preset), bf16, fp16 (GPU) or auto (bf16 where the hardware does it fast; the cpu-fast preset's).")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the networks (style; worth it on a GPU).")] = False,
    tick_kimg: Annotated[float, typer.Option(help="kimg between log lines (one metrics.jsonl line each).")] = 4.0,
    snapshot_ticks: Annotated[int, typer.Option(help="Ticks between sample grids and checkpoints.")] = 1,
    checkpoint_minutes: Annotated[float, typer.Option(help=CHECKPOINT_MINUTES_HELP)] = 10.0,
    keep: Annotated[int, typer.Option(help="How many recent checkpoints to keep.")] = 3,
    grid_size: Annotated[int, typer.Option(help="Images in each sample grid (seeds 0..N-1, as `belamy generate`).")] = 36,
    mirror: Annotated[bool, typer.Option(help="Flip real images left-right at random (doubles a small corpus).")] = True,
    seed: Annotated[int, typer.Option(help="Random seed for weights, latents and data order.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    channels_last: Annotated[bool, typer.Option(help="Use the channels-last memory format (faster on most hardware).")] = True,
) -> None:
    """Train a GAN on a corpus, with sample grids, checkpoints and resume."""
    from belamy.train import TrainOptions, train

    options = TrainOptions(
        corpus=corpus, out=out, arch=arch, res=res, kimg=kimg, minutes=minutes, batch=batch, loss=loss,
        checkpoint_minutes=checkpoint_minutes,
        lr=lr, beta1=beta1, nz=nz, ngf=ngf, ndf=ndf, tick_kimg=tick_kimg, snapshot_ticks=snapshot_ticks,
        keep=keep, seed=seed, resume=resume, device=device, channels_last=channels_last, grid_size=grid_size,
        mirror=mirror, augment=augment.value if augment else None, ada_target=ada_target, r1_gamma=r1_gamma,
        ema_kimg=ema_kimg, map_layers=map_layers, aspect=aspect, labels=labels, init=str(init) if init else None,
        metric_kimg=metric_kimg, metric_n=metric_n, precision=precision.value if precision else None, compile=compile,
        preset=preset,
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
    n: Annotated[int | None, typer.Option("--n", help="How many images (with --curate: how many candidates to choose from).")] = None,
    seed: Annotated[int, typer.Option(help="First seed; image i uses seed + i.")] = 0,
    grid: Annotated[bool, typer.Option("--grid", help="Also write all images as one grid.png.")] = False,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, best (lowest SWD, with --metric-kimg), or a kimg number / file name.")] = "latest",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    truncation: Annotated[float, typer.Option(help="Truncation ψ: 1 = the full range, lower = closer to the average image (style: toward w_avg).")] = 1.0,
    label: Annotated[str | None, typer.Option(help="Class-conditional runs: the class to draw (default: seed mod classes).")] = None,
    curate: Annotated[int | None, typer.Option("--curate", help="Draw --n candidates (default 8×K) into OUT/pool and keep the K best by the taste learned in `belamy studio`.")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="With --curate: the studio's belamy-studio.sqlite (default: found above OUT or here).")] = None,
) -> None:
    """Generate new images from a trained run; each PNG records its run, checkpoint hash and seed."""
    from belamy.generate.sample import generate

    if curate is not None:
        from belamy.curate.rank import generate_curated

        result = generate_curated(run, out, curate, seed=seed, checkpoint=checkpoint, device=device, db=db,
                                  truncation=truncation, label=label, pool_size=n, grid=grid)
        console.print(f"kept the {len(result.selected)} best of {len(result.ranking)} in {out} (see {result.csv_path.name})")
        typer.echo(str(out))
        return
    written = generate(run, out, n=16 if n is None else n, seed=seed, grid=grid, checkpoint=checkpoint, device=device,
                       truncation=truncation, label=label)
    console.print(f"wrote {len(written.images)} images to {out}")
    typer.echo(str(out))


# --------------------------------------------------------------------------- distill


@app.command("distill")
def distill_cmd(
    teacher: Annotated[Path, typer.Argument(help="The trained run to learn from (style or dcgan, conditional or not).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for the light student: usable like any run (generate, exhibit, walk, export).")],
    checkpoint: Annotated[str, typer.Option(help="The teacher's checkpoint: latest, best, or a kimg number / file name.")] = "latest",
    res: Annotated[int | None, typer.Option(help="Student resolution, a power of two up to the teacher's (default: the teacher's; lower is faster).")] = None,
    ngf: Annotated[int, typer.Option(help="Student width (channels at the output resolution): 16 runs at 24+ fps at 256² on a laptop CPU.")] = 16,
    kimg: Annotated[float | None, typer.Option(help="Learn until this many thousand teacher images have been shown (default: 100; on --resume, the run's own target).")] = None,
    minutes: Annotated[float | None, typer.Option(help=MINUTES_HELP)] = None,
    checkpoint_minutes: Annotated[float, typer.Option(help=CHECKPOINT_MINUTES_HELP)] = 10.0,
    batch: Annotated[int, typer.Option(help="Teacher images per step.")] = 32,
    truncation: Annotated[float, typer.Option(help="The teacher's truncation ψ, baked into the student (1 = the full range).")] = 1.0,
    lr: Annotated[float, typer.Option(help="Adam learning rate of the student.")] = 2e-3,
    feature_weight: Annotated[float, typer.Option(help="Weight of the teacher discriminator's feature match (0: pixels only).")] = 0.2,
    ema_kimg: Annotated[float, typer.Option(help="Half-life of the student's weight average, in kimg (0: none).")] = 1.0,
    tick_kimg: Annotated[float, typer.Option(help="kimg between log lines, comparison images and checkpoints.")] = 4.0,
    keep: Annotated[int, typer.Option(help="How many recent checkpoints to keep.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed for the student's weights and the latents it learns on.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the distillation in --out from its last checkpoint.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Distil a trained run into a light DCGAN that draws the same pictures fast enough for `belamy exhibit`."""
    from belamy.distill import DistillOptions, distill

    options = DistillOptions(teacher=teacher, out=out, checkpoint=checkpoint, res=res, ngf=ngf, kimg=kimg, minutes=minutes,
                             checkpoint_minutes=checkpoint_minutes, batch=batch,
                             truncation=truncation, lr=lr, feature_weight=feature_weight, ema_kimg=ema_kimg,
                             tick_kimg=tick_kimg, keep=keep, seed=seed, resume=resume, device=device)
    result = distill(options)
    if result.interrupted:
        raise typer.Exit(130)
    typer.echo(str(result.run_dir))


# --------------------------------------------------------------------------- eval


@app.command("eval")
def eval_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder made by `belamy train` (or one checkpoint file).")],
    corpus: Annotated[Path, typer.Option("--corpus", help="The corpus to compare against (usually the training corpus).")],
    n: Annotated[int, typer.Option("--n", help="Images to generate (and reals to sample, at most the corpus size).")] = 1000,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, best, or a kimg number / file name.")] = "latest",
    inception: Annotated[Path | None, typer.Option(help="A local Inception-v3 FID weights file (.safetensors or .pth): adds FID and KID.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for the real sample and the SWD projections.")] = 0,
) -> None:
    """Measure a run against a corpus: SWD and memorisation (no downloads), FID/KID with --inception; appends to RUN/eval.jsonl."""
    from rich.table import Table

    from belamy.metrics.evaluate import evaluate_run

    record = evaluate_run(run, corpus, n=n, checkpoint=checkpoint, inception=inception, device=device, seed=seed)
    table = Table(title=f"{run} @ {record['kimg']:g} kimg ({record['checkpoint']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in record.items():
        if key.startswith(("swd", "fid", "kid", "memorization")):
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    typer.echo(str(Path(run) / "eval.jsonl") if Path(run).is_dir() else str(run))


# --------------------------------------------------------------------------- studio and curation


@app.command("studio")
def studio_cmd(
    root: Annotated[Path, typer.Option("--root", help="Folder holding runs (with run.json) and candidates/; the decisions database lives here.")] = Path("."),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8700,
    host: Annotated[str, typer.Option("--host", help="Address to bind. Anything but loopback requires the access token it prints.")] = "127.0.0.1",
    retrain_every: Annotated[int, typer.Option(help="Retrain the taste after this many new decisions.")] = 10,
    device: Annotated[str, typer.Option(help="Device for generating candidates: auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Serve the studio: watch training, swipe through candidates, let the model learn your taste."""
    from belamy.studio.server import serve

    serve(root, host=host, port=port, retrain_every=retrain_every, device=device)


class RankBy(StrEnum):
    preference = "preference"
    discriminator = "discriminator"


@app.command("rank")
def rank_cmd(
    folder: Annotated[Path, typer.Argument(help="A folder of candidate images (e.g. from `belamy generate`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to copy the best images into, with ranking.csv.")],
    by: Annotated[RankBy, typer.Option("--by", help="preference: the taste learned in the studio; discriminator: D's realism score.")] = RankBy.preference,
    top: Annotated[int, typer.Option("--top", help="How many of the best to copy.")] = 16,
    db: Annotated[Path | None, typer.Option("--db", help="The studio's belamy-studio.sqlite (default: found in FOLDER or above).")] = None,
) -> None:
    """Rank a folder of candidates and keep the best K, with a ranking.csv of every image and its score."""
    from belamy.curate.rank import rank_folder

    result = rank_folder(folder, by=by.value, top=top, out=out, db=db)
    if result.model is not None:
        acc = result.model.held_out_accuracy
        console.print(f"taste learned from {result.model.n} decisions; held-out accuracy "
                      f"{'n/a' if acc is None else f'{acc:.0%}'}")
    console.print(f"copied the best {len(result.selected)} of {len(result.ranking)} to {out}")
    typer.echo(str(out))


# --------------------------------------------------------------------------- sign


# Corners are plain strings checked by the library, so a wrong one is a one-line error (exit 2).
CORNER_HELP = "Where the signature goes: bottom-right, bottom-left, top-right or top-left."


STYLE_HELP = "script: hand-lettered (Dancing Script), as on the Belamy canvas; typeset: Computer Modern, as in the paper."


@app.command("sign")
def sign_cmd(
    image: Annotated[Path, typer.Argument(help="The image to sign (PNG, JPEG, TIFF; any colour mode).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the signed image: .png, .jpg or .tif.")],
    corner: Annotated[str, typer.Option(help=CORNER_HELP)] = "bottom-right",
    color: Annotated[str, typer.Option(help="auto (contrasting with the background there) or a colour: '#1a1a1a', 'gold'.")] = "auto",
    size: Annotated[float, typer.Option(help="Signature width as a fraction of the image width, in (0, 1].")] = 0.42,
    style: Annotated[str, typer.Option(help=STYLE_HELP)] = "script",
) -> None:
    """Sign an image with the GAN loss formula, rendered as real mathematics, like Edmond de Belamy."""
    from belamy.print.signature import sign_image

    sign_image(image, out, corner=corner, color=color, width_fraction=size, style=style)
    typer.echo(str(out))


# --------------------------------------------------------------------------- upscale, sr train, print

sr_app = typer.Typer(help="Train the built-in super-resolution network on paintings.", no_args_is_help=True)
app.add_typer(sr_app, name="sr")

MODEL_HELP = "An SR run made by `belamy sr train` (its latest checkpoint)."
WEIGHTS_HELP = "Third-party SR weights (.safetensors or .pth: ESRGAN, Real-ESRGAN, SwinIR...), loaded via spandrel."
METHOD_HELP = "auto: the --model or --weights given, else Lanczos; lanczos: no network."


@app.command("upscale")
def upscale_cmd(
    image: Annotated[Path, typer.Argument(help="The image to enlarge (any mode; alpha is enlarged separately).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write it: .png, .jpg or .tif.")],
    scale: Annotated[int, typer.Option(help="Enlargement: 2, 4 or 8.")] = 4,
    model: Annotated[Path | None, typer.Option(help=MODEL_HELP)] = None,
    weights: Annotated[Path | None, typer.Option(help=WEIGHTS_HELP)] = None,
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = "auto",
    tile: Annotated[int, typer.Option(help="Tile side in input pixels: bounds memory, not the result.")] = 256,
    overlap: Annotated[int, typer.Option(help="Pixels neighbouring tiles share and blend over.")] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Enlarge an image with a super-resolution network, tile by tile, or with Lanczos."""
    from belamy.upscale.upscaler import upscale_file

    upscale_file(image, out, scale=scale, model=model, weights=weights, method=method, tile=tile, overlap=overlap,
                 device=device)
    typer.echo(str(out))


@sr_app.command("train")
def sr_train_cmd(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="SR run folder: checkpoints, before/after samples, metrics.")],
    scale: Annotated[int, typer.Option(help="Model enlargement, 2 or 4.")] = 4,
    kimg: Annotated[float | None, typer.Option(help="Train until this many thousand patches have been shown (default: 20; on --resume, the run's own target).")] = None,
    minutes: Annotated[float | None, typer.Option(help=MINUTES_HELP)] = None,
    checkpoint_minutes: Annotated[float, typer.Option(help=CHECKPOINT_MINUTES_HELP)] = 10.0,
    warmup_kimg: Annotated[float, typer.Option(help="kimg of L1-only training before the adversarial losses.")] = 2.0,
    batch: Annotated[int, typer.Option(help="Patches per step.")] = 8,
    patch: Annotated[int | None, typer.Option(help="High-resolution patch side, a multiple of 16 (default: 96, or the largest the corpus holds).")] = None,
    nf: Annotated[int, typer.Option(help="Generator features.")] = 32,
    nb: Annotated[int, typer.Option(help="Generator RRDB blocks.")] = 6,
    gc: Annotated[int, typer.Option(help="Growth channels in each dense block.")] = 16,
    ndf: Annotated[int, typer.Option(help="Discriminator width.")] = 32,
    lr: Annotated[float, typer.Option(help="Adam learning rate for both networks.")] = 2e-4,
    adv_weight: Annotated[float, typer.Option(help="Weight of the relativistic adversarial loss.")] = 0.005,
    fm_weight: Annotated[float, typer.Option(help="Weight of the discriminator feature-matching loss.")] = 0.05,
    tick_kimg: Annotated[float, typer.Option(help="kimg between log lines.")] = 0.5,
    snapshot_ticks: Annotated[int, typer.Option(help="Ticks between before/after samples and checkpoints.")] = 4,
    keep: Annotated[int, typer.Option(help="How many recent checkpoints to keep.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed for weights, crops and degradations.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the SR run in --out from its last checkpoint.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Train the built-in RRDB super-resolution network on a corpus, with synthetic degradations."""
    from belamy.upscale.train import SRTrainOptions, train_sr

    options = SRTrainOptions(
        corpus=corpus, out=out, scale=scale, kimg=kimg, minutes=minutes, checkpoint_minutes=checkpoint_minutes,
        warmup_kimg=warmup_kimg, batch=batch, patch=patch, nf=nf,
        nb=nb, gc=gc, ndf=ndf, lr=lr, adv_weight=adv_weight, fm_weight=fm_weight, tick_kimg=tick_kimg,
        snapshot_ticks=snapshot_ticks, keep=keep, seed=seed, resume=resume, device=device,
    )
    result = train_sr(options)
    if result.interrupted:
        raise typer.Exit(130)
    typer.echo(str(result.run_dir))


@app.command("print")
def print_cmd(
    image: Annotated[Path, typer.Argument(help="The picture to print (a belamy PNG carries its provenance to the label).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The print file: .tif (lossless LZW, recommended) or .pdf.")],
    size: Annotated[str, typer.Option(help="Print size WIDTHxHEIGHT with a unit: 70x70cm, 500x700mm, 20x24in.")] = "70x70cm",
    dpi: Annotated[int, typer.Option(help="Print resolution in dots per inch (300 is usual).")] = 300,
    fit: Annotated[str, typer.Option(help="cover: crop to the print's proportions; contain: fit inside with white margins.")] = "cover",
    model: Annotated[Path | None, typer.Option(help=MODEL_HELP)] = None,
    weights: Annotated[Path | None, typer.Option(help=WEIGHTS_HELP)] = None,
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = "auto",
    sign: Annotated[bool, typer.Option("--sign/--no-sign", help="Sign the print with the GAN formula.")] = True,
    corner: Annotated[str, typer.Option(help=CORNER_HELP)] = "bottom-right",
    color: Annotated[str, typer.Option(help="Signature colour: auto or a colour such as '#1a1a1a'.")] = "auto",
    signature_size: Annotated[float, typer.Option(help="Signature width as a fraction of the print width.")] = 0.42,
    style: Annotated[str, typer.Option(help=STYLE_HELP)] = "script",
    title: Annotated[str | None, typer.Option(help="Title for the wall label (default: Untitled (seed N), from the picture's provenance).")] = None,
    artist: Annotated[str, typer.Option(help="Artist for the wall label.")] = "belamy",
    medium: Annotated[str, typer.Option(help="Medium for the wall label.")] = "Generative adversarial network; pigment print on canvas",
    date: Annotated[str | None, typer.Option(help="Date for the wall label (default: this year).")] = None,
    credit: Annotated[str | None, typer.Option(help="Extra credit text, added after the model, code and corpus credits.")] = None,
    mockup: Annotated[bool, typer.Option("--mockup/--no-mockup", help="Also write <stem>.mockup.png: the print framed on a wall.")] = True,
    label: Annotated[bool, typer.Option("--label/--no-label", help="Also write <stem>.label.png: a museum wall label.")] = True,
    tile: Annotated[int, typer.Option(help="SR tile side in input pixels: bounds memory, not the result.")] = 256,
    overlap: Annotated[int, typer.Option(help="Pixels neighbouring tiles share and blend over.")] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Make a print file at an exact physical size: upscaled, signed, with ICC profile, mock-up and wall label."""
    from belamy.print.printfile import PrintOptions, make_print

    result = make_print(PrintOptions(
        image=image, out=out, size=size, dpi=dpi, fit=fit, model=model, weights=weights, method=method, device=device,
        tile=tile, overlap=overlap, sign=sign, corner=corner, color=color, signature_size=signature_size,
        signature_style=style, title=title,
        artist=artist, medium=medium, date=date, credit=credit, mockup=mockup, label=label,
    ))
    typer.echo(str(result.print_path))


# --------------------------------------------------------------------------- exhibit, export, walk


@app.command("exhibit")
def exhibit_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder made by `belamy train` (or one checkpoint file).")],
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
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Serve the live installation: full-screen pages of portraits morphing forever, generated live."""
    from belamy.exhibit.server import ExhibitConfig, serve

    config = ExhibitConfig(run=run, screens=screens, labels=labels, res=res, fps=fps, engine=engine,
                           truncation=truncation, seed=seed, seconds_per_face=seconds_per_face, checkpoint=checkpoint,
                           device=device, quality=quality, format=image_format, onnx_model=onnx_model)
    serve(config, host=host, port=port, echo=lambda line: console.print(line, soft_wrap=True))


@app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder made by `belamy train` (or one checkpoint file).")],
    onnx: Annotated[Path, typer.Option("--onnx", help="The ONNX file to write (inputs z [, labels]; output image).")],
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
    run: Annotated[Path, typer.Argument(help="A run folder made by `belamy train` (or one checkpoint file).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The video to write: .mp4 (H.264) or .gif.")],
    seeds: Annotated[str, typer.Option(help="Keyframe seeds, in order, e.g. 1,7,42 (noise mode: 1 or 2 seeds).")] = "0,1,2",
    seconds: Annotated[float, typer.Option(help="Length of the video, in seconds.")] = 10.0,
    fps: Annotated[float, typer.Option(help="Frames per second, 1-120.")] = 30.0,
    loop: Annotated[bool, typer.Option("--loop", help="Return to the first keyframe so the video repeats seamlessly.")] = False,
    mode: Annotated[str, typer.Option(help="slerp: eased spherical steps between the seeds; noise: a circle through latent space.")] = "slerp",
    label: Annotated[str | None, typer.Option(help="Class-conditional runs: the class to draw (name or index; default the first).")] = None,
    truncation: Annotated[float, typer.Option(help="Truncation ψ (1 = none).")] = 1.0,
    res: Annotated[int | None, typer.Option(help="Side of the video frames in pixels (default: the model's).")] = None,
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, or a kimg number / file name.")] = "latest",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Render an interpolation video between seeds (or a seamless loop) as MP4 or GIF."""
    from belamy.walk.video import write_walk

    path = write_walk(run, out, seeds, seconds=seconds, fps=fps, loop=loop, mode=mode, label=label,
                      truncation=truncation, res=res, checkpoint=checkpoint, device=device)
    typer.echo(str(path))


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
