"""The studio's draw page: a sketch or a figure in, a painting out, live, through a pix2pix run.

``POST /api/draw/paint`` takes the drawing (a PNG data URL from the canvas, for line-drawing runs)
or the figure's points (in [0, 1] of the picture, for pose and landmark runs), prepares it exactly
as ``belamy translate`` does and answers with the painting as a PNG that carries its provenance.
``POST /api/draw/keep`` writes the drawing (as the model saw it) to ``drawings/`` and the painting
to ``candidates/drawings/``, and records the painting as kept in the curation database, so it
appears in the gallery with its run, checkpoint and drawing.

The page keeps up to two requests in flight, each with the newest drawing, and shows an answer
only if it is newer than the one on screen: the painting follows the pen as fast as the model
runs (two at a time on two cores), never a queue behind it. Live answers are JPEG (quick to encode
and decode); the download is a PNG with its provenance. Models are loaded once per checkpoint, through
ONNX Runtime when that is faster (see :func:`belamy.export.pix2pix.make_translate_engine`).
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import datetime as _dt
import hashlib
import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from PIL import Image, PngImagePlugin
from pydantic import BaseModel, ConfigDict, Field

from belamy.corpus.skeleton import FACE68_PARTS, OPENPOSE_COLORS, OPENPOSE_LIMBS, draw_skeleton, template
from belamy.errors import BelamyError
from belamy.provenance.embed import PROVENANCE_KEY, save_png
from belamy.studio.runs import find_runs
from belamy.trainer import checkpoint as ck

SET_NAME = "drawings"
MAX_DRAWING_BYTES = 4 << 20
# The page sends its canvas at the run's own shape; 2048² is room for any run, and ~50 MB to decode.
MAX_DRAWING_PIXELS = 2048 * 2048
# Points are in [0, 1] of the picture; a figure may reach past its edges (the template's legs do), but
# not to 1e10, where drawing it overflows.
MAX_POINT_REACH = 10.0
# Drawings decoded and painted at once (each can be 2048² pixels, ~50 MB on its way): the page keeps
# two requests in flight; more wait their turn, and past PAINT_WAIT_S are told to try again. They are
# painted on threads of their own: the C allocator keeps what a thread freed for that thread, so big
# pictures decoded on any of the server's forty threads would leave up to forty such peaks resident.
PAINTING_SLOTS = 2
PAINT_WAIT_S = 30.0
_DATA_URL = "data:image/"


class DrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str = Field(min_length=1, max_length=1000)
    checkpoint: str = Field("latest", min_length=1, max_length=200)
    drawing: str | None = Field(None, max_length=MAX_DRAWING_BYTES * 4 // 3 + 64)
    points: list[list[float]] | None = Field(None, max_length=1000)
    # jpeg while drawing (fast to encode and decode); png to download: lossless, with its provenance
    format: Literal["jpeg", "png"] = "jpeg"


@dataclass
class Loaded:
    checkpoint_path: Path
    translator: object
    engine: object


class DrawModels:
    """One translator and engine per run, reloaded when its latest checkpoint changes."""

    def __init__(self, cache_dir: Path, device: str = "auto", engine: str = "auto"):
        self.cache_dir, self.device, self.engine_kind = cache_dir, device, engine
        self._lock = threading.Lock()
        self._loaded: dict[tuple[Path, str], Loaded] = {}

    def get(self, run_dir: Path, checkpoint: str = "latest") -> Loaded:
        from belamy.export.pix2pix import make_translate_engine
        from belamy.generate.translate import load_translator

        json_path = ck.resolve_checkpoint(run_dir, checkpoint).resolve()
        key = (run_dir.resolve(), checkpoint)
        with self._lock:
            found = self._loaded.get(key)
            if found is not None and found.checkpoint_path == json_path:
                return found
            translator = load_translator(json_path, device=self.device)
            # One thread per painting: the page keeps two requests in flight, so two cores paint at once.
            engine = make_translate_engine(translator, self.engine_kind, cache_dir=self.cache_dir, threads=1)
            found = Loaded(json_path, translator, engine)
            self._loaded[key] = found
            return found


def skeleton_lines(kind: str) -> list[list]:
    """The figure's segments for the page to draw while dragging: [a, b, "#rrggbb"]."""
    def hex_of(c) -> str:
        return "#" + "".join(f"{int(v):02x}" for v in c)

    if kind == "pose":
        return [[a, b, hex_of(c)] for (a, b), c in zip(OPENPOSE_LIMBS, OPENPOSE_COLORS, strict=False)]
    lines = []
    for (first, last, closed), color in FACE68_PARTS:
        for i in range(first, last):
            lines.append([i, i + 1, hex_of(color)])
        if closed:
            lines.append([last, first, hex_of(color)])
    return lines


