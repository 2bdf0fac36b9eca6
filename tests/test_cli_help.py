"""Every `--help` page reads whole at 80 columns (a pipe, a CI log, a narrow terminal): no option name cut
short, no line wider than the terminal, every word of every help text shown, and no `<bool>` on a flag.

The pages are found by walking the real CLI's Click tree, so a new command or group is covered as it lands.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer
from rich.cells import cell_len
from typer.testing import CliRunner

from belamy.cli import app


def all_commands(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():  # a group (typer vendors its own click)
        yield from all_commands(sub, (*path, name))


def shown_params(command):
    ctx = command.make_context("belamy", [], resilient_parsing=True)  # as --help builds it, with -h/--help
    return [param for param in command.get_params(ctx) if not getattr(param, "hidden", False)]


@pytest.fixture(scope="module")
def pages_at_80() -> dict[tuple[str, ...], tuple[object, str]]:
    runner = CliRunner()
    pages = {}
    for path, command in all_commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, prog_name="belamy")
        assert result.exit_code == 0, f"belamy {' '.join(path)} --help: {result.output}"
        pages[path] = (command, result.output)
    assert {(), ("train",), ("print",), ("corpus", "build"), ("sr", "train")} <= set(pages)
    return pages


def test_no_help_page_is_wider_than_80_columns_or_cuts_an_option_name(pages_at_80):
    problems = []
    for path, (command, page) in pages_at_80.items():
        where = f"belamy {' '.join(path)}".strip()
        problems += [f"{where}: {cell_len(line)} wide: {line}" for line in page.splitlines() if cell_len(line) > 80]
        problems += [f"{where}: cut short: {line}" for line in page.splitlines() if "…" in line]
        for param in shown_params(command):
            for name in (*param.opts, *param.secondary_opts) if param.param_type_name == "option" else ():
                if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", page):
                    problems.append(f"{where}: {name} is not shown whole")
    assert not problems, "\n".join(problems)


def test_every_word_of_every_help_text_shows(pages_at_80):
    # Nothing is read as markup or dropped: `[...]` in a help text once vanished (Rich took it for a tag).
    missing = []
    for path, (command, page) in pages_at_80.items():
        texts = [("", command.help or "")] + [(param.name, getattr(param, "help", None) or "")
                                             for param in shown_params(command)]
        for name, text in texts:
            lost = [word for word in text.split() if word not in page]
            if lost:
                missing.append(f"belamy {' '.join(path)} {name}: {lost} of {text!r}")
    assert not missing, "\n".join(missing)


def test_no_flag_pretends_to_take_a_value(pages_at_80):
    shown = [f"belamy {' '.join(path)}: {line}" for path, (_, page) in pages_at_80.items()
             for line in page.splitlines() if "<bool>" in line]
    assert not shown, "\n".join(shown)


def test_help_in_a_pipe_is_80_columns_and_keeps_option_names_whole():
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    page = subprocess.run([sys.executable, "-m", "belamy", "train", "--help"], capture_output=True, text=True,
                          env=env, check=True).stdout
    assert max(cell_len(line) for line in page.splitlines()) == 80
    assert "--checkpoint-minutes <float>" in page and "--no-channels-last" in page and "…" not in page
