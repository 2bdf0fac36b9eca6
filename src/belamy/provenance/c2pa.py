"""C2PA content credentials: signing the files belamy writes, and reading anyone's.

Built on ``c2pa-python`` (the Content Authenticity Initiative's library, bundled, offline). A signed
file carries a manifest with:

* ``c2pa.actions``: what made the file (``c2pa.created`` with the IPTC digital source type for
  trained algorithmic media, or ``c2pa.opened`` + ``c2pa.resized`` ... for a derived picture);
* ``org.belamy.provenance``: belamy's provenance record, and a digest of the decoded pixels;
* an ingredient for the file it was made from, carrying that file's own manifest: a chain.

The hard binding (a hash over the file's bytes outside the manifest) is the library's: any edit of
the pixels, or of anything else in the file, breaks it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from pathlib import Path

from belamy import __version__
from belamy.errors import BelamyError
from belamy.provenance.keys import Identity, load_identity
from belamy.utils import untrusted

ASSERTION = "org.belamy.provenance"
MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff",
              ".tiff": "image/tiff", ".gif": "image/gif", ".mp4": "video/mp4", ".webp": "image/webp"}
PIL_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "GIF": "image/gif", "WEBP": "image/webp"}
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DIGITAL_CREATION = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation"
PARENT_ID = "parent"


def c2pa_library():
    try:
        import c2pa
    except ImportError:
        raise BelamyError("content credentials need the c2pa-python package",
                          "pip install 'belamy[provenance]' (or set BELAMY_KEYS=none to write unsigned files)") from None
    return c2pa


def mime_of(path: Path) -> str | None:
    """The MIME type of a file, from its content when PIL knows it, else from its extension."""
    return _pil_mime(path) or MIME_TYPES.get(Path(path).suffix.lower())


def content_mime(path: Path) -> str | None:
    """The MIME type of an image or MP4 video by its content; None for a file of another kind. A file
    whose name says image or video but whose content is neither is refused: it is not a broken signed file."""
    found = _pil_mime(path)
    named = MIME_TYPES.get(Path(path).suffix.lower())
    if found or named is None:
        return found
    with open(path, "rb") as fh:
        head = fh.read(12)
    if named == "video/mp4" and head[4:8] == b"ftyp":
        return named
    kind = "a video" if named.startswith("video/") else "an image"
    raise BelamyError(f"{Path(path).name} is not {kind}: its content is not {named.split('/')[1].upper()}",
                      "give a PNG, JPEG, TIFF, GIF, WebP or MP4 file")


def _pil_mime(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return PIL_MIME.get(im.format)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def pixel_digest(path: Path) -> dict | None:
    """SHA-256 of the decoded pixels (mode, size and samples) of a still image; None for video."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                return None
            im.load()
            data = im.tobytes()
            return {"sha256": hashlib.sha256(data).hexdigest(), "mode": im.mode, "size": list(im.size)}
    except (OSError, ValueError):
        return None


def default_actions(provenance: dict | None, parent: Path | None) -> list[dict]:
    """A picture with a belamy record was drawn by a trained model; a chart or contact sheet by software."""
    if parent is not None:
        return []
    source = TRAINED_ALGORITHMIC_MEDIA if provenance else DIGITAL_CREATION
    return [{"action": "c2pa.created", "digitalSourceType": source,
             "softwareAgent": {"name": "belamy", "version": __version__}}]


@functools.cache
def _context(trust_anchors: bytes):
    """A c2pa context trusting ``trust_anchors`` (PEM; none: trust nothing). Signing uses the identity's
    own CA, so that each ingredient's recorded validation says whether its signer is trusted: the
    signed statement `verify` relies on for every picture up the chain."""
    c2pa = c2pa_library()
    # No thumbnail: it would double a small PNG and take seconds on a print-sized TIFF.
    settings: dict = {"verify": {"verify_trust": bool(trust_anchors)}, "builder": {"thumbnail": {"enabled": False}}}
    if trust_anchors:
        settings["trust"] = {"trust_anchors": trust_anchors.decode("ascii", "replace")}
    try:
        return c2pa.Context(c2pa.Settings.from_dict(settings))
    except c2pa.C2paError as exc:
        raise BelamyError(f"the trusted certificates cannot be used: {exc}",
                          "run `belamy keys init --force` for a new identity") from None


