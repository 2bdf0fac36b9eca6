"""`belamy train`, `belamy distill`, `belamy sr train` and `belamy import`: everything that makes a run."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.text import Text

from belamy.cli.app import FlagHelpGroup, app
from belamy.cli.options import CheckpointMinutes, Device, Keep, Minutes
from belamy.errors import BelamyError
from belamy.utils.progress import console

T = TypeVar("T")


class AugmentKind(StrEnum):
    ada = "ada"
    diffaugment = "diffaugment"
    none = "none"


class Precision(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    auto = "auto"


def _from_registries(build: Callable[[], T], fallback: T) -> T:
    """What `belamy train --help` reads from the registries; the fallback while a plug-in does not load
    (`belamy` then says so in one line before any command runs)."""
    try:
        return build()
    except BelamyError:
        return fallback


def _arch_help() -> str:
    from belamy.models.registry import architecture_names, get_architecture

    def entry(name: str) -> str:
        arch = get_architecture(name)
        alias = f"; also --arch {' / '.join(arch.aliases)}" if arch.aliases else ""
        return f"{name} ({arch.summary}{alias})"

    names = architecture_names("gan") + [n for n in architecture_names() if get_architecture(n).task not in ("gan", "sr")]
    return ("Network architecture: " + "; ".join(map(entry, names))
            + " (default: the one --preset picks; on --resume, the run's).")


def _preset_help() -> str:
    from belamy.gan.presets import preset_help

    return "A recipe by name. " + preset_help()


def _loss_help() -> str:
    from belamy.gan.losses import get_loss, loss_names

    return "Loss by name: " + "; ".join(f"{n}: {get_loss(n).summary}" for n in loss_names()) + \
        " (default: the architecture's own)."


def _declared_parameters() -> list[inspect.Parameter]:
    """A flag for every option a registered architecture, loss or task declares (plug-ins' included)."""
    from belamy.gan.options import train_declarations

    parameters = []
    for option in _from_registries(train_declarations, {}).values():
        switch = option.type is bool  # --x/--no-x, as every other on/off flag
        names = (f"{option.flag}/--no-{option.flag[2:]}",) if switch else (option.flag,)
        info = typer.Option(*names, help=option.help, **({"metavar": ""} if switch else {}))
        parameters.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=Annotated[option.type | None, info]))
    return parameters


