"""A trained classifier on disk (classifier.safetensors + classifier.json) and its posterior over styles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from belamy.classify.model import StyleClassifier, to_input
from belamy.errors import BelamyError
from belamy.utils import untrusted
from belamy.utils.atomic import atomic_path, write_json

FORMAT = "belamy-classifier"
VERSION = 1
WEIGHTS, INFO = "classifier.safetensors", "classifier.json"


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of each row of a [N, K] posterior divided by log K: 0 = certain, 1 = uniform (maximally ambiguous)."""
    k = probs.shape[1]
    p = probs.double().clamp_min(1e-12)
    return (-(p * p.log()).sum(dim=1) / math.log(k)).clamp(0.0, 1.0).float()


@dataclass
class Classifier:
    net: StyleClassifier
    names: list[str]
    height: int
    width: int
    path: Path
    info: dict = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def posterior(self, images, batch: int = 128) -> torch.Tensor:
        """[N, K] style probabilities (on the CPU) for float 0..255 NCHW tensors or uint8 NHWC arrays."""
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        out = []
        for start in range(0, len(images), batch):
            x = to_input(images[start : start + batch].to(self.device), self.height, self.width)
            out.append(self.net(x).float().softmax(dim=1).cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.names))

    def heldout_indices(self) -> np.ndarray:
        return np.asarray(self.info.get("heldout", []), dtype=np.int64)


def save_classifier(out: Path, net: StyleClassifier, info: dict) -> Path:
    """Write the weights, then the JSON (atomically, in that order: the JSON marks a complete classifier)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BelamyError(f"--out {out} is a file", "give a folder for the classifier")
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(out / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    write_json(out / INFO, {"format": FORMAT, "version": VERSION, **info})
    return out


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """Open a classifier folder made by `belamy classify train` (or its classifier.json)."""
    path = Path(path)
    folder = path.parent if path.name == INFO else path
    hint = "train one with `belamy classify train CORPUS --labels folder --out CLS`"
    try:
        info = untrusted.read_json(folder / INFO, str(folder / INFO), finite=False)
    except FileNotFoundError:
        raise BelamyError(f"no classifier at {path} ({INFO} missing)", hint) from None
    except (OSError, ValueError) as exc:
        raise BelamyError(f"{folder / INFO} cannot be read ({exc})", "train the classifier again") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise BelamyError(f"{folder} is not a belamy classifier", hint)
    try:
        names = [str(n) for n in info["names"]]
        height, width, channels = int(info["height"]), int(info["width"]), int(info["channels"])
        net = StyleClassifier(len(names), width=channels)
        net.load_state_dict(load_file(str(folder / WEIGHTS)))
    except FileNotFoundError:
        raise BelamyError(f"{folder / WEIGHTS} is missing", "train the classifier again") from None
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise BelamyError(f"the classifier in {folder} is damaged ({str(exc).splitlines()[0][:200]})",
                          "train the classifier again") from None
    return Classifier(net=net.to(device).eval().requires_grad_(False), names=names, height=height, width=width,
                      path=folder, info=info)
