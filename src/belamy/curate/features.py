"""Image embeddings for the learned taste.

Two kinds:
- ``colour``: needs no weights at all. Lab statistics, hue/saturation/value histograms, an 8×8
  thumbnail, and gradient statistics. Warm and cool tones differ in Lab a*/b* and in the hue
  histogram, so a taste for either is easy to learn from a few dozen decisions.
- ``disc:<checkpoint sha256>``: the trained discriminator's penultimate features for images of
  that checkpoint, with the colour features appended. The discriminator has looked at the corpus
  for hours; what it learned to tell apart is often what a curator cares about.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from belamy.utils.imageio import open_rgb

COLOUR = "colour"
THUMB = 48  # side the colour features are computed at: small, but enough for gradients


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] sRGB in [0, 1] to CIE Lab (D65)."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    mx, mn = rgb.max(-1), rgb.min(-1)
    delta = mx - mn
    safe = np.where(delta == 0, 1, delta)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    h = np.where(delta == 0, 0, h)
    s = np.where(mx == 0, 0, delta / np.where(mx == 0, 1, mx))
    return np.stack([h, s, mx], axis=-1)


def colour_features(img: Image.Image) -> np.ndarray:
    """A fixed-length float32 vector describing colour, tone, layout and texture."""
    small = img.convert("RGB").resize((THUMB, THUMB), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float64) / 255.0
    lab = _srgb_to_lab(rgb).reshape(-1, 3)
    hsv = _rgb_to_hsv(rgb).reshape(-1, 3)
    parts = [lab.mean(0) / 50.0, lab.std(0) / 50.0, np.percentile(lab[:, 0], [10, 50, 90]) / 100.0]
    # Warmth: red-yellow against blue, both in Lab and in plain RGB.
    parts.append([lab[:, 1].mean() / 50 + lab[:, 2].mean() / 50, (rgb[..., 0] - rgb[..., 2]).mean()])
    hue_hist = np.bincount(np.minimum((hsv[:, 0] * 12).astype(int), 11), weights=hsv[:, 1], minlength=12)
    parts.append(hue_hist / max(hue_hist.sum(), 1e-6))
    parts.append(np.histogram(hsv[:, 1], bins=4, range=(0, 1))[0] / len(hsv))
    parts.append(np.histogram(hsv[:, 2], bins=4, range=(0, 1))[0] / len(hsv))
    thumb = np.asarray(small.resize((8, 8), Image.Resampling.BOX), dtype=np.float64) / 255.0
    parts.append(thumb.reshape(-1))
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    gx = np.diff(grey, axis=1)[:-1]
    gy = np.diff(grey, axis=0)[:, :-1]
    mag = np.hypot(gx, gy)
    angle = (np.arctan2(gy, gx) % np.pi) / np.pi
    orient = np.bincount(np.minimum((angle * 8).astype(int), 7).ravel(), weights=mag.ravel(), minlength=8)
    parts.append([mag.mean() * 4, mag.std() * 4, (mag > 0.1).mean()])
    parts.append(orient / max(orient.sum(), 1e-6))
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts]).astype(np.float32)


def colour_features_of(path: Path) -> np.ndarray:
    return colour_features(open_rgb(path))


class DiscriminatorFeatures:
    """Penultimate discriminator features from one checkpoint (eval mode, CPU unless a GPU is given)."""

    def __init__(self, checkpoint_json: Path, device: str = "cpu"):
        from belamy.models.contract import check_discriminator
        from belamy.trainer.modules import load_module

        loaded = load_module(Path(checkpoint_json), "discriminator", device=torch.device(device))
        check_discriminator(loaded.module, loaded.arch.name)
        cfg = loaded.cfg
        self.device = loaded.device
        self.D = loaded.module
        self.res = cfg.res
        self._lock = threading.Lock()  # BatchNorm modules are not re-entrant across threads

    def _batch(self, images: list[Image.Image]) -> torch.Tensor:
        arrays = [np.asarray(im.convert("RGB").resize((self.res, self.res), Image.Resampling.LANCZOS)) for im in images]
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        return x.to(self.device)

    @torch.no_grad()
    def features(self, images: list[Image.Image]) -> np.ndarray:
        with self._lock:
            return self.D.penultimate(self._batch(images)).float().cpu().numpy()

    @torch.no_grad()
    def logits(self, images: list[Image.Image]) -> np.ndarray:
        """D's raw score: how real (corpus-like) it finds each image."""
        with self._lock:
            return self.D(self._batch(images)).float().cpu().numpy()


class DiscriminatorCache:
    """A few loaded discriminators, by checkpoint path, most recently used kept."""

    def __init__(self, size: int = 2):
        self.size = size
        self._items: OrderedDict[Path, DiscriminatorFeatures] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, checkpoint_json: Path) -> DiscriminatorFeatures:
        key = Path(checkpoint_json).resolve()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        loaded = DiscriminatorFeatures(key)
        with self._lock:
            self._items[key] = loaded
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return loaded


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha256_cached(path: Path) -> str:
    """A checkpoint's sha256, hashed once per (path, size, mtime): checkpoints are large."""
    from belamy.utils.imageio import file_sha256

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


def find_checkpoint(provenance: dict | None, search_roots: list[Path] = (), confine: Path | None = None) -> Path | None:
    """The checkpoint JSON an image was drawn from, if it is still on disk and unchanged (same sha256).

    The run path in the provenance is tried as written, then by its folder name under each search root
    (a studio root, the folder a run was moved to). With ``confine``, only checkpoints inside that folder count:
    a PNG's metadata must not make a server read files elsewhere.
    """
    from belamy.provenance.record import Record

    rec = Record.from_dict(provenance)
    if not rec.run or not rec.checkpoint:
        return None
    run = Path(str(rec.run))
    stem = Path(str(rec.checkpoint)).stem
    if Path(stem).name != stem or stem in ("", ".", ".."):
        return None
    options = [run]
    for r in search_roots:  # a relative run path is relative to where training ran: try it under each root too
        options += ([] if run.is_absolute() else [Path(r) / run]) + [Path(r) / run.name]
    for run_dir in options:
        json_path = run_dir / "checkpoints" / f"{stem}.json"
        tensors = json_path.with_suffix(".safetensors")
        try:
            if not (json_path.is_file() and tensors.is_file()):
                continue
            if confine is not None and not (json_path.resolve().is_relative_to(Path(confine).resolve())
                                            and tensors.resolve().is_relative_to(Path(confine).resolve())):
                continue
            want = rec.checkpoint_sha256
            if want and _sha256_cached(tensors) != want:
                continue
        except OSError:
            continue
        return json_path
    return None