def _with_declared_options(command: Callable) -> Callable:
    """``command`` (whose ``**declared`` takes them) with the declared options as its flags: typer reads
    ``__signature__``."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind != p.VAR_KEYWORD]
    command.__signature__ = inspect.Signature(own + _declared_parameters())
    return command


DURATION_HELP = ("Train until this many thousand real images have been shown (default: 100 for a new run; "
                 "on --resume, the run's own target).")


@app.command("train")
@_with_declared_options
def train_cmd(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, sample grids, metrics.")],
    arch: Annotated[str | None, typer.Option(help=_from_registries(_arch_help, "Network architecture."))] = None,
    preset: Annotated[str | None, typer.Option(help=_preset_help())] = None,
    res: Annotated[int | None, typer.Option(help="Output resolution, a power of two: 64 or 128 for dcgan, 16-1024 for stylegan2 (default: 64; on --resume, the run's).")] = None,
    kimg: Annotated[float | None, typer.Option(help=DURATION_HELP)] = None,
    minutes: Minutes = None,
    batch: Annotated[int | None, typer.Option(help="Batch size over all processes (default: 64 dcgan, 32 stylegan2 and fastgan).")] = None,
    loss: Annotated[str | None, typer.Option(help=_from_registries(_loss_help, "Loss by name."))] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate for both networks (default: 2e-4 dcgan, 0.0025 stylegan2).")] = None,
    beta1: Annotated[float | None, typer.Option(help="Adam beta1 (default: 0.5 dcgan, 0 stylegan2).")] = None,
    nz: Annotated[int | None, typer.Option(help="Latent size (default: 100 dcgan; 256 stylegan2 up to 128², 512 above).")] = None,
    ngf: Annotated[int | None, typer.Option(help="Generator width (dcgan: 64 at 64², 160 at 128², as art-DCGAN; stylegan2: channels at the output resolution; fastgan: channels at the output resolution, default 16).")] = None,
    ndf: Annotated[int | None, typer.Option(help="Discriminator width (dcgan: 64 at 64², 40 at 128²; stylegan2: channels at the input resolution; fastgan: after D's first layer, default 16).")] = None,
    augment: Annotated[AugmentKind | None, typer.Option(help="Augment real and fake images alike: ada (adaptive; stylegan2's default), diffaugment (fastgan's) or none (dcgan's).")] = None,
    ada_target: Annotated[float | None, typer.Option(help="ADA: the r_t = E(sign D(real)) it steers toward (default: 0.6).")] = None,
    aspect: Annotated[str | None, typer.Option(help="1:1, or portrait 4:5 / 3:4 (width:height); --res sets the scale (default: the corpus's aspect).")] = None,
    init: Annotated[Path | None, typer.Option(help="Start from this run's (or checkpoint's) weights, e.g. one made by `belamy import`: its arch, res and widths; fresh optimizers.")] = None,
    metric_kimg: Annotated[float, typer.Option(help="Compute SWD against the corpus every this many kimg and keep checkpoints/best (0: off).")] = 0.0,
    metric_n: Annotated[int, typer.Option(help="Images per SWD measurement during training.")] = 256,
    precision: Annotated[Precision | None, typer.Option(help="fp32 (the default without a preset), bf16, fp16 (GPU) or auto (bf16 where the hardware does it fast; the cpu-fast preset's).")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the networks (stylegan2; worth it on a GPU).", metavar="")] = False,
    tick_kimg: Annotated[float, typer.Option(help="kimg between log lines (one metrics.jsonl line each).")] = 4.0,
    snapshot_ticks: Annotated[int, typer.Option(help="Ticks between sample grids and checkpoints.")] = 1,
    checkpoint_minutes: CheckpointMinutes = 10.0,
    keep: Keep = 3,
    grid_size: Annotated[int, typer.Option(help="Images in each sample grid (seeds 0..N-1, as `belamy generate`).")] = 36,
    mirror: Annotated[bool, typer.Option(help="Flip real images left-right at random (doubles a small corpus).", metavar="")] = True,
    seed: Annotated[int, typer.Option(help="Random seed for weights, latents and data order.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.", metavar="")] = False,
    device: Device = "auto",
    channels_last: Annotated[bool, typer.Option(help="Use the channels-last memory format (faster on most hardware).", metavar="")] = True,
    **declared: Any,  # the options architectures, losses and tasks declare (see _with_declared_options)
) -> None:
    """Train a GAN on a corpus (or pix2pix on a pair corpus), with sample grids, checkpoints and resume."""
    from belamy.gan import TrainOptions, train

    options = TrainOptions.of(
        corpus=corpus, out=out, arch=arch, res=res, kimg=kimg, minutes=minutes, batch=batch, loss=loss,
        checkpoint_minutes=checkpoint_minutes,
        lr=lr, beta1=beta1, nz=nz, ngf=ngf, ndf=ndf, tick_kimg=tick_kimg, snapshot_ticks=snapshot_ticks,
        keep=keep, seed=seed, resume=resume, device=device, channels_last=channels_last, grid_size=grid_size,
        mirror=mirror, augment=augment.value if augment else None, ada_target=ada_target, aspect=aspect,
        init=str(init) if init else None, metric_kimg=metric_kimg, metric_n=metric_n,
        precision=precision.value if precision else None, compile=compile, preset=preset, **declared,
    )
    result = train(options)
    if result.interrupted:
        raise typer.Exit(130)
    typer.echo(str(result.run_dir))


@app.command("distill")
def distill_cmd(
    teacher: Annotated[Path, typer.Argument(help="The trained run to learn from (style or dcgan, conditional or not).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for the light student: usable like any run (generate, exhibit, walk, export).")],
    checkpoint: Annotated[str, typer.Option(help="The teacher's checkpoint: latest, best, or a kimg number / file name.")] = "latest",
    res: Annotated[int | None, typer.Option(help="Student resolution, a power of two up to the teacher's (default: the teacher's; lower is faster).")] = None,
    ngf: Annotated[int, typer.Option(help="Student width (channels at the output resolution): 16 runs at 24+ fps at 256² on a laptop CPU.")] = 16,
    kimg: Annotated[float | None, typer.Option(help="Learn until this many thousand teacher images have been shown (default: 100; on --resume, the run's own target).")] = None,
    minutes: Minutes = None,
    checkpoint_minutes: CheckpointMinutes = 10.0,
    batch: Annotated[int, typer.Option(help="Teacher images per step.")] = 32,
    truncation: Annotated[float, typer.Option(help="The teacher's truncation ψ, baked into the student (1 = the full range).")] = 1.0,
    lr: Annotated[float, typer.Option(help="Adam learning rate of the student.")] = 2e-3,
    feature_weight: Annotated[float, typer.Option(help="Weight of the teacher discriminator's feature match (0: pixels only).")] = 0.2,
    ema_kimg: Annotated[float, typer.Option(help="Half-life of the student's weight average, in kimg (0: none).")] = 1.0,
    tick_kimg: Annotated[float, typer.Option(help="kimg between log lines, comparison images and checkpoints.")] = 4.0,
    keep: Keep = 3,
    seed: Annotated[int, typer.Option(help="Random seed for the student's weights and the latents it learns on.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the distillation in --out from its last checkpoint.", metavar="")] = False,
    device: Device = "auto",
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


sr_app = typer.Typer(cls=FlagHelpGroup, help="Train the built-in super-resolution network on paintings.", no_args_is_help=True)


app.add_typer(sr_app, name="sr")


@sr_app.command("train")
def sr_train_cmd(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="SR run folder: checkpoints, before/after samples, metrics.")],
    scale: Annotated[int | None, typer.Option(help="Model enlargement, 2 or 4 (default: 4, or the --init network's).")] = None,
    kimg: Annotated[float | None, typer.Option(help="Train until this many thousand patches have been shown (default: 20; on --resume, the run's own target).")] = None,
    minutes: Minutes = None,
    checkpoint_minutes: CheckpointMinutes = 10.0,
    warmup_kimg: Annotated[float, typer.Option(help="kimg of L1-only training before the adversarial losses.")] = 2.0,
    batch: Annotated[int, typer.Option(help="Patches per step.")] = 8,
    degradation: Annotated[str | None, typer.Option(help="How inputs are shrunk: realistic (blur, noise, JPEG), bicubic (clean) or mixed (three in four clean); fixed on --resume (default: realistic).")] = None,
    patch: Annotated[int | None, typer.Option(help="High-resolution patch side, a multiple of 16 (default: 96, or the largest the corpus holds).")] = None,
    nf: Annotated[int | None, typer.Option(help="Generator features (default: 32, or the --init network's).")] = None,
    nb: Annotated[int | None, typer.Option(help="Generator RRDB blocks (default: 6, or the --init network's).")] = None,
    gc: Annotated[int | None, typer.Option(help="Growth channels in each dense block (default: 16, or the --init network's).")] = None,
    ndf: Annotated[int | None, typer.Option(help="Discriminator width (default: 32, or the --init network's).")] = None,
    init: Annotated[str | None, typer.Option(help="Start from these SR weights instead of random ones: an SR run or checkpoint, or painting (belamy's own painting-SR), to fine-tune on your paintings; the network's shape comes from it.")] = None,
    lr: Annotated[float, typer.Option(help="Adam learning rate for both networks.")] = 2e-4,
    lr_half_life_kimg: Annotated[float, typer.Option(help="The learning rate halves every this many kimg (0: constant).")] = 0.0,
    precision: Annotated[Precision, typer.Option(help="fp32, bf16 (about twice as fast on a CPU with AMX or a GPU; slow where bf16 is emulated) or auto (bf16 where the hardware does it fast).")] = Precision.fp32,
    l1_weight: Annotated[float, typer.Option(help="Weight of the L1 distance to the original.")] = 1.0,
    l2_weight: Annotated[float, typer.Option(help="Weight of the mean squared error to the original, which PSNR measures: a last fine-tune with --l1-weight 0 --l2-weight 1 gains a little PSNR.")] = 0.0,
    adv_weight: Annotated[float, typer.Option(help="Weight of the relativistic adversarial loss.")] = 0.005,
    fm_weight: Annotated[float, typer.Option(help="Weight of the discriminator feature-matching loss.")] = 0.05,
    tick_kimg: Annotated[float, typer.Option(help="kimg between log lines.")] = 0.5,
    snapshot_ticks: Annotated[int, typer.Option(help="Ticks between before/after samples and checkpoints.")] = 4,
    keep: Keep = 3,
    seed: Annotated[int, typer.Option(help="Random seed for weights, crops and degradations.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the SR run in --out from its last checkpoint.", metavar="")] = False,
    device: Device = "auto",
) -> None:
    """Train the built-in RRDB super-resolution network on a corpus, with synthetic degradations."""
    from belamy.upscale.train import SRTrainOptions, train_sr

    options = SRTrainOptions(
        corpus=corpus, out=out, scale=scale, kimg=kimg, minutes=minutes, checkpoint_minutes=checkpoint_minutes,
        warmup_kimg=warmup_kimg, batch=batch, degradation=degradation, patch=patch, nf=nf,
        nb=nb, gc=gc, ndf=ndf, init=init, lr=lr, lr_half_life_kimg=lr_half_life_kimg, precision=precision.value, l1_weight=l1_weight, l2_weight=l2_weight, adv_weight=adv_weight, fm_weight=fm_weight, tick_kimg=tick_kimg,
        snapshot_ticks=snapshot_ticks, keep=keep, seed=seed, resume=resume, device=device,
    )
    result = train_sr(options)
    if result.interrupted:
        raise typer.Exit(130)
    typer.echo(str(result.run_dir))


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="An NVlabs StyleGAN2-ADA or StyleGAN3 (-T, -R) .pkl, a rosinality stylegan2-pytorch .pt, or a PyTorch-tutorial DCGAN .pth.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The run folder to create (it must not hold a run yet).")],
    label_names: Annotated[str | None, typer.Option(help="Conditional models: class names in class order, e.g. cat,dog (default 0,1,...).")] = None,
    discriminator: Annotated[Path | None, typer.Option(help="Tutorial DCGAN: the discriminator's state dict (netD), if saved apart.")] = None,
) -> None:
    """Make a belamy run from a model trained elsewhere (no code in the file is ever run)."""
    from belamy.importers import import_model

    names = [n.strip() for n in label_names.split(",")] if label_names else None
    result = import_model(file, out, label_names=names, discriminator=discriminator)
    source = result.imported_from
    console.print(f"imported {source['file']} ({source['format']}, sha256 {source['sha256'][:12]}…) into {result.run_dir}",
                  soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True)
    if result.licence_note:
        console.print(Text.assemble(("licence: ", "bold yellow"), result.licence_note), soft_wrap=True)
    typer.echo(str(result.run_dir))


classify_app = typer.Typer(cls=FlagHelpGroup, help="An independent style classifier, to measure how far generated images stray from known styles.",
                           no_args_is_help=True)
app.add_typer(classify_app, name="classify")


@classify_app.command("train")
def classify_train_cmd(
    corpus: Annotated[Path, typer.Argument(help="A labelled corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for classifier.safetensors and classifier.json.")],
    labels: Annotated[str, typer.Option(help="The style of each image: a manifest field (e.g. style, label) or 'folder' (the source's folder name).")] = "folder",
    res: Annotated[int, typer.Option(help="Input size: the shorter side, in pixels.")] = 64,
    epochs: Annotated[int, typer.Option(help="Passes over the training images.")] = 30,
    batch: Annotated[int, typer.Option(help="Images per step.")] = 64,
    holdout: Annotated[float, typer.Option(help="Fraction of each style held out (never trained on) to measure accuracy.")] = 0.2,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate (one-cycle schedule).")] = 2e-3,
    channels: Annotated[int, typer.Option(help="Width of the first layer (doubling at each of 4 stages).")] = 16,
    seed: Annotated[int, typer.Option(help="Seed for the held-out split, weights and data order.")] = 0,
    device: Device = "auto",
) -> None:
    """Train a small CNN to name a painting's style (no downloaded weights) and report its held-out accuracy."""
    from belamy.classify import train_classifier

    report = train_classifier(corpus, labels, out, res=res, epochs=epochs, batch=batch, holdout=holdout, lr=lr,
                              channels=channels, seed=seed, device=device)
    console.print(f"held-out accuracy {report.accuracy:.1%} on {report.n_heldout} images "
                  f"(chance {report.chance:.1%}); per style: "
                  + ", ".join(f"{k} {v:.0%}" for k, v in report.per_class_accuracy.items()))
    typer.echo(str(out))