def decode_drawing(data_url: str) -> Image.Image:
    """The canvas's ``data:image/png;base64,...`` as a PIL image; bad data is a 400, never a crash."""
    if not data_url.startswith(_DATA_URL) or ";base64," not in data_url[:40]:
        raise HTTPException(400, "the drawing must be a data:image/...;base64 URL")
    try:
        raw = base64.b64decode(data_url.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "the drawing is not valid base64") from None
    if len(raw) > MAX_DRAWING_BYTES:
        raise HTTPException(413, "the drawing is too large")
    try:
        im = Image.open(io.BytesIO(raw))
        if im.width * im.height > MAX_DRAWING_PIXELS:
            raise HTTPException(413, f"the drawing has {im.width}×{im.height} pixels, more than the "
                                     f"{MAX_DRAWING_PIXELS:,} taken: send it at the run's own size")
        im.load()
    except HTTPException:
        raise
    except Exception:  # PIL raises many kinds for damaged data
        raise HTTPException(400, "the drawing is not a readable image") from None
    return im


def condition_of(loaded: Loaded, body: DrawBody) -> np.ndarray:
    tr = loaded.translator
    height, width = tr.shape
    if tr.condition in ("pose", "landmarks"):
        if body.points is None:
            raise HTTPException(400, f"this run paints from a {tr.condition} figure: send its points")
        sizes = {len(p) for p in body.points}
        pts = np.array(body.points, dtype=np.float64) if sizes in ({2}, {3}) else None
        if pts is None or pts.ndim != 2 or len(pts) == 0 or not np.isfinite(pts).all() \
                or np.abs(pts[:, :2]).max() > MAX_POINT_REACH:
            raise HTTPException(400, "points must be [x, y] (or [x, y, confidence]) pairs of finite numbers, "
                                     f"in [0, 1] of the picture (at most {MAX_POINT_REACH:g} outside it)")
        pts = pts.astype(np.float32)
        pts[:, 0] *= width
        pts[:, 1] *= height
        try:
            return draw_skeleton(tr.condition, pts, height, width)
        except BelamyError as exc:
            raise HTTPException(400, str(exc)) from None
    if body.drawing is None:
        raise HTTPException(400, "this run paints from a line drawing: send the canvas")
    return tr.prepare(decode_drawing(body.drawing), "pad")


