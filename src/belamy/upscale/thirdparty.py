"""Third-party SR weights (ESRGAN, Real-ESRGAN, SwinIR, ...) through spandrel, safely and without torchvision.

Two problems, two fixes:

* spandrel imports torchvision at import time, for two architectures we never use for
  upscaling: LaMa (``InterpolationMode``, ``rotate``) and RestoreFormer (``normalize``). torchvision
  has no CPU wheel that matches our torch, so when it is absent we put a stand-in module into
  ``sys.modules`` *only while ``import spandrel`` runs*, providing exactly those three names, and
  take it out again afterwards so no other code mistakes it for the real package. ``normalize``
  works; ``rotate`` (LaMa inpainting only) raises a clear error. The list was made by grepping
  every ``torchvision`` import in the installed spandrel 0.4.x; :data:`TORCHVISION_NAMES` is
  checked by a test against the installed package, so an upgrade that imports more fails loudly.
* spandrel reads ``.pth`` files with ``torch.load`` and a restricted unpickler. We read weights
  ourselves: safetensors directly, ``.pth``/``.pt``/``.ckpt`` with ``torch.load(weights_only=True)``,
  which refuses anything but tensors and plain containers, then hand spandrel the state dict.
"""

from __future__ import annotations

import enum
import importlib
import sys
import types
from pathlib import Path

import torch

from belamy.errors import BelamyError
from belamy.trainer.checkpoint import check_finite

# Every name spandrel imports from torchvision (module -> names).
TORCHVISION_NAMES = {"torchvision.transforms.functional": ("InterpolationMode", "rotate", "normalize")}
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")


class InterpolationMode(enum.Enum):
    """Same member names and values as torchvision's."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def rotate(*args, **kwargs):
    raise BelamyError("this model (LaMa inpainting) needs torchvision, which belamy does not install",
                      "use a super-resolution model such as ESRGAN or Real-ESRGAN")


def normalize(tensor: torch.Tensor, mean, std, inplace: bool = False) -> torch.Tensor:
    """torchvision's ``normalize`` for [..., C, H, W] tensors."""
    mean_t = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    if not inplace:
        tensor = tensor.clone()
    return tensor.sub_(mean_t).div_(std_t)


def _stand_in_modules() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = InterpolationMode
    functional.rotate = rotate
    functional.normalize = normalize
    root.transforms = transforms
    transforms.functional = functional
    for module in (root, transforms, functional):
        module.__belamy_stand_in__ = True
    return {"torchvision": root, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional}


SPANDREL_HINT = "install it without its torchvision dependency: pip install --no-deps spandrel einops typing_extensions"


def import_spandrel():
    """Import spandrel, with the torchvision stand-in only if the real torchvision is missing."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    try:
        importlib.import_module("torchvision")
        have_torchvision = True
    except ImportError:
        have_torchvision = False
    stand_ins = {} if have_torchvision else _stand_in_modules()
    sys.modules.update(stand_ins)
    try:
        return importlib.import_module("spandrel")
    except ImportError as exc:
        raise BelamyError(f"third-party weights need spandrel, which cannot be imported ({exc})", SPANDREL_HINT) from None
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a weights file, never running code stored in it."""
    path = Path(path)
    if not path.is_file():
        raise BelamyError(f"weights not found: {path}", "check the path to the .safetensors or .pth file")
    suffix = path.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise BelamyError(f"{path.name}: unknown weights format {suffix or '(none)'}", "give a .safetensors or .pth file")
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, pickle and zip errors all mean the same thing to a user
        raise BelamyError(f"cannot read weights {path.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                          "is it a plain state dict? files that need code to unpickle are refused") from None
    if not isinstance(state, dict):
        raise BelamyError(f"{path.name} holds a {type(state).__name__}, not a state dict", "give a weights file")
    return state


class SpandrelNet:
    """A spandrel image model as a plain callable on [1, 3, h, w] tensors in [0, 1]."""

    def __init__(self, descriptor, name: str):
        self.descriptor = descriptor
        self.scale = int(descriptor.scale)
        self.name = name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)


def load_spandrel_weights(path: Path, device: torch.device) -> SpandrelNet:
    spandrel = import_spandrel()
    state = spandrel.canonicalize_state_dict(read_state_dict(path))
    check_finite(state, f"the weights file {path.name}")
    try:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise BelamyError(f"{Path(path).name} is not a model architecture spandrel knows",
                          "use ESRGAN, Real-ESRGAN, SwinIR, HAT, ... weights") from None
    except BelamyError:
        raise
    except Exception as exc:  # spandrel reads shapes from the file: anything odd in it fails somewhere inside
        from belamy.models.limits import load_error_line

        raise BelamyError(f"cannot build a model from {Path(path).name}: {load_error_line(exc)}",
                          "is the file complete, and an image super-resolution model?") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.input_channels != 3 \
            or descriptor.output_channels != 3:
        raise BelamyError(f"{Path(path).name} is not an RGB image-to-image model", "use a super-resolution model")
    descriptor.to(device).eval()
    return SpandrelNet(descriptor, f"{descriptor.architecture.name} ×{descriptor.scale}")
