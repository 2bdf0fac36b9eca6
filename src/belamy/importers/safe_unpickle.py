"""A restricted unpickler for NVlabs network pickles: data only, never code.

StyleGAN2-ADA's ``.pkl`` files hold ``torch_utils.persistence`` objects: each carries the Python
source of its module, which a normal ``pickle.load`` *executes* (``exec``) to rebuild the class. A
model downloaded from a forum could run anything. Here every global the pickle names is looked up
in a short allowlist of harmless builders (an ordered dict, a set, numeric numpy scalars, tensors
from raw bytes); a persistent object becomes a :class:`PersistentObject`: its class name, its
constructor arguments and its state (parameters, buffers, submodules), with its source kept as an
inert string. Anything else stops the load with one clear line.

Tensors inside such pickles are ``torch.save`` blobs of the legacy format (one storage each); they
are read here too, by a reader that accepts only storage records and raw little-endian numbers.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from belamy.errors import BelamyError


class RefusedPickle(BelamyError):
    """The pickle asks for something this loader does not build."""


@dataclass
class PersistentObject:
    """A ``torch_utils.persistence`` object, rebuilt as data: nothing from its source ever runs."""

    class_name: str
    state: dict
    source_length: int = 0
    init_args: tuple = ()
    init_kwargs: dict = field(default_factory=dict)

    def modules(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})

    def module(self, name: str) -> Any:
        return self.modules().get(name)

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this object and its submodules, as ``state_dict`` names."""
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for kind in ("_parameters", "_buffers"):
            for name, value in (self.state.get(kind) or {}).items():
                if value is not None and name not in skip:
                    if not torch.is_tensor(value):
                        raise RefusedPickle(f"{prefix}{name} is not a tensor", "this is not a StyleGAN2-ADA network pickle")
                    out[prefix + name] = value
        for name, child in self.modules().items():
            if child is None:
                continue
            if not isinstance(child, PersistentObject):
                raise RefusedPickle(f"submodule {prefix}{name} is not a network layer", "this is not a StyleGAN2-ADA network pickle")
            out.update(child.tensors(f"{prefix}{name}."))
        return out


class EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict`` (a dict with attribute access): here a plain dict."""


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise RefusedPickle("a persistent object of an unknown kind", "this is not a StyleGAN2-ADA network pickle")
    state = meta.get("state")
    name = meta.get("class_name")
    if not isinstance(state, dict) or not isinstance(name, str):
        raise RefusedPickle("a persistent object without a class name or state", "the file may be damaged")
    src = meta.get("module_src")
    args = state.get("_init_args", ())
    kwargs = state.get("_init_kwargs", {})
    return PersistentObject(class_name=name, state=state, source_length=len(src) if isinstance(src, str) else 0,
                            init_args=tuple(args) if isinstance(args, tuple | list) else (),
                            init_kwargs=dict(kwargs) if isinstance(kwargs, dict) else {})


_NUMERIC_KINDS = "biufc"


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar`` for numbers only (an object-dtype scalar could smuggle anything)."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not isinstance(data, bytes):
        raise RefusedPickle("a numpy value that is not a plain number", "this is not a StyleGAN2-ADA network pickle")
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


def _numpy_dtype(name: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(name, str):
        raise RefusedPickle("a numpy dtype given by something else than its name", "the file may be damaged")
    dtype = np.dtype(name, copy=True)  # a copy: the pickle may go on to set its state
    if dtype.kind not in _NUMERIC_KINDS:
        raise RefusedPickle(f"a numpy dtype {name!r} that is not numeric", "this is not a StyleGAN2-ADA network pickle")
    return dtype


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
        raise RefusedPickle("a tensor without its storage", "the file may be damaged")
    try:
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        offset = int(storage_offset)
        if size and (offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True) if n) >= storage.numel()):
            raise ValueError("tensor larger than its storage")
        return torch.as_strided(storage, size, stride, offset).clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise RefusedPickle(f"a tensor that does not fit its storage ({exc})", "the file may be damaged") from None


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> torch.Tensor:
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None, state: Any = None) -> torch.Tensor:
    if not torch.is_tensor(data):
        raise RefusedPickle("a parameter without a tensor", "the file may be damaged")
    return data


class NumpyArray:
    """A pickled ``numpy.ndarray`` of plain numbers (StyleGAN3 layers keep their sizes in small arrays),
    rebuilt as data: its dtype must be numeric and its bytes must fill its shape exactly."""

    array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        try:
            _, shape, dtype, fortran, raw = state
            shape = tuple(int(n) for n in shape)
        except (TypeError, ValueError):
            raise RefusedPickle("a numpy array with a malformed state", "the file may be damaged") from None
        if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not isinstance(raw, bytes) \
                or any(n < 0 for n in shape) or math.prod(shape) * dtype.itemsize != len(raw):
            raise RefusedPickle("a numpy array that is not plain numbers filling its shape", "the file may be damaged")
        self.array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


def _numpy_reconstruct(subtype: Any, shape: Any, dtype: Any) -> NumpyArray:
    if subtype is not _NDARRAY:
        raise RefusedPickle("a numpy array of an unexpected type", "this is not a StyleGAN2-ADA network pickle")
    return NumpyArray()


class _TensorType:
    """``torch.Tensor`` / ``torch.nn.Parameter`` named in a pickle: a marker, never the class (calling
    the class from a pickle could allocate any amount of memory)."""


_TENSOR, _PARAMETER, _NDARRAY = _TensorType(), _TensorType(), _TensorType()


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    if func not in (_rebuild_tensor_v2, _rebuild_parameter) or new_type not in (_TENSOR, _PARAMETER):
        raise RefusedPickle("a tensor of an unexpected type", "this is not a StyleGAN2-ADA network pickle")
    if state:
        raise RefusedPickle("a tensor carrying extra Python state", "this is not a StyleGAN2-ADA network pickle")
    return func(*args)


# Legacy ``torch.save`` storages: element types by the class name pickled in the record.
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _STORAGE_DTYPES[name]


class _LegacyUnpickler(pickle.Unpickler):
    """The small pickles inside a legacy ``torch.save`` blob: numbers, strings and storage records."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise RefusedPickle(f"a tensor blob names {module}.{name}", "this is not a StyleGAN2-ADA network pickle")

    def persistent_load(self, pid: Any) -> Any:
        if (not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage" or not isinstance(pid[1], _StorageType)
                or not isinstance(pid[2], str) or not isinstance(pid[4], int)):
            raise RefusedPickle("a tensor blob with an unknown record", "the file may be damaged")
        return pid