def jpeg_bytes(pixels: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def png_bytes(pixels: np.ndarray, provenance: dict | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if provenance:
        import json

        info.add_itxt(PROVENANCE_KEY, json.dumps(provenance, sort_keys=True))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info, compress_level=1)
    return buffer.getvalue()


def create_draw_router(studio) -> APIRouter:
    """Routes of the draw page; ``studio`` is the app's :class:`belamy.studio.app.Studio`."""
    router = APIRouter()
    models = DrawModels(studio.root / ".belamy-cache" / "onnx", device=studio.device)
    studio.draw_models = models
    painters = concurrent.futures.ThreadPoolExecutor(PAINTING_SLOTS, thread_name_prefix="belamy-draw")

    def run_of(name: str) -> Path:
        folder = studio.run_dir(name)
        try:
            from belamy.generate.translate import checkpoint_arch

            arch = checkpoint_arch(folder)
        except BelamyError as exc:
            raise HTTPException(404, str(exc)) from None
        if arch != "pix2pix":
            raise HTTPException(400, f"{name} is not a pix2pix run: only image-to-image runs paint from drawings")
        return folder

    def paint(body: DrawBody) -> tuple[Loaded, np.ndarray, np.ndarray, dict]:
        try:
            loaded = models.get(run_of(body.run), body.checkpoint)
        except BelamyError as exc:
            raise HTTPException(400, str(exc)) from None
        def work() -> tuple[np.ndarray, np.ndarray, float]:
            condition = condition_of(loaded, body)
            started = time.perf_counter()
            return condition, loaded.engine.render(condition[None])[0], started

        job = painters.submit(work)
        try:
            condition, painting, started = job.result(timeout=PAINT_WAIT_S)
        except concurrent.futures.TimeoutError:
            job.cancel()
            raise HTTPException(503, "the studio is busy painting other drawings: try again in a moment") from None
        provenance = loaded.translator.provenance(
            condition_sha256=hashlib.sha256(condition.tobytes()).hexdigest(), engine=loaded.engine.name,
            source="studio draw")
        provenance["run"] = body.run  # as the studio names it: relative to its root
        return loaded, condition, painting, {**provenance, "_ms": (time.perf_counter() - started) * 1000}

    @router.get("/api/draw/runs")
    def draw_runs():
        from belamy.generate.translate import checkpoint_arch
        from belamy.models.pix2pix import Pix2PixConfig

        found = []
        for folder in find_runs(studio.root):
            try:
                if checkpoint_arch(folder) != "pix2pix":
                    continue
                _, meta = ck.load_checkpoint(ck.resolve_checkpoint(folder))
            except BelamyError:
                continue
            cfg = Pix2PixConfig.from_dict(meta.get("model", {}))
            height, width = cfg.shape
            entry = {"name": folder.relative_to(studio.root).as_posix() or ".", "condition": cfg.condition,
                     "height": height, "width": width, "kimg": meta.get("kimg", meta.get("nimg", 0) / 1000)}
            if cfg.condition in ("pose", "landmarks"):
                entry["template"] = template(cfg.condition)
                entry["lines"] = skeleton_lines(cfg.condition)
            found.append(entry)
        return {"runs": found}

    @router.post("/api/draw/paint")
    def draw_paint(body: DrawBody):
        _, _, painting, provenance = paint(body)
        ms = provenance.pop("_ms")
        headers = {"Cache-Control": "no-store", "X-Belamy-Render-Ms": f"{ms:.1f}"}
        if body.format == "png":
            return Response(png_bytes(painting, provenance), media_type="image/png", headers=headers)
        return Response(jpeg_bytes(painting), media_type="image/jpeg", headers=headers)

    @router.post("/api/draw/keep")
    def draw_keep(body: DrawBody, request: Request):
        from belamy.curate.db import DecisionDB
        from belamy.studio.app import client_of

        _, condition, painting, provenance = paint(body)
        provenance.pop("_ms")
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
        name = f"{stamp}-{provenance['condition_sha256'][:8]}.png"
        drawing_path = studio.root / "drawings" / name
        painting_path = studio.root / "candidates" / SET_NAME / name
        try:
            save_png(condition, drawing_path, {"generator": "belamy studio draw", "run": body.run,
                                               "condition": provenance["condition"]})
            provenance.update(drawing=drawing_path.relative_to(studio.root).as_posix(),
                              drawing_sha256=hashlib.sha256(drawing_path.read_bytes()).hexdigest())
            save_png(painting, painting_path, provenance)
        except OSError as exc:
            raise HTTPException(500, f"cannot write the painting: {exc.strerror or exc}") from None
        digest = hashlib.sha256(painting_path.read_bytes()).hexdigest()
        rel = studio.db.relative(painting_path)
        with studio.db.write() as con:
            DecisionDB.add_candidate(con, digest, rel, SET_NAME, provenance)
        studio.db.decide(digest, "keep", client_of(request))
        studio.retrainer.notify()
        candidate = studio.db.candidate(digest)
        return {"candidate": candidate.to_json() if candidate else None,
                "painting": "/files/" + rel, "drawing": "/files/" + drawing_path.relative_to(studio.root).as_posix()}

    return router
