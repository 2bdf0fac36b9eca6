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

import _compat_pickle
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
from belamy.utils import untrusted


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
    if not all(isinstance(v, tuple | list) for v in (size, stride)) or not isinstance(storage_offset, int):
        raise RefusedPickle("a tensor whose size, stride or offset are not numbers", "the file may be damaged")
    # the claim is checked on the numbers: a zero stride makes a few bytes look like gigabytes, which clone() allocates
    untrusted.check_tensor_claim(tuple(size), tuple(stride), storage_offset, storage.element_size(),
                                 storage.numel() * storage.element_size(), "the pickle", PICKLE_LIMITS)
    try:
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        offset = int(storage_offset)
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


# A real network pickle is hundreds of MB of tensor bytes around a small tree of modules.
PICKLE_LIMITS = untrusted.Limits(max_bytes=4 << 30, max_depth=100, max_elements=2_000_000)


class _BoundedFile:
    """The file a pickle is read from, refusing any read past its end *before* it happens: a pickle may
    claim a length (of bytes, a frame, a bytearray) that would otherwise be allocated first."""

    def __init__(self, f: io.BufferedIOBase):
        start = f.tell()
        self.left = f.seek(0, io.SEEK_END) - start
        f.seek(start)
        if self.left > PICKLE_LIMITS.max_bytes:
            raise untrusted.refuse("the pickle", f"is {self.left:,} bytes, over belamy's limit of {PICKLE_LIMITS.max_bytes:,}")
        self.f = f

    def read(self, n: int = -1) -> bytes:
        if n > self.left:
            raise RefusedPickle(f"the pickle claims {n:,} bytes where {self.left:,} are left", "the file may be truncated or corrupt")
        data = self.f.read(self.left if n < 0 else n)
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.f.readline()
        self.left -= len(data)
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _CountingUnpickler(pickle._Unpickler):  # the Python unpickler: its opcodes can be watched
    """Weighs each tuple and frozenset as it is built (hashing one visits every value in it, unshared:
    a dict key or set member built of shared tuples hangs the load), and refuses a bytearray whose
    claimed length is not in the file before it is allocated."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, f: io.BufferedIOBase, **kwargs: Any):
        self._file = _BoundedFile(f)
        self._weights: dict[int, tuple[Any, int]] = {}
        super().__init__(self._file, **kwargs)

    def _weigh_top(self) -> None:
        value = self.stack[-1]
        if type(value) in (tuple, frozenset) and id(value) not in self._weights:
            # a leaf counts one however long: hashing bytes reads them once, and caches the hash
            weight = 1 + sum(self._weights[id(v)][1] if id(v) in self._weights else 1 for v in value)
            if weight > PICKLE_LIMITS.max_hashable:
                raise untrusted.refuse("the pickle", f"builds a tuple or set of more than "
                                                     f"{PICKLE_LIMITS.max_hashable:,} values (shared parts repeated)")
            self._weights[id(value)] = (value, weight)

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        if n > self._file.left:
            raise RefusedPickle(f"the pickle claims a {n:,}-byte array where {self._file.left:,} bytes are left",
                                "the file may be truncated or corrupt")
        self.append(bytearray(self.read(n)))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _weighed(load):
    def load_and_weigh(self):
        load(self)
        self._weigh_top()
    return load_and_weigh


for _op in (pickle.TUPLE, pickle.EMPTY_TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3, pickle.FROZENSET,
            pickle.REDUCE):
    _CountingUnpickler.dispatch[_op[0]] = _weighed(_CountingUnpickler.dispatch[_op[0]])


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _STORAGE_DTYPES[name]


class _LegacyUnpickler(_CountingUnpickler):
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


def _latin1_bytes(text: Any, encoding: Any = None) -> bytes:
    """``_codecs.encode(text, 'latin1')``: how a protocol-2 pickle writes bytes (raw tensor data among them)."""
    if not isinstance(text, str) or encoding != "latin1":
        raise RefusedPickle("an encoding call that is not bytes written by pickle protocol 2", "the file may be damaged")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``: protocol 2's empty bytes (any argument could ask for any amount of memory)."""
    if args:
        raise RefusedPickle("a bytes call with arguments", "the file may be damaged")
    return b""


_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_bytes,
    ("builtins", "bytes"): _empty_bytes,
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


class RestrictedUnpickler(_CountingUnpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 pickles name Python 2's modules (__builtin__.set): read them as pickle itself does.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
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
        data = RestrictedUnpickler(f).load()
    except (RefusedPickle, untrusted.UntrustedInput):
        raise
    except RecursionError:
        raise untrusted.refuse("the pickle", "is nested too deeply to read") from None
    except (pickle.UnpicklingError, EOFError) as exc:
        raise RefusedPickle(f"the pickle is damaged or truncated ({exc})", "download or copy the file again") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, MemoryError, struct.error) as exc:
        raise RefusedPickle(f"the pickle is malformed ({type(exc).__name__}: {exc})",
                            "is it a StyleGAN2-ADA network pickle?") from None
    untrusted.check_structure(data, "the pickle", PICKLE_LIMITS)  # before anything walks, prints or compares it
    return data
