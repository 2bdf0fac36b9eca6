"""The `belamy` Typer application that every command group attaches its commands to, and its help pages."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup


def _paragraphs(text: str) -> list[str]:
    """A help text's paragraphs, each on one line: the console wraps them to its own width."""
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]


def _names(record: str) -> Text:
    """An option's names and value type as click writes them, the off switch of a flag on its own line."""
    text = Text("\n".join(record.split(" / ")))
    text.highlight_regex(r"(?<![\w-])--?\w[\w-]*", "bold cyan")
    text.highlight_regex(r"<[^>]*>", "yellow")
    return text


def _table(rows: list[list[Text]]) -> Table:
    """Every column but the last as wide as its widest cell and never cut; the last takes what is left and
    wraps, so a help page reads whole at 80 columns (a pipe, a CI log) as well as at 200."""
    table = Table.grid(padding=(0, 2), expand=True)
    for _ in rows[0][:-1]:
        table.add_column(no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _panel(title: str, rows: list[list[Text]]) -> Panel:
    return Panel(_table(rows), title=title, title_align="left", border_style="dim")


def _parameter_panels(command, ctx) -> list[Panel]:
    """The Arguments panel, then the Options panel, then any panel a parameter names (``rich_help_panel``)."""
    panels: dict[str, list] = {"Arguments": [], "Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)  # None for a hidden parameter
        if record is not None:
            title = getattr(param, "rich_help_panel", None) or f"{param.param_type_name.title()}s"
            panels.setdefault(title, []).append((param.required, *record))
    shown = []
    for title, params in panels.items():
        rows = [[_names(names), Text(help_text)] for _, names, help_text in params]
        if any(required for required, _, _ in params):  # the * column only where something is required
            rows = [[Text("*" if required else "", style="red"), *row] for (required, _, _), row in
                    zip(params, rows, strict=True)]
        if rows:
            shown.append(_panel(title, rows))
    return shown


def _commands_panel(group, ctx) -> Panel | None:
    rows = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            summary = _paragraphs(command.short_help or command.help or "")
            rows.append([Text(name, style="bold cyan"), Text(summary[0] if summary else "")])
    return _panel("Commands", rows) if rows else None


def print_help(command, ctx) -> None:
    """Usage, the command's help, its parameters and (for a group) its commands, at the console's width."""
    console = Console(highlight=False)
    console.print(Padding(Text(command.get_usage(ctx), style="bold"), 1))
    if command.help:
        console.print(Padding(Text("\n\n".join(_paragraphs(command.help))), (0, 1, 1, 1)))
    for panel in _parameter_panels(command, ctx):
        console.print(panel)
    if isinstance(command, TyperGroup) and (panel := _commands_panel(command, ctx)) is not None:
        console.print(panel)
    if command.epilog:
        console.print(Padding(Text("\n\n".join(_paragraphs(command.epilog))), 1))


def _help_as_flag(option):
    """``--help`` shown as the flag it is (typer labels it ``<bool>``)."""
    if option is not None:
        option.metavar = ""
    return option


class FlagHelpCommand(TyperCommand):
    """A belamy command: its help page never cuts an option's name, and shows help texts as written (nothing
    in them is read as Rich markup). A `FlagHelpGroup` makes every plain command it holds one."""

    def get_help_option(self, ctx):
        return _help_as_flag(super().get_help_option(ctx))

    def format_help(self, ctx, formatter) -> None:
        print_help(self, ctx)


class FlagHelpGroup(TyperGroup):
    """A belamy command group: its own help page and those of the commands it holds read as belamy's."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            self._adopt(command)

    def add_command(self, cmd, name=None) -> None:
        super().add_command(cmd, name)
        self._adopt(cmd)

    @staticmethod
    def _adopt(command) -> None:
        # Typer has no per-app command class (only `@app.command(cls=...)` per command), so the group that
        # holds a command gives it belamy's help; the subclasses only override methods (same layout).
        if type(command) is TyperGroup:
            command.__class__ = FlagHelpGroup
            for held in command.commands.values():
                FlagHelpGroup._adopt(held)
        elif type(command) is TyperCommand:
            command.__class__ = FlagHelpCommand

    def get_help_option(self, ctx):
        return _help_as_flag(super().get_help_option(ctx))

    def format_help(self, ctx, formatter) -> None:
        print_help(self, ctx)


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
