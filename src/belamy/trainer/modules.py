"""The one way to load "this network of this run": generator, average, discriminator or SR model.

Every reader of checkpoints (generate, distill's teacher, the taste model's features, upscale)
goes through :func:`load_module`, so a registered architecture is loadable everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from belamy.errors import BelamyError
from belamy.models.registry import Architecture, get_architecture
from belamy.trainer import checkpoint as ck
from belamy.utils.device import resolve_device
from belamy.utils.imageio import file_sha256


@dataclass
class LoadedModule:
    module: nn.Module  # in eval mode, frozen, on ``device``
    prefix: str  # which of the checkpoint's networks it is: G_ema, G, D, ...
    arch: Architecture
    cfg: object
    checkpoint_path: Path  # the checkpoint's JSON
    device: torch.device
    meta: dict = field(default_factory=dict, repr=False)

    @property
    def run_dir(self) -> Path:
        parent = self.checkpoint_path.parent
        return parent.parent if parent.name == "checkpoints" else parent

    @property
    def weights_path(self) -> Path:
        return self.checkpoint_path.with_suffix(".safetensors")

    def weights_sha256(self) -> str:
        return file_sha256(self.weights_path)


def load_module(run_or_ckpt: Path, which: str = "generator", checkpoint: str = "latest",
                device: str | torch.device = "auto", tensors_and_meta: tuple[dict, dict] | None = None,
                json_path: Path | None = None, missing_ok: bool = False) -> LoadedModule | None:
    """Load one network of a run.

    ``which``: ``generator`` (G_ema when the checkpoint has one, else G), ``G``, ``G_ema`` or
    ``discriminator`` (``D``). ``checkpoint``: latest, best, a kimg number or a file name.
    ``missing_ok``: None instead of an error when the checkpoint holds no such network.
    """
    json_path = json_path or ck.resolve_checkpoint(Path(run_or_ckpt), checkpoint)
    tensors, meta = tensors_and_meta or ck.load_checkpoint(json_path)
    arch_name = meta.get("arch")
    if not arch_name or not isinstance(arch_name, str) or "model" not in meta:
        raise BelamyError(f"{json_path.name} has no model description", "is it a belamy training checkpoint?")
    arch = get_architecture(arch_name)
    cfg = arch.config_from_dict(meta["model"])
    prefix = {"generator": "G_ema" if any(k.startswith("G_ema.") for k in tensors) else "G",
              "discriminator": "D"}.get(which, which)
    if not any(k.startswith(prefix + ".") for k in tensors):
        if missing_ok:
            return None
        raise BelamyError(f"{json_path.name} holds no {prefix} network", "use a training checkpoint, not an export")
    if prefix.startswith("G"):
        module = arch.make_generator(cfg)
    elif arch.make_discriminator is not None:
        module = arch.make_discriminator(cfg)
    else:
        raise BelamyError(f"the {arch_name} architecture has no discriminator", "use its generator")
    ck.load_module_tensors(prefix, module, tensors, json_path.name)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    module = module.to(dev).eval().requires_grad_(False)
    return LoadedModule(module=module, prefix=prefix, arch=arch, cfg=cfg, checkpoint_path=json_path, device=dev,
                        meta=meta)
