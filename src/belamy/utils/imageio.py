"""Reading the images users hand belamy, and checks before writing one.

Writing pictures (with their provenance record and content credentials) is belamy.provenance.embed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from belamy.errors import BelamyError


def check_image_file(path: str | os.PathLike) -> Path:
    """``path`` if it names a regular file; one clear error for a missing one, a folder, a FIFO or a
    device (opening a FIFO that nobody writes would wait forever)."""
    import stat

    p = Path(path)
    try:
        mode = p.stat().st_mode
    except OSError:
        raise BelamyError(f"image not found: {p}", "check the path") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a pipe, socket or device)"
        raise BelamyError(f"cannot read image {p}: it is {kind}", "give a PNG, JPEG or TIFF file")
    return p


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """Open any image a user hands us as 8-bit RGB, with a clear error for a missing or broken file."""
    p = check_image_file(path)
    try:
        with Image.open(p) as im:
            im.load()
            return to_rgb(im)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BelamyError(f"cannot read image {p}: {exc}", "is it a PNG, JPEG or TIFF?") from exc


def to_rgb(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode (L, LA, P with transparency, RGBA, CMYK, I;16, F) to 8-bit RGB.

    Transparency is composited over ``background``; 16-bit and float images are scaled, not clipped.
    """
    if im.mode == "RGB":
        return im
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if im.mode == "F" and arr.max() <= 1.0:
            top = 1.0
        im = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode in ("LA", "RGBA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
        base = Image.new("RGB", im.size, background)
        base.paste(im, mask=im.getchannel("A"))
        return base
    return im.convert("RGB")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_writable(out: Path) -> None:
    """One clear error before any work if ``out`` cannot be written (a folder, or a parent without write access)."""
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise BelamyError(f"{out} is a folder", "give a file name such as signed.png")
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise BelamyError(f"cannot write to {parent}", "choose another --out")
