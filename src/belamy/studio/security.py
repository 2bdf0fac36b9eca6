"""What keeps the studio to its owner: path confinement, an access token off-loopback, and CSRF checks.

- Files are served only from inside the root: the path is resolved (symlinks followed) and must stay
  under the resolved root, so ``..``, ``%2e%2e``, absolute paths and symlinks out all fail with 404.
- Bound to loopback, the Host header must name loopback exactly, or the host we bound (a DNS-rebinding
  page cannot talk to us): see :mod:`belamy.utils.loopback`.
  Bound elsewhere, every request needs the token: header ``X-Belamy-Token`` or the cookie that a
  first visit with ``?token=`` sets.
- All of this is judged from the headers, before a byte of a request's body is read; then bodies are
  capped per route (:data:`BODY_LIMITS`), and all those held at once by :data:`BODY_BUDGET`.
- A state-changing request is a POST with a JSON body, the page's ``X-Belamy-CSRF`` header, and (when the
  browser sends one) an Origin equal to our own. A cross-site form can set neither the header nor JSON.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from belamy.utils.asgi import BodyBudget, RequestGate, route_limits
from belamy.utils.loopback import host_allowed, same_origin

TOKEN_HEADER = "x-belamy-token"
TOKEN_COOKIE = "belamy_token"
CSRF_HEADER = "x-belamy-csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# The largest request body each route takes (belamy.utils.asgi refuses more with 413, unread): every
# POST is a small JSON object; any other route gets the default.
BODY_LIMITS = {"/api/generate": 4096, "/api/decide": 1024, "/api/undo": 1024, "/api/retrain": 1024,
               "/api/travel": 1024,
               # the draw page sends its drawing (a PNG data URL) with every stroke, and the painting to keep
               "/api/draw/paint": 8 << 20, "/api/draw/keep": 16 << 20}
DEFAULT_BODY_LIMIT = 64 * 1024
# The bodies held at once, all requests together: three of the largest (a burst of big drawings waits
# its turn with 503 instead of filling the memory).
BODY_BUDGET = 48 << 20


def resolve_under(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it exists inside ``root`` once every symlink is resolved, else None."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    root = root.resolve()
    try:
        candidate = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    return candidate if candidate.is_relative_to(root) and candidate != root else None


class Guard:
    """The checks run before every request (an HTTP middleware calls :meth:`check`)."""

    def __init__(self, token: str | None, loopback_only: bool, host: str = "127.0.0.1"):
        self.token = token
        self.loopback_only = loopback_only
        self.host = host  # the address bound: its name is accepted in Host headers too
        self.csrf = secrets.token_urlsafe(24)
        self.budget = BodyBudget(BODY_BUDGET)  # the bodies all requests hold at once

    def _token_ok(self, request: Request) -> bool:
        given = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""
        return secrets.compare_digest(given.encode(), self.token.encode())

    def check(self, request: Request) -> Response | None:
        """None when the request may go on; otherwise the response that refuses it."""
        host = request.headers.get("host", "")
        if self.loopback_only and not host_allowed(host, self.host):
            return JSONResponse({"detail": "this studio only answers on localhost"}, status_code=403)
        if self.token is not None and not self._token_ok(request):
            offered = request.query_params.get("token")
            if offered is not None and request.method == "GET" and secrets.compare_digest(offered.encode(), self.token.encode()):
                # First visit with ?token=: set the cookie and drop the token from the address bar.
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = request.url.path + ("?" + urlencode(rest) if rest else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
                return response
            return JSONResponse({"detail": "an access token is needed: open the address the studio printed"},
                                status_code=401)
        if request.method not in SAFE_METHODS:
            return self._check_csrf(request, host)
        return None

    def gate(self, app) -> RequestGate:
        """``app`` behind these checks, made from the headers alone, and the studio's body limits."""
        return RequestGate(app, route_limits(BODY_LIMITS, DEFAULT_BODY_LIMIT), admit=lambda scope: self.check(Request(scope)),
                           budget=self.budget)

    def _check_csrf(self, request: Request, host: str) -> Response | None:
        if request.method != "POST":
            return JSONResponse({"detail": "method not allowed"}, status_code=405)
        given = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(given.encode(), self.csrf.encode()):
            return JSONResponse({"detail": "missing or wrong X-Belamy-CSRF header: reload the page"}, status_code=403)
        if not same_origin(request.headers.get("origin"), host):
            return JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return JSONResponse({"detail": "send a JSON body (Content-Type: application/json)"}, status_code=415)
        return None
