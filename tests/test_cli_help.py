"""`--help` shows every help text whole: Rich reads ``[...]`` as markup and silently drops it."""

from __future__ import annotations

import typer
from rich.markup import render

from belamy.cli import app


def all_commands(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():  # a group (typer vendors its own click)
        yield from all_commands(sub, (*path, name))


def test_no_help_text_loses_words_to_rich_markup():
    eaten = []
    commands = list(all_commands(typer.main.get_command(app)))
    assert {("print",), ("train",), ("corpus", "build"), ("sr", "train")} <= {path for path, _ in commands}
    for path, command in commands:
        texts = [("", command.help or "")] + [(p.name, getattr(p, "help", None) or "") for p in command.params]
        for name, text in texts:
            if render(text).plain != text:
                eaten.append(f"{' '.join(path) or 'belamy'} {name}: {text!r} shows as {render(text).plain!r}")
    assert not eaten, "\n".join(eaten)


def test_plain_flags_do_not_pretend_to_take_a_value():
    from typer.testing import CliRunner

    runner = CliRunner()
    for path, command in all_commands(typer.main.get_command(app)):
        group = bool(getattr(command, "commands", None))
        text = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
        # A group's page (`belamy --help` first) shows no <bool> at all; a command's own --help line is typer's.
        shown = [line for line in text.splitlines() if "<bool>" in line and (group or "--help" not in line)]
        assert not shown, f"{' '.join(path) or 'belamy'}: {shown}"