def seal(tmp: str | os.PathLike, target: str | os.PathLike, provenance: dict | None = None,
         parent: str | os.PathLike | None = None, actions: list[dict] | None = None,
         identity: Identity | None = None) -> bool:
    """Sign the finished file ``tmp`` (about to be renamed to ``target``) in place, when an identity exists.

    Returns whether it was signed. ``parent`` is the file the picture was made from (an ingredient);
    ``actions`` the C2PA actions of this step (default: created, or none beyond ``c2pa.opened``).
    """
    identity = identity or load_identity()
    if identity is None:
        return False
    tmp, target, parent = Path(tmp), Path(target), Path(parent) if parent else None
    mime = MIME_TYPES.get(Path(target).suffix.lower())
    if mime is None:
        return False
    c2pa = c2pa_library()
    actions = list(default_actions(provenance, parent) if actions is None else actions)
    data = dict(provenance or {})
    pixels = pixel_digest(tmp)
    if pixels:
        data["pixels"] = pixels
    builder = None
    parent_mime = mime_of(parent) if parent is not None and Path(parent).is_file() else None
    if parent_mime:
        actions.insert(0, {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_ID]}})
    manifest = {
        "claim_generator_info": [{"name": "belamy", "version": __version__}],
        "title": Path(target).name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}},
                       {"label": ASSERTION, "data": data}],
    }
    signed = tmp.with_name(f"{tmp.name}.c2pa")
    try:
        builder = c2pa.Builder(manifest, context=_context(identity.ca_pem))
        if parent_mime:
            with open(parent, "rb") as fh:
                builder.add_ingredient({"title": Path(parent).name, "relationship": "parentOf", "label": PARENT_ID},
                                       parent_mime, fh)
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, identity.chain_pem,
                                                           identity.key_pem, None))
        with open(tmp, "rb") as src, open(signed, "w+b") as dst:
            builder.sign(signer, mime, src, dst)
        os.replace(signed, tmp)
    except c2pa.C2paError as exc:
        raise BelamyError(f"cannot sign {Path(target).name}: {exc}",
                          f"check the signing identity in {identity.folder} (or set BELAMY_KEYS=none)") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            signed.unlink()
        if builder is not None:
            with contextlib.suppress(Exception):
                builder.close()
    return True


def read_store(path: Path, trust_anchors: bytes | None = None) -> dict | None:
    """The C2PA manifest store of a file and its validation, or None when it carries no credentials.

    Returns ``{"state": "Trusted" | "Valid" | "Invalid", "store": {...}, "error": str | None}``;
    ``trust_anchors`` are PEM certificates whose signers count as trusted (the local CA by default).
    """
    c2pa = c2pa_library()
    path = Path(path)
    mime = content_mime(path)
    if mime is None:
        return None
    if trust_anchors is None:
        identity = load_identity()  # a damaged identity is one line here, before anything is trusted
        trust_anchors = identity.ca_pem if identity else b""
    context = _context(trust_anchors)
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader(mime, fh, context=context)
            store = untrusted.loads_json(reader.json(), f"the C2PA manifest of {path.name}", finite=False)
            state = reader.get_validation_state()
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in text or "not found" in text.lower():
            return None
        return {"state": "Invalid", "store": {}, "error": text}
    except OSError as exc:
        raise BelamyError(f"cannot read {path}: {exc.strerror or exc}", "check the path") from None
    return {"state": state or "Invalid", "store": store, "error": None}


def belamy_assertion(manifest: dict) -> dict | None:
    for assertion in manifest.get("assertions") or []:
        if assertion.get("label") == ASSERTION and isinstance(assertion.get("data"), dict):
            return assertion["data"]
    return None


def record_from_store(store: dict) -> dict | None:
    """The belamy record in the active manifest of a store (without the pixel digest)."""
    active = (store.get("manifests") or {}).get(store.get("active_manifest") or "")
    data = belamy_assertion(active or {})
    if data is None:
        return None
    return {k: v for k, v in data.items() if k != "pixels"} or None
