"""`--help` shows every help text whole: Rich reads ``[...]`` as markup and silently drops it."""

from __future__ import annotations

import click
import typer
from rich.markup import render

from belamy.cli import app

# The train commands' help is being rewritten with the run skeleton; this one is reported there.
KNOWN = {("train", "ada_target")}


def all_commands(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from all_commands(sub, (*path, name))


def test_no_help_text_loses_words_to_rich_markup():
    eaten = []
    for path, command in all_commands(typer.main.get_command(app)):
        texts = [("", command.help or "")] + [(p.name, getattr(p, "help", None) or "") for p in command.params]
        for name, text in texts:
            if render(text).plain != text and (" ".join(path), name) not in KNOWN:
                eaten.append(f"{' '.join(path) or 'belamy'} {name}: {text!r} shows as {render(text).plain!r}")
    assert not eaten, "\n".join(eaten)
