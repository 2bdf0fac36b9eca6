"""Options declared by what reads them: fields of a small dataclass, with their help, check and resume rule.

An architecture, a loss or a task lists the dataclasses of the options it reads, each field made
with :func:`option`. ``belamy train``'s flags, run.json's options, the refusal of an option the
chosen architecture and loss never read, and the model config are derived from those declarations
(see :mod:`belamy.gan.options`). One name is one flag: owners that read the same option share
the dataclass that declares it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from belamy.errors import BelamyError

_KEY = "belamy.option"


@dataclass(frozen=True)
class Declared:
    """One declared option: what its flag says and how its value is checked, filled and kept."""

    name: str
    type: type  # int, float, bool or str
    default: Any  # a new run's value when not given (None: the model config's own default, or off)
    help: str
    check: Callable[[Any], bool] | None = None  # True for a valid value (it is already of the right type)
    hint: str = ""  # how to fix an invalid value
    choices: tuple[str, ...] = ()
    derive: Callable[[Any], Any] | None = None  # a default computed from the run's other options
    fixed: bool = True  # kept from run.json on --resume (given again, it must agree)
    shape: bool = False  # sets the networks' shapes (checked against a --init source)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def default_for(self, run, default: Any = None) -> Any:
        """The value a new run takes: ``default`` (e.g. an architecture's own) or the declared one;
        either may be a callable of the run's options."""
        value = default if default is not None else (self.derive or self.default)
        return value(run) if callable(value) else value

    def validate(self, value: Any) -> None:
        """One clear line for a value that cannot work (None, not given, always can)."""
        if value is None:
            return
        if self.type is bool:
            ok = isinstance(value, bool)
        elif self.type in (int, float):
            ok = (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                  and (self.type is float or value == int(value)))
        else:
            ok = isinstance(value, str) and (not self.choices or value in self.choices)
        if not (ok and (self.check is None or self.check(value))):
            hint = self.hint or (f"use one of {', '.join(self.choices)}" if self.choices else f"give a {self.type.__name__}")
            raise BelamyError(f"{self.flag} {value} is not valid", hint)


def option(default: Any = None, *, help: str, check: Callable[[Any], bool] | None = None, hint: str = "",
           choices: tuple[str, ...] = (), derive: Callable[[Any], Any] | None = None, fixed: bool = True,
           shape: bool = False) -> Any:
    """A field of an options dataclass (see :class:`Declared` for what each argument means)."""
    info = dict(help=help, check=check, hint=hint, choices=choices, derive=derive, fixed=fixed, shape=shape)
    return dataclasses.field(default=default, metadata={_KEY: info})


def declarations(*classes: type) -> dict[str, Declared]:
    """The options the dataclasses ``classes`` declare, by name, in order (a name declared twice is one option)."""
    found: dict[str, Declared] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name not in found and _KEY in f.metadata:
                found[f.name] = Declared(f.name, _value_type(hints[f.name]), f.default, **f.metadata[_KEY])
    return found


def _value_type(hint: Any) -> type:
    """``int | None`` -> int."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint
