"""`belamy import`: models trained elsewhere become ordinary belamy runs.

Three layouts are read, by content (never by file name): NVlabs StyleGAN2 and StyleGAN3 network pickles
(of stylegan2-ada-pytorch, its legacy.py conversions of NVIDIA's releases, and NVlabs/stylegan3's
``--cfg=stylegan2``, ``-t`` and ``-r``; a restricted unpickler: their embedded code never runs), rosinality stylegan2-pytorch
checkpoints and the PyTorch DCGAN tutorial's state dicts (both ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import argparse
import pickle
import zipfile
from pathlib import Path

import torch

from belamy.errors import BelamyError
from belamy.importers.imported import ImportedModel, ImportResult, check_out_free, write_imported_run
from belamy.importers.safe_unpickle import PICKLE_LIMITS
from belamy.utils import untrusted
from belamy.utils.imageio import file_sha256

__all__ = ["ImportResult", "import_model", "read_model"]

# A legacy (pre-zip) torch.save file starts with the pickled magic number 0x1950a86a20f9469cfc6c.
_LEGACY_TORCH = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."


def _check_zip_records(path: Path) -> None:
    """torch.load inflates compressed records (torch.save writes none): a few MB of zeros deflated would
    claim gigabytes. Refused on the zip's directory, before anything is unpacked."""
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load says what is wrong with it
    claimed = sum(r.file_size for r in records)
    if any(r.compress_type != zipfile.ZIP_STORED for r in records) or claimed > path.stat().st_size:
        raise untrusted.refuse(path.name, f"holds compressed records claiming {claimed:,} bytes (torch.save "
                                          "compresses nothing)")


def _torch_load(path: Path) -> object:
    """``torch.load`` with weights only; rosinality's ``args`` (an argparse.Namespace) is the one extra type."""
    _check_zip_records(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "GLOBAL" in line or "Unsupported" in line), first[0] if first else "")
        raise BelamyError(f"{path.name} holds Python objects belamy will not load ({detail.strip()[:200]})",
                          "only model weights are imported: NVlabs .pkl, rosinality .pt or tutorial DCGAN files") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, KeyError) as exc:
        line = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise BelamyError(f"{path.name} is damaged or truncated ({line[:200]})", "download or copy the file again") from None
    # weights only, but still shapes: a zero-stride tensor over one float claims what any copy allocates
    untrusted.check_structure(obj, path.name, PICKLE_LIMITS)
    return obj


def read_model(path: Path, label_names: list[str] | None = None, discriminator: Path | None = None) -> ImportedModel:
    """Read a model file of any supported layout (chosen by content)."""
    from belamy.importers.nvlabs_pkl import read_nvlabs_pickle
    from belamy.importers.rosinality import looks_like_rosinality, read_rosinality
    from belamy.importers.tutorial_dcgan import looks_like_tutorial, read_tutorial_dcgan

    path = Path(path)
    if not path.is_file():
        raise BelamyError(f"no model file at {path}", "give the path of a .pkl, .pt or .pth file")
    with open(path, "rb") as f:
        head = f.read(len(_LEGACY_TORCH))
    if not head:
        raise BelamyError(f"{path.name} is empty", "download or copy the file again")
    if discriminator is not None and not Path(discriminator).is_file():
        raise BelamyError(f"no discriminator file at {discriminator}", "give the path of the tutorial's netD file")
    if head.startswith(b"PK\x03\x04") or head == _LEGACY_TORCH:
        obj = _torch_load(path)
        if looks_like_rosinality(obj):
            return read_rosinality(obj, label_names)
        if looks_like_tutorial(obj):
            d_obj = _torch_load(Path(discriminator)) if discriminator is not None else None
            return read_tutorial_dcgan(obj, d_obj, label_names)
        keys = ", ".join(list(map(str, obj))[:6]) if isinstance(obj, dict) else type(obj).__name__
        raise BelamyError(f"{path.name} is a PyTorch file belamy does not know (it holds: {keys})",
                          "belamy imports rosinality stylegan2-pytorch .pt and PyTorch-tutorial DCGAN files")
    if head[:1] == b"\x80":
        return read_nvlabs_pickle(path, label_names)
    raise BelamyError(f"{path.name} is not a model file belamy can import",
                      "give an NVlabs StyleGAN2(-ADA) .pkl, a rosinality .pt or a PyTorch-tutorial DCGAN .pth")


def import_model(path: Path, out: Path, label_names: list[str] | None = None,
                 discriminator: Path | None = None) -> ImportResult:
    """Read ``path`` and write a belamy run at ``out`` (refused if ``out`` already holds one)."""
    path = Path(path)
    check_out_free(Path(out))  # before reading what may be a large file
    model = read_model(path, label_names, discriminator)
    return write_imported_run(model, path, file_sha256(path), Path(out))
