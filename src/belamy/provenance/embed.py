"""The record inside the pictures belamy writes: PNG iTXt, TIFF description, and C2PA on every file.

``save_png`` and ``save_image`` are the one image-writing path: each file gets its record (a PNG
iTXt chunk, a TIFF ImageDescription) and, when a signing identity exists (`belamy keys init`), C2PA
content credentials (belamy.provenance.c2pa). ``read_provenance`` reads the record back from any of
those places, GIF comments included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from belamy.errors import BelamyError
from belamy.provenance.c2pa import read_store, record_from_store, seal
from belamy.utils import untrusted
from belamy.utils.atomic import atomic_path

PROVENANCE_KEY = "belamy:provenance"
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


def save_png(image: Image.Image | np.ndarray, target: str | os.PathLike, provenance: dict | None = None, *,
             parent: str | os.PathLike | None = None, actions: list[dict] | None = None) -> Path:
    """Write a PNG atomically; ``provenance`` is stored as JSON in an iTXt chunk (and signed: ``belamy.provenance.c2pa.seal``).

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
        found = read_store(path, trust_anchors=b"")
    except BelamyError:
        return None
    return record_from_store(found["store"]) if found else None
