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
