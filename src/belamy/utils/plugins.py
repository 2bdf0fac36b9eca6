"""Loading what registers architectures, losses and tasks: belamy's own modules, then the plug-ins.

Each registry lists its built-in modules in ``BUILTIN_MODULES`` (one line per file). Plug-ins are
modules named in ``BELAMY_PLUGINS`` (comma-separated, importable from sys.path / PYTHONPATH) and
those a package announces in the ``belamy.plugins`` entry-point group. They load after every
built-in one, once, the first time any registry is asked for a name (and when `belamy` starts).
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from belamy.errors import BelamyError

REGISTRIES = ("belamy.models.registry", "belamy.gan.losses", "belamy.gan.registry")
ENV = "BELAMY_PLUGINS"
GROUP = "belamy.plugins"

_state: dict = {"loaded": False, "error": None}


def load_plugins() -> None:
    """Import every built-in registering module, then the plug-ins; a plug-in that fails is one clear error
    (raised again on every later call, so that no command runs without it)."""
    if _state["error"] is not None:
        raise _state["error"]
    if _state["loaded"]:
        return
    _state["loaded"] = True  # before importing: a registering module may ask a registry for a name
    for registry in REGISTRIES:
        for module in importlib.import_module(registry).BUILTIN_MODULES:
            importlib.import_module(module)
    named = [name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip()]
    plugins = [(name, f"{ENV}={os.environ[ENV]}", lambda name=name: importlib.import_module(name)) for name in named]
    plugins += [(ep.value, f"the {GROUP} entry point {ep.name}", ep.load) for ep in entry_points(group=GROUP)]
    for name, where, load in plugins:
        try:
            load()
        except Exception as err:  # any failure of a plug-in's own code: one line naming it
            _state["error"] = BelamyError(f"the plug-in {name} (from {where}) does not load: {type(err).__name__}: {err}",
                                          f"fix it, or remove it from {ENV}" if where.startswith(ENV) else "fix or uninstall it")
            raise _state["error"] from None
