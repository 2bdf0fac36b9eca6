"""`belamy studio` and `belamy rank`: choosing among the candidates."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from belamy.cli.app import app
from belamy.utils.progress import console


@app.command("studio")
def studio_cmd(
    root: Annotated[Path, typer.Option("--root", help="Folder holding runs (with run.json) and candidates/; the decisions database lives here.")] = Path("."),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8700,
    host: Annotated[str, typer.Option("--host", help="Address to bind. Anything but loopback requires the access token it prints.")] = "127.0.0.1",
    retrain_every: Annotated[int, typer.Option(help="Retrain the taste after this many new decisions.")] = 10,
    device: Annotated[str, typer.Option(help="Device for generating candidates: auto, cpu, cuda or cuda:N.")] = "auto",
    classifier: Annotated[Path | None, typer.Option(help="A style classifier (`belamy classify train`): every candidate shows its style posterior (CAN runs show their own without one).")] = None,
) -> None:
    """Serve the studio: watch training, swipe through candidates, let the model learn your taste."""
    from belamy.studio.server import serve

    serve(root, host=host, port=port, retrain_every=retrain_every, device=device, classifier=classifier)


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
