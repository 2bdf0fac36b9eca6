"""The tasks `belamy train` runs, by the name an architecture registers (``Architecture.task``).

A new kind of training (e.g. image-to-image) is one task file that calls :func:`register_task` at its
bottom, plus one line in ``BUILTIN_MODULES`` (or a plug-in module, see :mod:`belamy.utils.plugins`).
A task's ``declares`` lists the dataclasses of the training options it reads (belamy.utils.declared).
"""

from __future__ import annotations

from collections.abc import Callable

from belamy.errors import BelamyError
from belamy.trainer.distributed import DistInfo
from belamy.trainer.task import Task
from belamy.utils.plugins import load_plugins

# One line per built-in task file (each registers its task when imported).
BUILTIN_MODULES = (
    "belamy.gan.task",
    "belamy.gan.pix2pix",
)
_TASKS: dict[str, Callable[..., Task]] = {}


def register_task(name: str, factory: Callable[..., Task]) -> None:
    """``factory(options, info)`` builds the task for a run of an architecture whose ``task`` is ``name``."""
    _TASKS[name] = factory


def task_options(name: str | None) -> tuple[type, ...]:
    """The options dataclasses the task ``name`` reads (none for a task belamy does not know)."""
    load_plugins()
    return tuple(getattr(_TASKS.get(name), "declares", ()))


def make_task(options, info: DistInfo) -> Task:
    from belamy.models.registry import get_architecture

    load_plugins()
    name = get_architecture(options.arch).task
    if name not in _TASKS:
        raise BelamyError(f"--arch {options.arch} is trained by a task belamy does not know ({name})",
                          "register it with belamy.gan.registry.register_task")
    return _TASKS[name](options, info)
