"""Hugging Face datasets as corpus sources: ``hf:OWNER/NAME`` (streamed from the Hub) or ``hf:/path``
(a dataset saved with ``save_to_disk``, or a folder of parquet files).

Rows are streamed without decoding their images here (the build's worker processes decode them);
label columns (artist, genre, style ...) go into the manifest, with ClassLabel numbers mapped to names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from belamy.errors import BelamyError

PREFIX = "hf:"
INSTALL_HINT = "pip install 'belamy[hf]'"


def _datasets():
    try:
        import datasets
    except ImportError:
        raise BelamyError("reading hf: sources needs the `datasets` library", INSTALL_HINT) from None
    datasets.disable_progress_bars()  # belamy shows its own progress
    return datasets


def _target(source: str) -> str:
    return source[len(PREFIX):] if source.startswith(PREFIX) else source


def _is_local(target: str) -> bool:
    return target.startswith(("/", "./", "../", "~")) or os.path.exists(target)


def check_dataset_source(source: str) -> None:
    """Fail early, with one clear line, for a source that cannot be read."""
    _datasets()
    target = _target(source)
    if not target:
        raise BelamyError(f"{source!r} names no dataset", "use hf:OWNER/NAME or hf:/path/to/dataset")
    if _is_local(target) and not Path(target).expanduser().exists():
        raise BelamyError(f"dataset not found: {target}", "give a folder saved with save_to_disk or of parquet files")


def _open(target: str):
    """The dataset's rows as an iterable (Dataset or IterableDataset), one split."""
    ds_lib = _datasets()
    if _is_local(target):
        path = Path(target).expanduser()
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            try:
                ds = ds_lib.load_from_disk(str(path))
            except Exception as exc:  # the datasets library raises many kinds for a damaged folder
                raise BelamyError(f"cannot open the dataset at {path}: {exc}", "was it saved with save_to_disk?") from None
        else:
            files = sorted(str(p) for p in path.rglob("*.parquet")) if path.is_dir() else [str(path)]
            if not files:
                raise BelamyError(f"no dataset at {path} (no save_to_disk files, no .parquet files)",
                                  "give a folder saved with save_to_disk or of parquet files")
            ds = ds_lib.load_dataset("parquet", data_files=files, split="train", streaming=True)
    else:
        try:
            ds = ds_lib.load_dataset(target, split="train", streaming=True)
        except Exception as exc:  # network, unknown name, gated dataset ...
            raise BelamyError(f"cannot stream the dataset {target}: {str(exc).splitlines()[0][:200]}",
                              "check the name (OWNER/NAME) and your connection") from None
    if isinstance(ds, ds_lib.DatasetDict | ds_lib.IterableDatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        ds = ds[split]
    return ds


def _image_column(features) -> str:
    ds_lib = _datasets()
    for name, feature in (features or {}).items():
        if isinstance(feature, ds_lib.Image):
            return name
    raise BelamyError("the dataset has no image column", "an hf: source needs a column of the Image() type")


def _label_names(features) -> dict[str, Any]:
    ds_lib = _datasets()
    return {name: f for name, f in (features or {}).items() if isinstance(f, ds_lib.ClassLabel)}


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def dataset_items(source: str, where: dict[str, str] | None = None) -> Iterator[tuple[str, bytes, dict]]:
    """(name, encoded image bytes, metadata) for each row of the dataset that matches ``where``.

    ``where`` compares a column's value (a ClassLabel's name, or the value as text) case-insensitively.
    """
    ds_lib = _datasets()
    target = _target(source)
    ds = _open(target)
    features = ds.features
    if features is None:  # some streamed datasets only know their columns after a first row
        ds = ds._resolve_features()
        features = ds.features
    image_col = _image_column(features)
    labels = _label_names(features)
    wanted = {k: str(v).lower() for k, v in (where or {}).items()}
    unknown = [k for k in wanted if k not in features]
    if unknown:
        raise BelamyError(f"--where names a column the dataset lacks: {', '.join(unknown)}",
                          f"its columns: {', '.join(features)}")
    ds = ds.cast_column(image_col, ds_lib.Image(decode=False))  # bytes go to the workers undecoded
    for row_index, row in enumerate(ds):
        meta: dict[str, Any] = {"title": None, "year": None}
        for key, value in row.items():
            if key == image_col:
                continue
            if key in labels and isinstance(value, int) and value >= 0:
                value = labels[key].int2str(value)
            if _scalar(value):
                meta[key] = value
        if any(str(meta.get(k)).lower() != v for k, v in wanted.items()):
            continue
        image = row[image_col] or {}
        data = image.get("bytes")
        if data is None and image.get("path"):
            try:
                data = Path(image["path"]).read_bytes()
            except OSError:
                data = b""  # rejected as an empty file, with its row named
        meta["dataset"] = target
        meta["row"] = row_index
        yield f"{PREFIX}{target}#{row_index}", data or b"", meta
