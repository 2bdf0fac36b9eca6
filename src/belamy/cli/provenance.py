"""`belamy keys`, `verify`, `reproduce` and `attribute`: where a picture came from, and could this model have made it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from belamy.cli.app import FlagHelpGroup, app
from belamy.utils.progress import console

keys_app = typer.Typer(cls=FlagHelpGroup, help="The local identity that signs belamy's content credentials (C2PA).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init_cmd(
    folder: Annotated[Path | None, typer.Option("--dir", help="Where to keep the keys (default: $BELAMY_KEYS or ~/.config/belamy/keys).")] = None,
    name: Annotated[str, typer.Option(help="The signer's name, as credentials will show it.")] = "belamy artist",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing identity (files it signed stay valid, but no longer trusted here).", metavar="")] = False,
) -> None:
    """Make a local signing identity (a small CA and a leaf certificate, files 0600); nothing is uploaded."""
    from belamy.provenance.keys import init_identity

    identity = init_identity(folder, name=name, force=force)
    console.print(f"signing identity {identity.subject} in {identity.folder}: every PNG, JPEG and TIFF belamy "
                  "writes from now on carries signed content credentials")
    typer.echo(str(identity.folder))


@app.command("verify")
def verify_cmd(
    image: Annotated[Path, typer.Argument(help="Any PNG, JPEG, TIFF, GIF or MP4 (belamy's or another C2PA tool's).")],
) -> None:
    """Check an image's content credentials: signature, hard binding (any edit), the chain of stages, the credit line.

    Exit 0 when everything checks and the signer is trusted here (your `belamy keys init` identity);
    3 when everything checks but the signer is unknown (the credit line is only claimed); 1 when the
    file is unsigned or any check fails; 2 when the file cannot be read.
    """
    from belamy.provenance import verify_image

    result = verify_image(image)
    width = max(len(label) for label, _ in result.lines())
    for label, text in result.lines():
        typer.echo(f"{label:<{width}}  {text}")
    raise typer.Exit(result.exit_code)


@app.command("reproduce")
def reproduce_cmd(
    image: Annotated[Path, typer.Argument(help="An image written by `belamy generate`.")],
    run: Annotated[Path | None, typer.Option("--run", help="Where to look for the checkpoint (a run, a checkpoint file or a folder of runs; default: the run the image names).")] = None,
    device: Annotated[str, typer.Option(help="cpu (bit-exact across machines), auto, cuda or cuda:N.")] = "cpu",
) -> None:
    """Render an image again from the checkpoint (found by its SHA-256) and seed it records; confirm it bit for bit.

    Exit 0 when identical; 1 with what differs (an edit, another checkpoint, a missing run).
    """
    from belamy.generate.reproduce import reproduce_image

    result = reproduce_image(image, run=run, device=device)
    typer.echo(f"{result.status}: {result.message}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("attribute")
def attribute_cmd(
    images: Annotated[list[Path], typer.Argument(help="Pictures to test (PNG, JPEG, TIFF; photographed, resized or cropped is fine).")],
    run: Annotated[Path, typer.Option("--run", help="The run whose generator may have made them.")],
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint: latest, best, or a kimg number / file name.")] = "latest",
    restarts: Annotated[int, typer.Option(help="Random starting latents per picture (the best is kept).")] = 4,
    steps: Annotated[int, typer.Option(help="Optimisation steps per projection.")] = 200,
    references: Annotated[int, typer.Option(help="Reference pictures on each side of the calibration (cached per run).")] = 16,
    reference_run: Annotated[list[Path] | None, typer.Option("--reference-run", help="Another run whose samples count as 'not this model' in the calibration (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the reconstructions (default: beside each picture).")] = None,
    device: Annotated[str, typer.Option(help="cpu, auto, cuda or cuda:N.")] = "cpu",
) -> None:
    """Tom White's test: project each picture into the run's generator and score how well it can be made again."""
    from rich.table import Table

    from belamy.attribute import attribute_images

    results, calibration = attribute_images(images, run, checkpoint=checkpoint, restarts=restarts, steps=steps,
                                            references=references, reference_runs=reference_run or [], out=out,
                                            device=device)
    table = Table(title=f"attribution to {run} (calibrated on {len(calibration.own)} own, {len(calibration.other)} other)")
    for column in ("image", "residual", "RMSE", "score", "verdict", "reconstruction"):
        table.add_column(column, justify="right" if column in ("residual", "RMSE", "score") else "left")
    for r in results:
        table.add_row(r.image.name, f"{r.residual:.4g}", f"{r.rmse:.1f}", f"{r.score:.3f}", r.verdict,
                      str(r.reconstruction or ""))
    console.print(table)
    for r in results:
        typer.echo(f"{r.image}\t{r.score:.4f}\t{r.residual:.6g}")
