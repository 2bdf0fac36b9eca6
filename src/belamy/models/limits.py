"""What a model config may ask for, checked before anything is allocated.

Configs are read back from checkpoint JSON, which may be damaged, edited or hostile. Every value is
checked for its type and range, and the parameter count the whole config implies (worked out by
arithmetic, before any layer exists) against :data:`MAX_PARAMETERS`: a width of 300,000 or a latent
size of 1e9 is one clear line, not a terabyte allocation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from belamy.errors import BelamyError

# Per network: 1 GB of float32 weights. StyleGAN2 config-f's generator has 30 M, Real-ESRGAN 17 M.
MAX_PARAMETERS = 250_000_000
MAX_CLASSES = 10_000
HINT = "the file it came from is damaged or was edited: use another checkpoint (or export)"


def _bad(what: str, name: str, value: Any, expected: str) -> BelamyError:
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return BelamyError(f"{what}: {name} = {shown} is not valid (expected {expected})", HINT)


def config_dict(data: Any, what: str = "model config") -> dict:
    """``data`` itself when it is a JSON object; a clear error for a list, a string, null ..."""
    if not isinstance(data, dict):
        raise BelamyError(f"{what} is a {type(data).__name__}, not an object", HINT)
    return data


def whole(name: str, value: Any, low: int | None = None, high: int | None = None,
          what: str = "model config") -> int:
    """An int in [low, high] (when given): not a bool, a float (even 4.0), a string or a list."""
    expected = "a whole number" + (f" from {low} to {high}" if low is not None else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(what, name, value, expected)
    if low is not None and not low <= value <= high:
        raise _bad(what, name, value, expected)
    return value


def power_of_two(name: str, value: Any, low: int, high: int, what: str = "model config") -> int:
    whole(name, value, low, high, what)
    if value & (value - 1):
        raise _bad(what, name, value, f"a power of two from {low} to {high}")
    return value


def number(name: str, value: Any, low: float, high: float, what: str = "model config",
           allow_none: bool = False) -> float | None:
    """A finite int or float in [low, high] (NaN and infinities refused); None only if allowed."""
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) \
        and low <= value <= high
    if not ok:
        raise _bad(what, name, value, f"a number from {low:g} to {high:g}" + (" or null" if allow_none else ""))
    return value


def choice(name: str, value: Any, choices: Iterable[str], what: str = "model config") -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise _bad(what, name, value, "one of " + ", ".join(choices))
    return value


def names(name: str, value: Any, max_count: int = MAX_CLASSES, what: str = "model config") -> tuple[str, ...]:
    """A list of short strings (class names), as a tuple."""
    if not isinstance(value, list | tuple) or len(value) > max_count \
            or not all(isinstance(v, str) and len(v) <= 200 for v in value):
        raise _bad(what, name, value, f"a list of at most {max_count} names")
    return tuple(value)


def check_parameters(what: str, count: int, limit: int = MAX_PARAMETERS) -> None:
    """One clear line when a network would have more than ``limit`` parameters.

    ``count`` is worked out from the config by arithmetic (the main weight tensors: a lower bound on
    the real count), never by building the network: that would allocate what we are guarding against,
    and even shape-only ("meta") construction costs seconds of imports.
    """
    if count > limit:
        raise BelamyError(
            f"this {what} would have at least {count:,} parameters ({count * 4 / 2**30:,.1f} GB), "
            f"over belamy's limit of {limit:,}",
            "use smaller widths or a lower resolution; a checkpoint asking for this is damaged or was edited")


_FIRST_MISMATCH = re.compile(r"size mismatch for ([^:]+): copying a param with shape torch\.Size\((\[[^\]]*\])\) "
                             r"from checkpoint, the shape in current model is torch\.Size\((\[[^\]]*\])\)")


def load_error_line(exc: BaseException) -> str:
    """PyTorch's many-line ``load_state_dict`` error as one line naming the first mismatching tensor."""
    text = str(exc)
    match = _FIRST_MISMATCH.search(text)
    problems = text.count("size mismatch for") + text.count("Missing key(s)") + text.count("Unexpected key(s)")
    more = f" (and {problems - 1} more problem(s))" if problems > 1 else ""
    if match:
        name, given, expected = match.groups()
        return f"first mismatch: {name} is {given} in the file, the network expects {expected}{more}"
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("Missing key(s)", "Unexpected key(s)")):
            head, _, keys = line.partition(":")
            first = keys.strip().split(",")[0].strip().strip('".')
            return f"first mismatch: {head.lower()} {first}{more}"
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first_line[:200]
