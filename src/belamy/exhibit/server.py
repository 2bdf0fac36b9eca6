"""`belamy exhibit`: full-screen pages of portraits morphing forever, generated live on this machine.

``/screen/N`` is a kiosk page; it opens ``/ws/N`` and draws each frame it is sent, acknowledging it
to get the next (see :mod:`belamy.exhibit.stream`). ``/health`` reports frames made and clients.
Bound to loopback by default; bound anywhere else, every page and socket needs the printed token.

(No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at runtime,
and the handlers' types are imported inside :func:`create_app` so that fastapi stays optional.)
"""


import asyncio
import contextlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from belamy.errors import BelamyError
from belamy.exhibit.frames import FORMATS, FrameGenerator, ScreenSpec, parse_labels
from belamy.exhibit.stream import FrameProducer
from belamy.utils.loopback import host_allowed, is_loopback, same_origin

BODY_LIMIT = 4096  # no route takes a request body: anything bigger is refused unread
# A small gilt oval frame: the pages link it, so no browser asks for a missing /favicon.ico.
FAVICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
               'fill="#000"/><ellipse cx="16" cy="16" rx="10" ry="12.5" fill="none" stroke="#c9a45c" '
               'stroke-width="3"/></svg>')
ACK_TIMEOUT_S = 60.0  # a client silent this long is gone (or frozen): drop it, it will reconnect


@dataclass
class ExhibitConfig:
    run: Path
    screens: int = 1
    labels: str | None = None
    res: int | None = None
    fps: float = 24.0
    engine: str = "auto"
    truncation: float = 1.0
    seed: int | None = None
    seconds_per_face: float = 4.0
    checkpoint: str = "latest"
    device: str = "auto"
    quality: int = 85
    format: str = "jpeg"
    onnx_model: Path | None = None
    poses: Path | None = None  # a pix2pix run: a folder or video of sketches or poses to paint, looping

    def validate(self) -> None:
        if self.screens not in (1, 2):
            raise BelamyError(f"--screens {self.screens} is not supported", "use 1 or 2")
        if not 0 < self.fps <= 120:
            raise BelamyError(f"--fps {self.fps} is out of range", "use more than 0 and at most 120")
        if not 0.25 <= self.seconds_per_face <= 3600:
            raise BelamyError(f"--seconds-per-face {self.seconds_per_face} is out of range", "use 0.25 to 3600")
        if self.res is not None and not 8 <= self.res <= 4096:
            raise BelamyError(f"--res {self.res} is out of range", "use 8 to 4096 pixels")
        if not 0.0 <= self.truncation <= 2.0:
            raise BelamyError(f"--truncation {self.truncation} is out of range", "use ψ between 0 and 2 (1 = none)")
        if self.format not in FORMATS:
            raise BelamyError(f"--format {self.format} is not supported", f"use one of {', '.join(FORMATS)}")
        if self.seed is not None:
            from belamy.models.latents import check_seed

            check_seed(self.seed)


def build_producer(config: ExhibitConfig) -> FrameProducer:
    """Load the run, pick the engine, and set up one walk per screen."""
    from belamy.exhibit.engine import make_engine
    from belamy.export.onnx import label_names
    from belamy.generate.loader import load_generator

    config.validate()
    if config.poses is not None:
        from belamy.exhibit.poses import build_pose_generator

        return FrameProducer(build_pose_generator(config), config.fps)
    from belamy.generate.translate import checkpoint_arch

    if checkpoint_arch(Path(config.run), config.checkpoint) == "pix2pix":
        raise BelamyError("a pix2pix run paints from sketches or poses, not from noise",
                          "give it a sequence to play: --poses FOLDER_OR_VIDEO")
    gen = load_generator(Path(config.run), config.checkpoint, config.device)
    names = label_names(gen) if gen.num_classes else []
    labels = parse_labels(config.labels, names, config.screens)
    base_seed = config.seed if config.seed is not None else secrets.randbits(63)
    specs = [ScreenSpec(number=i + 1, seed=base_seed + 1_000_003 * i, label=lab,
                        label_name=None if lab is None else names[lab]) for i, lab in enumerate(labels)]
    engine = make_engine(gen, config.engine, config.truncation, batch=config.screens, onnx_model=config.onnx_model)
    frames_per_face = max(1, round(config.seconds_per_face * config.fps))
    generator = FrameGenerator(engine, specs, res=config.res, frames_per_face=frames_per_face, fmt=config.format,
                               quality=config.quality)
    return FrameProducer(generator, config.fps)


def page_html(screen: int, screens: int, query: str = "") -> str:
    """The kiosk page of one screen; ``query`` (the token, off loopback) goes on the page's own requests."""
    template = resources.files("belamy.exhibit").joinpath("static/screen.html").read_text(encoding="utf-8")
    return (template.replace("__SCREEN__", str(screen)).replace("__SCREENS__", str(screens))
            .replace("__QUERY__", query))


