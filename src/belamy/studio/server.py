"""`belamy studio`: serve the app with uvicorn, on loopback unless told otherwise (then with a token)."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from belamy.errors import BelamyError
from belamy.utils.loopback import is_loopback
from belamy.utils.progress import console


def serve(root: Path, host: str = "127.0.0.1", port: int = 8700, retrain_every: int = 10, device: str = "auto",
          token: str | None = None, classifier: Path | None = None) -> None:
    try:
        import uvicorn

        from belamy.studio.app import create_app
    except ImportError as exc:
        raise BelamyError(f"the studio needs fastapi and uvicorn ({exc.name} is missing)",
                          "pip install 'belamy[studio]'") from None

    if not 1 <= port <= 65535:
        raise BelamyError(f"--port {port} is not valid", "use a port from 1 to 65535 (above 1024 needs no privileges)")
    root = Path(root)
    if not root.is_dir():
        raise BelamyError(f"studio root {root} is not a folder", "give --root a folder holding runs and candidates")
    loopback = is_loopback(host)
    if not loopback and token is None:
        token = secrets.token_urlsafe(24)  # anyone on the network could otherwise curate, generate, read files
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise BelamyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", "choose another --port") from None
    app = create_app(root, token=token, loopback_only=loopback, retrain_every=retrain_every, device=device,
                     host=host, classifier=classifier)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"belamy studio on {address}  (root {root.resolve()}; Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
