"""The `belamy` Typer application that every command group attaches its commands to."""

from __future__ import annotations

import typer
from typer.core import TyperGroup


class FlagHelpGroup(TyperGroup):
    """A command group whose ``--help`` is shown as the flag it is (Typer labels it ``<bool>``)."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


app = typer.Typer(
    name="belamy",
    cls=FlagHelpGroup,
    help="A GAN art studio: corpus -> train -> generate -> curate -> upscale -> sign and print -> exhibit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def global_options(
    unsigned: bool = typer.Option(False, "--unsigned", metavar="",
                                  help="Write files without content credentials, even where a signing identity exists (as BELAMY_KEYS=none)."),
) -> None:
    if unsigned:
        from belamy.provenance.keys import write_unsigned

        write_unsigned()
