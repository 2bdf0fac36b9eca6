"""`belamy corpus build`: folders of paintings in, one training corpus out.

The corpus folder holds ``images.npy`` (uint8 [N, height, width, 3]: size×size, or a portrait
shape with ``aspect``; opened memory-mapped for
training), ``manifest.jsonl`` (where each image came from), ``corpus.json``, ``rejects.jsonl``,
``duplicates.jsonl`` and ``contact_sheet.png``. It is built in a staging folder beside the target
and swapped in only when complete, so an existing corpus survives a failed or interrupted rebuild.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from belamy.corpus.contact import contact_sheet, pick_evenly
from belamy.corpus.phash import duplicate_groups, hamming
from belamy.corpus.prepare import CROPS, FileResult, PrepareOptions, prepare_bytes, prepare_file
from belamy.corpus.sources import find_sources
from belamy.corpus.store import FORMAT
from belamy.errors import BelamyError
from belamy.provenance.embed import save_png
from belamy.utils.aspect import shape_for
from belamy.utils.atomic import atomic_open, atomic_path, fresh_dir, write_json
from belamy.utils.lock import RunLock
from belamy.utils.progress import make_progress

VERSION = 1
CONTACT_SHEET_LIMIT = 100


@dataclass
class CorpusReport:
    """What a build did: counts, the reasons files were turned away, and where the results are."""

    out: Path
    size: int
    shape: tuple[int, int] = (0, 0)  # (height, width) of each image
    read: int = 0  # source files (or dataset rows) looked at
    accepted: int = 0  # images in the corpus
    crops: int = 0  # images made before de-duplication (more than files with face crops)
    rejects: list[dict] = field(default_factory=list)
    duplicate_groups: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    @property
    def duplicates(self) -> int:
        """Images dropped because another copy of the same picture was kept."""
        return sum(len(g["merged"]) for g in self.duplicate_groups)

    @property
    def reject_reasons(self) -> dict[str, int]:
        """Count per kind of reason (the text before the first colon: "too small", "not an image" ...)."""
        counts = collections.Counter(r["reason"].split(":", 1)[0].split(" (", 1)[0] for r in self.rejects)
        return dict(counts.most_common())

    @property
    def images_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    @property
    def paths(self) -> dict[str, Path]:
        names = ("images.npy", "manifest.jsonl", "corpus.json", "rejects.jsonl", "duplicates.jsonl",
                 "contact_sheet.png")
        return {name: self.out / name for name in names}

    def print_summary(self, console: Console) -> None:
        table = Table(title=f"corpus {self.out}", show_header=False, title_justify="left")
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        table.add_row("read", str(self.read))
        height, width = self.shape if all(self.shape) else (self.size, self.size)
        table.add_row("accepted", f"[green]{self.accepted}[/green]  ({width}×{height})")
        table.add_row("rejected", f"[yellow]{self.rejected}[/yellow]")
        for reason, n in self.reject_reasons.items():
            table.add_row(f"  {reason}", str(n))
        groups = len(self.duplicate_groups)
        table.add_row("duplicates merged", f"{self.duplicates} (in {groups} group{'' if groups == 1 else 's'})")
        table.add_row("time", f"{self.seconds:.1f} s ({self.images_per_second:.0f} img/s)")
        for name, path in self.paths.items():
            table.add_row(name, str(path))
        console.print(table)


# --------------------------------------------------------------------------- items


@dataclass
class Item:
    """One thing to decode: a file on disk, or bytes from a dataset, with what is known about it."""

    name: str  # the path, or "hf:owner/name#row"
    meta: dict
    data: bytes | None = None  # None: read ``name`` from disk in the worker


def _work(batch: list[tuple[str, bytes | None]], opts: PrepareOptions) -> list[FileResult]:
    """Worker entry point: a small batch per task keeps inter-process overhead low."""
    return [prepare_file(name, opts) if data is None else prepare_bytes(name, data, opts) for name, data in batch]


def _worker_init(build_pid: int) -> None:
    _exit_with_the_build(build_pid)
    # Each process decodes one image at a time; OpenCV's own threads would only fight the other workers.
    with contextlib.suppress(Exception):
        import cv2

        cv2.setNumThreads(1)


def _exit_with_the_build(build_pid: int) -> None:
    """A worker ends itself once the build process is gone (even killed by kill -9). Its parent is the fork
    server, which lives as long as any worker holds its pipe: so the workers must go first, and then the
    fork server and the resource tracker see their pipes close and exit too."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(build_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the pid was reused by someone else's process: the build is gone
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-build", daemon=True).start()


