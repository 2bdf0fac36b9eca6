"""The `belamy` Typer application that every command group attaches its commands to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="belamy",
    help="A GAN art studio: corpus -> train -> generate -> curate -> upscale -> sign and print -> exhibit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
