"""Choosing the device and the precision a user asked for, with a clear error when either is not there."""

from __future__ import annotations

import contextlib

import torch

from belamy.errors import BelamyError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise BelamyError(f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BelamyError("CUDA was asked for but no GPU is available", "use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BelamyError(f"no GPU {device.index}: this machine has {torch.cuda.device_count()}", "use cuda:0")
    elif device.type != "cpu":
        raise BelamyError(f"device {name!r} is not supported", "use auto, cpu, cuda or cuda:N")
    return device


def cpu_supports_bf16() -> bool:
    """AMX or AVX-512 BF16: the CPUs on which bf16 autocast is faster, not slower, than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--precision`` (None = fp32)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise BelamyError("--precision fp16 needs a GPU", "use bf16 or fp32 on a CPU")
        return torch.float16
    # auto
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_supports_bf16() else None


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """Mixed precision where asked for (bf16 runs on AMX CPUs and recent GPUs); a no-op for fp32."""
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