def create_app(producer: FrameProducer, host: str = "127.0.0.1", token: str | None = None, start: bool = True):
    """The FastAPI app serving the screens of ``producer``; starts and stops its thread with the app."""
    try:
        from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
        from fastapi.responses import HTMLResponse, JSONResponse, Response
        from starlette.datastructures import Headers, QueryParams
    except ImportError:
        raise BelamyError("the exhibit needs fastapi and uvicorn", "pip install 'belamy[exhibit]'") from None

    loopback_only = is_loopback(host)
    if not loopback_only and not token:
        raise BelamyError(f"binding {host} needs an access token", "use the default host, or pass a token")
    screens = len(producer.slots)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        if start:
            producer.start()
        try:
            yield
        finally:
            producer.stop()

    app = FastAPI(title="belamy exhibit", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def allowed(headers, query) -> bool:
        if loopback_only:
            # a page from another site must not reach us through a rebound DNS name
            return host_allowed(headers.get("host"), host)
        given = query.get("token") or headers.get("x-belamy-token") or ""
        return hmac.compare_digest(given.encode(), token.encode())

    def token_query() -> str:
        """What a page's own links and requests carry: the token, off loopback (quoted for a URL and for HTML)."""
        return f"?token={quote(token, safe='')}" if token and not loopback_only else ""

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def admit(scope):
        """Judged from the headers, before any body is read (sockets are judged in :func:`stream`)."""
        if allowed(Headers(scope=scope), QueryParams(scope.get("query_string", b""))):
            return None
        return JSONResponse({"error": "forbidden: open the address printed by `belamy exhibit`"}, status_code=403)

    from belamy.utils.asgi import RequestGate, route_limits

    app.add_middleware(RequestGate, limit_for=route_limits({}, BODY_LIMIT), admit=admit)  # outermost: added last

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> str:
        suffix = token_query()
        links = "".join(f'<li><a href="/screen/{i}{suffix}">screen {i}</a></li>' for i in range(1, screens + 1))
        return (f'<!doctype html><meta charset="utf-8"><title>belamy exhibit</title>'
                f'<link rel="icon" href="/favicon.svg{suffix}" type="image/svg+xml"><ul>{links}</ul>')

    @app.get("/favicon.svg")
    @app.get("/favicon.ico")
    async def favicon():
        return Response(FAVICON_SVG, media_type="image/svg+xml")

    @app.get("/screen/{number}", response_class=HTMLResponse)
    async def screen_page(number: int):
        if not 1 <= number <= screens:
            return Response("no such screen", status_code=404, media_type="text/plain")
        return page_html(number, screens, token_query())

    @app.get("/health")
    async def health() -> dict:
        gen = producer.generator
        return {"frames": producer.frames_made, "screens": screens, "clients": [s.clients for s in producer.slots],
                "res": gen.res, "fps": producer.fps, "engine": gen.engine.name,
                "labels": [s.label_name for s in gen.screens],
                "error": None if producer.error is None else str(producer.error)}

    @app.websocket("/ws/{number}")
    async def stream(ws: WebSocket, number: int):
        # Browsers let any page open a WebSocket anywhere: only our own pages (same origin) may watch.
        if not allowed(ws.headers, ws.query_params) or not same_origin(ws.headers.get("origin"), ws.headers.get("host")) \
                or not 1 <= number <= screens:
            await ws.close(code=1008)
            return
        await ws.accept()
        slot = producer.slots[number - 1]
        loop, event = asyncio.get_running_loop(), asyncio.Event()
        slot.add_waiter(loop, event)
        spec = producer.generator.screens[number - 1]
        try:
            await ws.send_text(json.dumps({"type": "hello", "screen": number, "label": spec.label_name,
                                           "mime": producer.generator.mime, "res": producer.generator.res,
                                           "model_res": producer.generator.model_res}))
            sent = 0
            while True:
                seq, frame = slot.latest()
                if seq == sent or frame is None:
                    await event.wait()
                    event.clear()
                    continue
                await ws.send_bytes(frame)
                sent = seq
                # the client's ack: no new frame until it has drawn this one (latest-frame-wins). Any
                # message is one, text or binary: a client speaking otherwise is not worth a traceback.
                message = await asyncio.wait_for(ws.receive(), timeout=ACK_TIMEOUT_S)
                if message["type"] == "websocket.disconnect":
                    break
        except (WebSocketDisconnect, TimeoutError, RuntimeError, OSError):  # gone, silent, or closed mid-send
            pass
        finally:
            slot.remove_waiter(loop, event)

    return app


def check_port_free(host: str, port: int) -> None:
    """A clear error now, rather than uvicorn's exit after the model has loaded."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise BelamyError(f"cannot listen on {host}:{port}: {err.strerror}", "choose another --port, or stop "
                              "what is using it") from None


def serve(config: ExhibitConfig, host: str = "127.0.0.1", port: int = 8750, echo=print) -> None:
    """Load, then serve until interrupted; prints the screens' addresses (with the token off-loopback)."""
    try:
        import uvicorn
        import websockets  # noqa: F401  (uvicorn serves WebSockets only when this is installed)
    except ImportError:
        raise BelamyError("the exhibit needs uvicorn and websockets", "pip install 'belamy[exhibit]'") from None
    if not 1 <= port <= 65535:
        raise BelamyError(f"--port {port} is out of range", "use 1 to 65535")
    token = None if is_loopback(host) else (os.environ.get("BELAMY_EXHIBIT_TOKEN") or secrets.token_urlsafe(18))
    check_port_free(host, port)
    producer = build_producer(config)
    producer.make_one()  # a model that draws nothing (NaN, one flat colour) is one line now, not a black show
    app = create_app(producer, host=host, token=token)
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):  # every interface: name this machine as others on the network see it
        import socket

        shown = socket.gethostname()
    suffix = f"?token={token}" if token else ""
    gen = producer.generator
    echo(f"belamy exhibit: {len(gen.screens)} screen(s) at {gen.res}², {config.fps:g} fps, engine {gen.engine.name}")
    if token:
        echo(f"access token: {token}")
    for spec in gen.screens:
        label = f" ({spec.label_name})" if spec.label_name else ""
        echo(f"  screen {spec.number}{label}: http://{shown}:{port}/screen/{spec.number}{suffix}")
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=1 << 16)
