"""The studio's web app: pages, a JSON API, and files from the root (and nothing outside it)."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from belamy.curate.db import IMAGE_SUFFIXES, DecisionDB, open_db
from belamy.curate.layout import layout_2d
from belamy.curate.preference import FeatureSource
from belamy.errors import BelamyError
from belamy.studio.jobs import GenerationJobs, Retrainer
from belamy.studio.runs import find_runs, read_metrics, read_run
from belamy.studio.security import Guard, resolve_under
from belamy.studio.styles import StylePosteriors
from belamy.studio.travel import render_travel
from belamy.utils.device import resolve_device

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "runs.html", "/curate": "curate.html", "/gallery": "gallery.html", "/draw": "draw.html"}
_HASH = re.compile(r"^[0-9a-f]{64}$")
_CLIENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SERVED_SUFFIXES = (*IMAGE_SUFFIXES, ".gif")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateBody(Strict):
    run: str = Field(min_length=1, max_length=1000)
    checkpoint: str = Field("latest", min_length=1, max_length=200)
    n: int = Field(32, ge=1, le=4096)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    truncation: float = Field(1.0, gt=0, le=2)


class DecideBody(Strict):
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    decision: Literal["keep", "reject"]


class EmptyBody(Strict):
    pass


class TravelBody(Strict):
    a: str = Field(pattern=r"^[0-9a-f]{64}$")
    b: str = Field(pattern=r"^[0-9a-f]{64}$")
    frames: int = Field(24, ge=2, le=240)


class Studio:
    """Everything the endpoints share: the root, the database, the background workers."""

    def __init__(self, root: Path, retrain_every: int = 10, device: str = "auto", classifier: Path | None = None):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise BelamyError(f"studio root {root} is not a folder", "give --root a folder holding runs and candidates")
        self.db: DecisionDB = open_db(self.root)
        self.features = FeatureSource(self.root, self.db, confine=True)
        self.retrainer = Retrainer(self.db, self.features, every=retrain_every)
        self.jobs = GenerationJobs(self.root, self.db, on_done=self.retrainer.request)
        self.device = device
        self.styles = StylePosteriors(self.root, self.db, classifier, device=str(resolve_device(device)))
        self._scan_lock = threading.Lock()
        self._scanned_at = 0.0
        self._map_cache: tuple[tuple[str, ...], list[dict]] | None = None
        self._map_lock = threading.Lock()

    def scan(self, force: bool = False) -> None:
        """Register new candidate files; at most every few seconds unless forced (scans stat every file)."""
        with self._scan_lock:
            if not force and time.monotonic() - self._scanned_at < 3.0:
                return
            folder = self.root / "candidates"
            if folder.is_dir():
                for sub in sorted(folder.iterdir()):
                    if sub.is_dir() and not sub.name.startswith("."):
                        self.db.scan(sub)
            self._scanned_at = time.monotonic()

    def run_dir(self, name: str) -> Path:
        path = resolve_under(self.root, name) if name not in ("", ".") else self.root
        if path is None or not (path / "run.json").is_file():
            raise HTTPException(404, f"no run {name!r} under the studio root")
        return path

    def stats(self, set_name: str | None, client: str) -> dict:
        sets = self.db.sets()
        chosen = [s for s in sets if s["name"] == set_name] if set_name else sets
        total = {k: sum(s[k] for s in chosen) for k in ("total", "kept", "rejected", "left")}
        return {**total, "rate_per_min": round(self.db.rate_per_minute(client), 1), "model": self.retrainer.status()}

    def url(self, rel: str) -> str:
        return "/files/" + rel


def client_of(request: Request) -> str:
    value = request.headers.get("x-belamy-client", "")
    return value if _CLIENT.match(value) else "anonymous"


def check_hash(digest: str) -> str:
    if not _HASH.match(digest):
        raise HTTPException(404, "no such candidate")
    return digest


def create_app(root: Path, token: str | None = None, loopback_only: bool = True, retrain_every: int = 10,
               device: str = "auto", host: str = "127.0.0.1", classifier: Path | None = None) -> FastAPI:
    studio = Studio(root, retrain_every=retrain_every, device=device, classifier=classifier)
    guard = Guard(token, loopback_only, host)
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        studio.retrainer.stop()  # the thread would otherwise outlive an app made in tests

    app = FastAPI(title="belamy studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.studio = studio
    app.state.guard = guard

    @app.middleware("http")
    async def headers_middleware(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # Outermost (added last): who is asking and how big a body, judged before anything reads it.
    app.add_middleware(guard.gate)

    @app.exception_handler(BelamyError)
    async def belamy_error(request: Request, exc: BelamyError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def page(name: str) -> HTMLResponse:
        html = (STATIC / name).read_text(encoding="utf-8").replace("{{CSRF}}", guard.csrf)
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                                           "style-src 'self'; script-src 'self'; frame-ancestors 'none'"})

    def page_route(name: str):
        def endpoint() -> HTMLResponse:  # no parameters: nothing in the request picks the file
            return page(name)
        return endpoint

    for route, name in PAGES.items():
        app.add_api_route(route, page_route(name), methods=["GET"], response_class=HTMLResponse, include_in_schema=False)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():  # the pages link the SVG; this is for whatever asks the old way
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    # ------------------------------------------------------------------ files

    @app.get("/files/{path:path}")
    def serve_file(path: str):
        target = resolve_under(studio.root, path)
        if target is None or not target.is_file() or target.suffix.lower() not in SERVED_SUFFIXES:
            raise HTTPException(404, "no such image")
        return FileResponse(target, headers={"Cache-Control": "max-age=60"})

    @app.get("/api/image/{digest}")
    def serve_candidate(digest: str):
        c = studio.db.candidate(check_hash(digest))
        target = resolve_under(studio.root, c.path) if c else None
        if target is None or not target.is_file():
            raise HTTPException(404, "no such candidate image")
        # Content-addressed: the bytes behind a hash never change.
        return FileResponse(target, headers={"Cache-Control": "private, max-age=31536000, immutable"})

    # ------------------------------------------------------------------ runs

    @app.get("/api/runs")
    def runs():
        return {"runs": [read_run(r, studio.root) for r in find_runs(studio.root)], "jobs": [j.to_json() for j in studio.jobs.all()]}

    @app.get("/api/run")
    def run(run: str = Query(..., max_length=1000), since: int = Query(0, ge=0)):
        folder = studio.run_dir(run)
        return {"run": read_run(folder, studio.root), "metrics": read_metrics(folder, since)}

    @app.post("/api/generate", status_code=202)
    def generate(body: GenerateBody):
        folder = studio.run_dir(body.run)
        job = studio.jobs.submit(folder, body.checkpoint, body.n, body.seed, body.truncation, studio.device)
        return job.to_json()

    @app.get("/api/jobs/{job_id}")
    def job(job_id: int):
        found = studio.jobs.get(job_id)
        if found is None:
            raise HTTPException(404, "no such job")
        return found.to_json()

    # ------------------------------------------------------------------ curation

    @app.get("/api/sets")
    def sets():
        studio.scan(force=True)
        # Entries passed over (links out of the root): said here and once in the log, never a 500.
        return {"sets": studio.db.sets(), "skipped": studio.db.skipped_entries()}

    @app.get("/api/next")
    def next_candidates(request: Request, set: str | None = Query(None, max_length=300),
                        mode: Literal["uncertain", "likely", "order", "ambiguous"] = "uncertain",
                        limit: int = Query(3, ge=1, le=50), exclude: str = Query("", max_length=20000)):
        studio.scan()
        skip = tuple(h for h in exclude.split(",") if _HASH.match(h))
        offered = (studio.styles.most_ambiguous(set or None, limit + 8, skip) if mode == "ambiguous"
                   else studio.db.next_candidates(set or None, mode, limit + 8, skip))
        # A file deleted since the last scan is not offered (its image would be a 404 on the page).
        found = [c for c in offered if (studio.root / c.path).is_file()][:limit]
        return {"candidates": studio.styles.attach(found), "stats": studio.stats(set or None, client_of(request))}

    @app.post("/api/decide")
    def decide(body: DecideBody, request: Request, set: str | None = Query(None, max_length=300)):
        try:
            studio.db.decide(body.hash, body.decision, client_of(request))
        except KeyError:
            raise HTTPException(404, "no such candidate") from None
        studio.retrainer.notify()
        return {"ok": True, "stats": studio.stats(set or None, client_of(request))}

    @app.post("/api/undo")
    def undo(body: EmptyBody, request: Request, set: str | None = Query(None, max_length=300)):
        undone = studio.db.undo(client_of(request))
        candidate = studio.db.candidate(undone["hash"]) if undone and undone["restored"] else None
        return {"undone": undone, "candidate": studio.styles.attach([candidate])[0] if candidate else None,
                "stats": studio.stats(set or None, client_of(request))}

    @app.get("/api/stats")
    def stats(request: Request, set: str | None = Query(None, max_length=300)):
        return studio.stats(set or None, client_of(request))

    @app.post("/api/retrain", status_code=202)
    def retrain(body: EmptyBody):
        studio.retrainer.request()
        return studio.retrainer.status()

    @app.get("/api/model")
    def model():
        return studio.retrainer.status()

    @app.get("/api/candidate/{digest}")
    def candidate(digest: str):
        c = studio.db.candidate(check_hash(digest))
        if c is None:
            raise HTTPException(404, "no such candidate")
        return studio.styles.attach([c])[0]

    # ------------------------------------------------------------------ gallery

    @app.get("/api/map")
    def works_map():
        kept = [c for c in studio.db.candidates(decision="keep") if (studio.root / c.path).is_file()]
        key = tuple(c.hash for c in kept)
        with studio._map_lock:
            if studio._map_cache and studio._map_cache[0] == key:
                return {"works": studio._map_cache[1]}
            xy = layout_2d(studio.features.colour(kept)) if kept else []
            works = [{**c.to_json(), "x": float(p[0]), "y": float(p[1])} for c, p in zip(kept, xy, strict=True)]
            studio._map_cache = (key, works)
        return {"works": works}

    @app.post("/api/travel")
    def travel(body: TravelBody):
        a, b = studio.db.candidate(body.a), studio.db.candidate(body.b)
        if a is None or b is None:
            raise HTTPException(404, "no such candidate")
        frames = render_travel(studio.root, a, b, body.frames, studio.device)
        return {"frames": ["/files/" + p.relative_to(studio.root).as_posix() for p in frames]}

    from belamy.studio.draw import create_draw_router

    app.include_router(create_draw_router(studio))
    return app
