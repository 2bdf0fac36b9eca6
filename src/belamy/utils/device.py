"""Choosing the device a user asked for, with a clear error when it is not there."""

from __future__ import annotations

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
