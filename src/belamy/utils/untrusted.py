"""One bounded reader for structures belamy did not write: JSON configs, records and keypoint files,
C2PA manifests, and what a restricted unpickler builds.

Each limit is checked *before* what it guards is built: a file's size before it is read, a JSON
text's nesting depth, element count and integer lengths before ``json`` parses it (Python's own
parser would recurse until RecursionError, or refuse a 5,000-digit number with a ValueError that
looks like a syntax error), a tensor's claimed storage before it is allocated. A structure built
of shared parts (a pickle's memo lets a few hundred bytes name a tree of 2³⁰ nodes) is weighed as
the tree it expands to, in time linear in its distinct parts, and a part that contains itself is
refused: code that walks, prints or compares it afterwards would never finish. Every refusal is
one :class:`UntrustedInput` line (exit 2).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from belamy.errors import BelamyError


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 16 << 20  # a JSON text (a pickle passes its own, larger, file limit)
    max_depth: int = 64  # nested containers
    max_elements: int = 1_000_000  # values in the whole structure, shared parts counted each time they appear
    max_int_digits: int = 100  # decimal digits of one integer (a PCG64 generator state has 39)
    max_hashable: int = 10_000  # values in one tuple or frozenset: hashing it visits every one, unshared
    max_storage_bytes: int = 8 << 30  # bytes one tensor may claim


DEFAULT = Limits()
# Documents that list a whole corpus (credits.json names every work: ~200 bytes and ~10 values each)
CORPUS_WIDE = Limits(max_bytes=512 << 20, max_elements=50_000_000)
HINT = "the file is damaged, or was made to exhaust memory: belamy will not read it"


class UntrustedInput(BelamyError):
    """A file exceeds one of the limits on untrusted structures."""


def refuse(what: str, problem: str, hint: str = HINT) -> UntrustedInput:
    return UntrustedInput(f"{what} {problem}", hint)


# ----------------------------------------------------------------------------- JSON


def read_bytes(path: str | os.PathLike, what: str, max_bytes: int = DEFAULT.max_bytes) -> bytes:
    """A file's bytes, refused by its size before any is read. ``OSError`` passes to the caller."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise refuse(what, f"is {size:,} bytes, over belamy's limit of {max_bytes:,}")
    with open(path, "rb") as fh:
        return fh.read(max_bytes + 1)


