"""The tasks `belamy train` runs, by the name an architecture registers (``Architecture.task``).

A new kind of training (e.g. image-to-image) is one task file plus one line in ``BUILTIN_TASKS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from belamy.errors import BelamyError
from belamy.runs.distributed import DistInfo
from belamy.runs.task import Task

# task name -> "module:class" (imported only when a run of that task starts)
BUILTIN_TASKS = {
    "gan": "belamy.train.gan:GANTask",
}
_TASKS: dict[str, Callable[..., Task]] = {}


def register_task(name: str, factory: Callable[..., Task]) -> None:
    """``factory(options, info)`` builds the task for a run of an architecture whose ``task`` is ``name``."""
    _TASKS[name] = factory


def make_task(options, info: DistInfo) -> Task:
    from belamy.models.registry import get_architecture

    name = get_architecture(options.arch).task
    if name not in _TASKS and name in BUILTIN_TASKS:
        module, cls = BUILTIN_TASKS[name].split(":")
        register_task(name, getattr(importlib.import_module(module), cls))
    if name not in _TASKS:
        raise BelamyError(f"--arch {options.arch} is trained by a task belamy does not know ({name})",
                          "register it with belamy.train.tasks.register_task")
    return _TASKS[name](options, info)
