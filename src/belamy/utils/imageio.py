"""Reading and writing the images belamy makes, with provenance in their metadata.

Every PNG, JPEG and TIFF written here is also signed with C2PA content credentials when a signing
identity exists (`belamy keys init`; see belamy.utils.credentials): this is the one image-writing path.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from belamy.errors import BelamyError
from belamy.utils import untrusted
from belamy.utils.atomic import atomic_path

PROVENANCE_KEY = "belamy:provenance"
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


def save_png(image: Image.Image | np.ndarray, target: str | os.PathLike, provenance: dict | None = None, *,
             parent: str | os.PathLike | None = None, actions: list[dict] | None = None) -> Path:
    """Write a PNG atomically; ``provenance`` is stored as JSON in an iTXt chunk (and signed, see ``seal``).

    ``parent``: the file this picture was made from (a C2PA ingredient); ``actions``: the C2PA actions
    of this step (``Record.c2pa_actions()``).
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    info = PngImagePlugin.PngInfo()
    if provenance:
        info.add_itxt(PROVENANCE_KEY, json.dumps(provenance, sort_keys=True))
    target = Path(target)
    with atomic_path(target) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)
        seal(tmp, target, provenance, parent, actions)
    return target


def seal(tmp: Path, target: Path, provenance: dict | None = None, parent: str | os.PathLike | None = None,
         actions: list[dict] | None = None) -> bool:
    """Sign a finished temporary file before it is renamed to ``target``, when a signing identity exists."""
    from belamy.utils.credentials import seal as sign_file
    from belamy.utils.identity import load_identity

    identity = load_identity()
    if identity is None:
        return False
    return sign_file(Path(tmp), Path(target), provenance, Path(parent) if parent else None, actions, identity)


def read_provenance(path: str | os.PathLike) -> dict | None:
    """The provenance an image carries (PNG iTXt, TIFF description, GIF comment, or C2PA), or None."""
    with Image.open(path) as im:
        text = im.info.get(PROVENANCE_KEY) or getattr(im, "text", {}).get(PROVENANCE_KEY)
        if not text and im.format == "TIFF":
            text = _json_object_text(im.tag_v2.get(270))  # ImageDescription, as `belamy print` writes it
        if not text and im.format == "GIF":
            comment = im.info.get("comment")
            text = _json_object_text(comment.decode("utf-8", "replace") if isinstance(comment, bytes) else comment)
    if text:
        return untrusted.loads_json(text, f"the provenance record in {Path(path).name}")
    return _credentials_record(Path(path))


def _json_object_text(text) -> str | None:
    return text if isinstance(text, str) and text.lstrip().startswith("{") else None


def _credentials_record(path: Path) -> dict | None:
    """The belamy record inside a C2PA manifest (JPEG has no other place for it), when c2pa is installed."""
    try:
        from belamy.utils.credentials import read_store, record_from_store
    except ImportError:
        return None
    try:
        found = read_store(path, trust_anchors=b"")
    except BelamyError:
        return None
    return record_from_store(found["store"]) if found else None


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


def save_image(img: Image.Image, out: Path, provenance: dict | None = None, dpi: tuple[float, float] | None = None, *,
               parent: str | os.PathLike | None = None, actions: list[dict] | None = None) -> Path:
    """Write ``img`` atomically in the format its extension names (PNG with provenance, JPEG, TIFF).

    Each is signed with content credentials when a signing identity exists (see ``save_png``).
    """
    out = Path(out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise BelamyError(f"cannot write {out.name}: unknown format {out.suffix or '(no extension)'}", "use .png, .jpg or .tif")
    try:
        if fmt == "PNG":
            return save_png(img, out, provenance, parent=parent, actions=actions)
        options: dict = {"dpi": dpi} if dpi else {}
        if fmt == "JPEG":
            options.update(quality=95, subsampling=0)
        else:
            options.update(compression="tiff_lzw")
            if provenance:
                options["description"] = json.dumps(provenance, sort_keys=True)
        with atomic_path(out) as tmp:
            img.save(tmp, format=fmt, **options)
            seal(tmp, out, provenance, parent, actions)
    except OSError as exc:
        raise BelamyError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out") from None
    return out


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
