"""The `belamy` command: parses arguments and calls the library, nothing more.

Every command is a thin wrapper over a function a user can call from Python. One module per
command group; each attaches its commands to the one ``app``.
"""

from __future__ import annotations

import importlib
import os
import sys

from rich.text import Text

from belamy.cli.app import app
from belamy.errors import BelamyError, one_line
from belamy.utils.progress import console

# The command groups in the order of the pipeline (--help lists the commands so); each attaches its own.
GROUPS = ("corpus", "train", "generate", "curate", "print", "provenance", "exhibit")
for _group in GROUPS:
    importlib.import_module(f"belamy.cli.{_group}")


def main() -> None:
    from belamy.utils.plugins import load_plugins

    try:
        load_plugins()  # a plug-in that does not load is one line, whatever the command
        app()
    except BelamyError as err:
        console.print(Text.assemble(("error: ", "bold red"), str(err)), soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as err:  # a bug: one line for the user, the traceback on request
        if os.environ.get("BELAMY_DEBUG"):
            raise
        message = f"{type(err).__name__}: {one_line(str(err))} (set BELAMY_DEBUG=1 for the traceback)"
        console.print(Text.assemble(("internal error: ", "bold red"), message), soft_wrap=True)
        sys.exit(1)


__all__ = ["app", "main"]