def _recover_after_a_killed_build(out: Path) -> None:
    """Undo what a build killed mid-way left beside ``out`` (call with the build lock held): a corpus moved
    aside to be replaced goes back if the new one never arrived; staging folders are deleted."""
    parent = out.parent
    if not parent.is_dir():
        return
    for old in sorted(parent.glob(f".{out.name}.old-*")):
        if not out.exists() and (old / "corpus" / "corpus.json").is_file():
            os.replace(old / "corpus", out)
        shutil.rmtree(old, ignore_errors=True)
    for staging in parent.glob(f".{out.name}.building-*"):
        shutil.rmtree(staging, ignore_errors=True)


def _mp_context():
    """Worker processes come from a fresh server process, not forked from this one: forking a process
    that runs threads (pyarrow's, when a dataset is being streamed; a GUI's; a web server's) can
    deadlock the child. The server imports the decoding code once, so workers start fast."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["belamy.corpus.prepare"])
    return ctx


def _batched(items: Iterable[Item], n: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _results(items: Iterable[Item], opts: PrepareOptions, workers: int) -> Iterator[tuple[Item, FileResult]]:
    """Decode every item, in parallel, yielding results in input order with a bounded number in flight."""
    if workers <= 1:
        for item in items:
            yield item, _work([(item.name, item.data)], opts)[0]
        return
    batch_size = 4
    in_flight: collections.deque[tuple[list[Item], Future]] = collections.deque()
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),),
                               mp_context=_mp_context())
    try:
        for batch in _batched(items, batch_size):
            in_flight.append((batch, pool.submit(_work, [(i.name, i.data) for i in batch], opts)))
            if len(in_flight) >= workers * 4:
                done_batch, future = in_flight.popleft()
                yield from zip(done_batch, future.result(), strict=True)
        while in_flight:
            done_batch, future = in_flight.popleft()
            yield from zip(done_batch, future.result(), strict=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _items(
    sources: list[str | os.PathLike], exclude: list[Path], where: dict[str, str], folder_labels: bool = False,
    rejects: list[dict] | None = None,
) -> tuple[list[str], Iterable[Item], int | None]:
    """The items to read from every source: files from folders, rows from ``hf:`` datasets.

    Source folders are named as given (absolute, links not resolved): see :func:`find_sources`.
    What cannot be read at all (folders, special files) goes to ``rejects``.
    """
    files, datasets = [], []
    for src in sources:
        text = os.fspath(src)
        (datasets if text.startswith("hf:") else files).append(src)
    found = find_sources(files, exclude=exclude, folder_labels=folder_labels, rejects=rejects) if files else []
    names = [os.path.abspath(Path(f).expanduser()) for f in files] + [os.fspath(d) for d in datasets]
    file_items = [Item(str(f.path), f.meta) for f in found]
    if not datasets:
        return names, file_items, len(file_items)
    from belamy.corpus.hf import check_dataset_source

    for ds in datasets:
        check_dataset_source(os.fspath(ds))  # a clear error now, not after the folders are read
    return names, _chain_datasets(file_items, datasets, where), None


def _chain_datasets(file_items: list[Item], datasets: list, where: dict[str, str]) -> Iterator[Item]:
    from belamy.corpus.hf import dataset_items

    yield from file_items
    for ds in datasets:
        for name, data, meta in dataset_items(os.fspath(ds), where):
            yield Item(name, meta, data)


# --------------------------------------------------------------------------- build


def _check_options(size: int, min_size: int, max_pixels: int, dedupe_distance: int, crop: str, aspect: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise BelamyError(f"--size must be a whole number of pixels ≥ 8, not {size!r}", "e.g. --size 128")
    if size > 4096:
        raise BelamyError(f"--size {size} is larger than any model trains on", "use 1024 or less, e.g. --size 256")
    shape_for(size, aspect)  # a known aspect, and a size that divides into it
    if not isinstance(min_size, int) or min_size < 1:
        raise BelamyError(f"--min-size must be a positive number of pixels, not {min_size!r}", "e.g. --min-size 64")
    if not isinstance(max_pixels, int) or max_pixels < 1:
        raise BelamyError(f"--max-pixels must be positive, not {max_pixels!r}", "the default is 178956970")
    if not isinstance(dedupe_distance, int) or not -1 <= dedupe_distance <= 32:
        raise BelamyError(f"--dedupe-distance must be -1 to 32, not {dedupe_distance!r}",
                          "4 merges re-encoded or resized copies; -1 keeps near duplicates")
    if crop not in CROPS:
        raise BelamyError(f"--crop must be one of {', '.join(CROPS)}, not {crop!r}", "e.g. --crop center")


def _prepare_out(out: Path) -> Path:
    """Check the output can be (re)built and return a fresh staging folder beside it."""
    if out.exists() and not out.is_dir():
        raise BelamyError(f"--out {out} is a file", "give a folder for the corpus")
    if out.is_dir() and any(out.iterdir()) and not (out / "corpus.json").is_file():
        raise BelamyError(f"--out {out} holds files that are not a belamy corpus",
                          "choose an empty or new folder (nothing there was changed)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return fresh_dir(out.parent, prefix=f".{out.name}.building-")  # renamed into place: not owner-only
    except OSError as exc:
        raise BelamyError(f"cannot write the corpus to {out}: {exc.strerror or exc}",
                          "choose a folder you can write to") from None


def _swap_in(staging: Path, out: Path) -> None:
    """Put the complete new corpus in place; the old one is removed only after the new one is there."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "corpus")
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:
            os.replace(old / "corpus", out)  # put the old corpus back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_corpus(
    sources: list[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: int = 128,
    min_size: int = 64,
    max_pixels: int = 178_956_970,
    dedupe_distance: int = 4,
    workers: int = 0,
    crop: str = "center",
    aspect: str = "1:1",
    face_scale: float = 2.2,
    face_shift: float = 0.25,
    trim: bool = True,
    where: dict[str, str] | None = None,
    limit: int | None = None,
    folder_labels: bool = False,
    draft: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
) -> CorpusReport:
    """Build a corpus from folders of paintings (and ``hf:`` datasets). See the module docstring.

    ``workers`` = 0 uses one process per core, 1 decodes in this process. ``where`` filters dataset
    rows (``{"genre": "portrait"}``); ``limit`` stops after that many items (files or rows) are read;
    ``folder_labels`` labels each image with the sub-folder of its source it lies in (``label``);
    ``draft=False`` decodes JPEGs at full size (slower, for benchmarks only).
    Raises :class:`BelamyError` for a missing source, bad options, an unwritable output or when no
    image at all could be used; bad files never raise, they go to ``rejects.jsonl``.
    """
    started = time.perf_counter()
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if not sources:
        raise BelamyError("no sources given", "pass one or more folders of paintings")
    _check_options(size, min_size, max_pixels, dedupe_distance, crop, aspect)
    opts = PrepareOptions(size=size, min_size=min_size, max_pixels=max_pixels, crop=crop, aspect=aspect,
                          face_scale=face_scale, face_shift=face_shift, trim=trim, draft=draft)
    out = Path(out).expanduser().resolve()
    not_read: list[dict] = []  # folders that cannot be listed, FIFOs, devices ...
    source_names, items, total = _items(list(sources), exclude=[out], where=dict(where or {}),
                                        folder_labels=folder_labels, rejects=not_read)
    if total == 0:
        why = f" ({len(not_read)} not read, e.g. {not_read[0]['path']}: {not_read[0]['reason']})" if not_read else ""
        raise BelamyError(f"no files found in {', '.join(source_names)}{why}", "point at folders that hold paintings")
    if limit is not None:
        items = _take(items, limit)
        total = min(total, limit) if total is not None else None
    workers = workers or os.cpu_count() or 1
    if total is not None:
        workers = max(1, min(workers, (total + 3) // 4))

    lock = RunLock(out.parent, what="corpus build", name=f".{out.name}.lock", remove_on_release=True)
    with _parent_made(out), lock:
        _recover_after_a_killed_build(out)
        return _build_locked(out, size, opts, items, total, workers, dedupe_distance, on_result, source_names,
                             aspect, min_size, max_pixels, crop, face_scale, face_shift, trim, where, folder_labels,
                             started, not_read)


@contextlib.contextmanager
def _parent_made(out: Path):
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BelamyError(f"cannot write the corpus to {out}: {exc.strerror or exc}",
                          "choose a folder you can write to") from None
    yield


def _build_locked(out, size, opts, items, total, workers, dedupe_distance, on_result, source_names, aspect, min_size,
                  max_pixels, crop, face_scale, face_shift, trim, where, folder_labels, started,
                  not_read: list[dict]) -> CorpusReport:
    staging = _prepare_out(out)
    report = CorpusReport(out=out, size=size, shape=opts.shape)
    report.rejects.extend(not_read)
    try:
        try:
            _build_into(staging, items, total, opts, workers, dedupe_distance, report, on_result)
        except BrokenProcessPool:
            raise BelamyError(
                f"a decoding process died after {report.read} files (out of memory, or a decoder crashed)",
                "lower --max-pixels or --workers; --workers 1 shows which file it was",
            ) from None
        if report.accepted == 0:
            reasons = ", ".join(f"{n} {r}" for r, n in report.reject_reasons.items()) or "nothing to read"
            raise BelamyError(f"no usable images in {', '.join(source_names)} ({report.read} read: {reasons})",
                              "see the reasons; --min-size lowers the size limit")
        write_json(staging / "corpus.json", {
            "format": FORMAT, "version": VERSION, "size": size, "aspect": aspect,
            "height": opts.shape[0], "width": opts.shape[1], "count": report.accepted,
            "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sources": source_names,
            # Where a source given through a symbolic link really lies (the manifest keeps the given path).
            "resolved_sources": {name: os.path.realpath(name) for name in source_names
                                 if not name.startswith("hf:") and os.path.realpath(name) != name},
            "options": {"min_size": min_size, "max_pixels": max_pixels, "dedupe_distance": dedupe_distance,
                        "crop": crop, "face_scale": face_scale, "face_shift": face_shift, "trim": trim,
                        "where": dict(where or {}), "folder_labels": folder_labels},
            "read": report.read, "rejected": report.rejected, "duplicates": report.duplicates,
        })
        _swap_in(staging, out)
    except OSError as exc:
        raise BelamyError(f"cannot write the corpus to {out}: {exc.strerror or exc}",
                          "check free disk space and permissions") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _take(items: Iterable[Item], n: int) -> Iterator[Item]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item


def _build_into(
    staging: Path, items: Iterable[Item], total: int | None, opts: PrepareOptions, workers: int,
    dedupe_distance: int, report: CorpusReport, on_result: Callable[[FileResult], None] | None,
) -> None:
    height, width = opts.shape
    raw_path = staging / ".pixels.raw"
    entries: list[dict] = []  # one per crop, in order
    exact: list[str] = []
    phashes: list[int] = []
    dhashes: list[int] = []
    rejects = report.rejects
    # Crops stream to a raw file so that memory stays flat however big the corpus is.
    with open(raw_path, "wb") as raw, make_progress("img") as progress:
        task = progress.add_task("reading", total=total)
        for item, result in _results(items, opts, workers):
            report.read += 1
            progress.advance(task)
            if on_result is not None:
                on_result(result)
            if result.reject:
                rejects.append({"path": item.name, "reason": result.reject})
                continue
            for crop in result.crops:
                raw.write(crop.pixels.tobytes())
                exact.append(hashlib.sha256(crop.pixels.tobytes()).hexdigest())
                phashes.append(crop.phash)
                dhashes.append(crop.dhash)
                entries.append(_manifest_entry(item, result, crop))
    report.crops = len(entries)

    groups = duplicate_groups(exact, phashes, dhashes, dedupe_distance)
    dropped: set[int] = set()
    kept_of_group: list[tuple[int, list[int]]] = []
    for group in groups:
        keep = max(group, key=lambda i: (entries[i]["width"] * entries[i]["height"], -i))
        dropped.update(i for i in group if i != keep)
        kept_of_group.append((keep, [i for i in group if i != keep]))
    kept = [i for i in range(len(entries)) if i not in dropped]
    new_index = {old: new for new, old in enumerate(kept)}
    report.accepted = len(kept)
    if not kept:
        return

    pixels = np.memmap(raw_path, dtype=np.uint8, mode="r", shape=(len(entries), height, width, 3))
    with atomic_path(staging / "images.npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(kept), height, width, 3))
        for start in range(0, len(kept), 1024):
            idx = kept[start : start + 1024]
            arr[start : start + len(idx)] = pixels[idx]
        arr.flush()
        del arr

    with atomic_open(staging / "manifest.jsonl") as fh:
        for old in kept:
            entry = {"index": new_index[old], **entries[old]}
            fh.write(_json_line(entry))
    with atomic_open(staging / "rejects.jsonl") as fh:
        for r in rejects:
            fh.write(_json_line(r))
    with atomic_open(staging / "duplicates.jsonl") as fh:
        for keep, merged in kept_of_group:
            group = {
                "kept": entries[keep]["source"], "kept_index": new_index[keep],
                "merged": [entries[i]["source"] for i in merged],
                "phash_distance": [hamming(phashes[keep], phashes[i]) for i in merged],
                "sizes": [[entries[i]["width"], entries[i]["height"]] for i in merged],
            }
            report.duplicate_groups.append(group)
            fh.write(_json_line(group))
    chosen = pick_evenly(len(kept), CONTACT_SHEET_LIMIT)
    sheet = contact_sheet([pixels[kept[i]] for i in chosen], thumb=min(max(height, width), 96))
    save_png(sheet, staging / "contact_sheet.png", provenance={"corpus": str(report.out), "indices": chosen})
    del pixels
    raw_path.unlink()


def _manifest_entry(item: Item, result: FileResult, crop) -> dict:
    entry = {
        "source": item.name, "sha256": result.sha256, "width": result.width, "height": result.height,
        "title": None, "year": None,
    }
    entry.update(item.meta)
    entry["crop_box"] = list(crop.crop_box)
    if any(crop.trimmed):
        entry["trimmed"] = list(crop.trimmed)
    if crop.face_index is not None:
        entry["face_index"] = crop.face_index
        entry["face_box"] = list(crop.face_box)
    entry["phash"] = f"{crop.phash:016x}"
    return entry


def _json_line(record: dict) -> str:
    """One JSON line, UTF-8 where it can be; a file name that is not valid UTF-8 keeps its exact bytes
    as ``\\udcXX`` escapes (Python's surrogateescape), which ``json.loads`` turns back into the same path."""
    line = json.dumps(record, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True, default=str)
    return line + "\n"


def parse_where(conditions: list[str]) -> dict[str, str]:
    """``["genre=portrait", "style=Baroque"]`` -> ``{"genre": "portrait", "style": "Baroque"}``."""
    where: dict[str, str] = {}
    for cond in conditions:
        key, sep, value = cond.partition("=")
        if not sep or not key.strip():
            raise BelamyError(f"--where {cond!r} is not COLUMN=VALUE", "e.g. --where genre=portrait")
        where[key.strip()] = value.strip()
    return where