def _load_from_bytes(blob: Any) -> torch.Tensor:
    """One storage from a legacy ``torch.save`` blob, as a flat tensor of its element type."""
    if not isinstance(blob, bytes | bytearray):
        raise RefusedPickle("a tensor blob that is not bytes", "the file may be damaged")
    if isinstance(blob, bytearray):
        blob = bytes(blob)
    f = io.BytesIO(blob)
    try:
        if _LegacyUnpickler(f).load() != _LEGACY_MAGIC or _LegacyUnpickler(f).load() != 1001:
            raise RefusedPickle("a tensor blob in an unknown format", "the file may be damaged")
        info = _LegacyUnpickler(f).load()
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise RefusedPickle("a tensor blob from a big-endian machine", "re-save the model on a little-endian machine")
        record = _LegacyUnpickler(f).load()
        keys = _LegacyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as exc:
        raise RefusedPickle(f"a damaged tensor blob ({exc})", "the file may be truncated or corrupt") from None
    if not isinstance(record, tuple) or not isinstance(keys, list) or keys != [record[2]]:
        raise RefusedPickle("a tensor blob that is not one storage", "this is not a StyleGAN2-ADA network pickle")
    dtype = record[1].dtype
    header = f.read(8)
    if len(header) != 8:
        raise RefusedPickle("a truncated tensor blob", "the file may be truncated")
    numel = struct.unpack("<q", header)[0]
    itemsize = torch.empty((), dtype=dtype).element_size()
    data = f.read(numel * itemsize) if numel >= 0 else b""
    if numel < 0 or len(data) != numel * itemsize:
        raise RefusedPickle("a truncated tensor blob", "the file may be truncated")
    flat = torch.frombuffer(bytearray(data), dtype=dtype) if numel else torch.empty(0, dtype=dtype)
    view = record[5]
    if view is not None:  # very old torch: a view into a shared storage (offset, size in elements)
        try:
            _, offset, size = view
            flat = flat[int(offset): int(offset) + int(size)]
        except (TypeError, ValueError):
            raise RefusedPickle("a tensor blob with a bad view", "the file may be damaged") from None
    return flat


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TENSOR,
    ("torch.nn.parameter", "Parameter"): _PARAMETER,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            hint = "only StyleGAN2-ADA network pickles (data, no code) are imported"
            if module.startswith("dnnlib.tflib"):
                hint = "this is a TensorFlow StyleGAN pickle: convert it with stylegan2-ada-pytorch's legacy.py first"
            raise RefusedPickle(f"the pickle asks for {module}.{name}, which belamy does not load", hint) from None

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedPickle("the pickle refers to data outside itself", "this is not a StyleGAN2-ADA network pickle")


def restricted_load(f: io.BufferedIOBase) -> Any:
    """Unpickle ``f`` with :class:`RestrictedUnpickler`: damaged or foreign input is one clear error."""
    try:
        return RestrictedUnpickler(f).load()
    except RefusedPickle:
        raise
    except (pickle.UnpicklingError, EOFError) as exc:
        raise RefusedPickle(f"the pickle is damaged or truncated ({exc})", "download or copy the file again") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, MemoryError, struct.error) as exc:
        raise RefusedPickle(f"the pickle is malformed ({type(exc).__name__}: {exc})",
                            "is it a StyleGAN2-ADA network pickle?") from None