def read_json(path: str | os.PathLike, what: str, limits: Limits = DEFAULT, finite: bool = True) -> Any:
    """:func:`loads_json` of a file (its size checked first). ``OSError`` and syntax errors
    (``ValueError``) pass to the caller, which knows what to say about a missing or damaged file."""
    data = read_bytes(path, what, limits.max_bytes)
    return loads_json(data.decode("utf-8"), what, limits, finite)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def loads_json(text: str | bytes, what: str, limits: Limits = DEFAULT, finite: bool = True) -> Any:
    """``json.loads`` within ``limits``: refused before parsing when too long, too deep or with too
    many values; integers longer than ``max_int_digits`` and (with ``finite``) NaN, Infinity and
    numbers beyond float range refused as they are read. Syntax errors stay ``json.JSONDecodeError``."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    if len(text) > limits.max_bytes:
        raise refuse(what, f"is {len(text):,} characters, over belamy's limit of {limits.max_bytes:,}")
    _check_json_shape(text, what, limits)

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_int_digits:
            raise refuse(what, f"holds a {len(digits.lstrip('-')):,}-digit integer "
                               f"(belamy reads at most {limits.max_int_digits} digits)")
        return int(digits)

    def parse_float(digits: str) -> float:
        value = float(digits)
        if finite and not math.isfinite(value):
            raise refuse(what, f"holds {digits[:40]}, a number beyond float range", "give finite numbers")
        return value

    def parse_constant(name: str) -> float:
        if finite:
            raise refuse(what, f"holds {name}, which is not a number", "give finite numbers")
        return float(name)

    return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)


def _check_json_shape(text: str, what: str, limits: Limits) -> None:
    """Depth and value count of a JSON text from its brackets and commas outside strings (in C and numpy,
    never in a Python loop over characters)."""
    bare = _STRING.sub('""', text)
    brackets = bare.count("[") + bare.count("{")
    count = brackets + bare.count(",") + 1
    if count > limits.max_elements:
        raise refuse(what, f"holds about {count:,} values, over belamy's limit of {limits.max_elements:,}")
    if brackets <= limits.max_depth:  # cannot nest deeper than it has brackets (a JSON-lines record, say)
        return
    codes = np.frombuffer(bare.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    opens = (codes == ord("[")) | (codes == ord("{"))
    closes = (codes == ord("]")) | (codes == ord("}"))
    depth = int(np.cumsum(opens.astype(np.int64) - closes.astype(np.int64)).max())
    if depth > limits.max_depth:
        raise refuse(what, f"is nested {depth:,} levels deep, over belamy's limit of {limits.max_depth}")


# ----------------------------------------------------------------------------- built structures


def leaf_weight(value: Any) -> int:
    """What one value counts toward ``max_elements``: 1, plus one per 64 characters of text."""
    if isinstance(value, str | bytes | bytearray):
        return 1 + len(value) // 64
    return 1


def check_int(value: int, what: str, limits: Limits = DEFAULT) -> None:
    # bit_length is free; a decimal length would convert the number (quadratic, and refused above 4,300 digits)
    if value.bit_length() > limits.max_int_digits * 3.33 + 4:
        raise refuse(what, f"holds an integer of {value.bit_length():,} bits "
                           f"(belamy reads at most {limits.max_int_digits} digits)")


def _children(value: Any) -> tuple | list | None:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [getattr(value, f.name) for f in dataclasses.fields(value)]
    return None


def check_structure(root: Any, what: str, limits: Limits = DEFAULT, finite: bool = False) -> int:
    """Refuse ``root`` if it contains itself, nests deeper than ``max_depth``, expands (shared parts
    counted each time they appear) to more than ``max_elements`` values, or holds an integer longer
    than ``max_int_digits`` or a tensor claiming more than ``max_storage_bytes``. Returns the expanded
    count. Linear in the distinct objects; iterative (no recursion to exhaust)."""
    weights: dict[int, int] = {}
    on_path: set[int] = set()
    keep: list[Any] = []  # the ids in ``weights`` stay valid while their objects live
    stack: list[tuple[Any, int, bool]] = [(root, 0, False)]
    while stack:
        value, depth, done = stack.pop()
        key = id(value)
        if done:
            on_path.discard(key)
            weight = 1 + sum(weights[id(c)] for c in _children(value))
            if weight > limits.max_elements:
                raise refuse(what, f"expands to more than {limits.max_elements:,} values (shared parts repeated)")
            weights[key] = weight
            continue
        if key in weights:
            continue
        children = _children(value)
        if children is None:
            _check_leaf(value, what, limits, finite)
            weights[key] = leaf_weight(value)
            keep.append(value)
            continue
        if key in on_path:
            raise refuse(what, "contains itself (a structure that refers back to one of its own parts)")
        if depth >= limits.max_depth:
            raise refuse(what, f"is nested more than {limits.max_depth} levels deep")
        on_path.add(key)
        keep.append(value)
        stack.append((value, depth, True))
        stack.extend((c, depth + 1, False) for c in children)
    return weights[id(root)]


def _check_leaf(value: Any, what: str, limits: Limits, finite: bool) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        check_int(value, what, limits)
    elif isinstance(value, float) and finite and not math.isfinite(value):
        raise refuse(what, f"holds {value}, which is not a finite number", "give finite numbers")
    else:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.Tensor):
            check_tensor_claim(tuple(value.shape), tuple(value.stride()), value.storage_offset(),
                               value.element_size(), value.untyped_storage().nbytes(), what, limits)


def check_tensor_claim(size: tuple, stride: tuple, offset: int, itemsize: int, storage_bytes: int, what: str,
                       limits: Limits = DEFAULT) -> int:
    """Refuse a tensor whose shape claims more than its storage holds (a zero or overlapping stride
    makes a few bytes look like gigabytes, which any copy then allocates), or more than
    ``max_storage_bytes``; checked on the numbers alone, before anything exists. Returns the element count."""
    if len(size) != len(stride) or len(size) > 64:
        raise refuse(what, f"holds a tensor with {len(size)} sizes and {len(stride)} strides")
    for n in (*size, *stride, offset):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0 or n.bit_length() > 62:
            raise refuse(what, f"holds a tensor with a size, stride or offset of {str(n)[:40]}")
    numel = math.prod(size)
    if numel * itemsize > limits.max_storage_bytes:
        raise refuse(what, f"holds a tensor claiming {numel * itemsize:,} bytes, over belamy's limit of "
                           f"{limits.max_storage_bytes:,}")
    extent = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1 if numel else 0
    if numel and (extent * itemsize > storage_bytes or numel * itemsize > storage_bytes):
        raise refuse(what, f"holds a tensor of {numel:,} values over a storage of {storage_bytes // itemsize:,} "
                           "(a zero or overlapping stride)")
    return numel
