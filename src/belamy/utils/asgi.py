"""A cap on request bodies for belamy's web servers (the studio, the exhibit), per route.

Frameworks read a JSON body whole before validating it, so five 300 MB POSTs hold 1.5 GB. This
plain ASGI middleware stands in front: a declared ``Content-Length`` over the route's limit is
refused with 413 before a byte of the body is read; a body of unknown length (chunked) is counted
as it arrives and refused the moment it passes the limit. At most ``limit`` bytes are ever held.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def route_limits(limits: dict[str, int], default: int) -> Callable[[str, str], int]:
    """A ``limit_for(method, path)``: the limit of the longest matching path prefix, else ``default``."""
    ordered = sorted(limits.items(), key=lambda kv: -len(kv[0]))

    def limit_for(method: str, path: str) -> int:
        return next((limit for prefix, limit in ordered if path.startswith(prefix)), default)

    return limit_for


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over ``limit_for(method, path)`` bytes."""

    def __init__(self, app, limit_for: Callable[[str, str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("method", "GET"), scope.get("path", "/"))
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _refuse(send, 413, f"request body too large: this route takes at most {limit} bytes")
                return
        body = bytearray()
        first: Message | None = None
        while True:  # read the body here, bounded, then hand it on as one message
            message = await receive()
            if message["type"] != "http.request":
                first = message  # a disconnect: pass it on as it is
                break
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(send, 413, f"request body too large: this route takes at most {limit} bytes")
                return
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": bytes(body), "more_body": False}
                break
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return first
            return await receive()  # later calls wait for a disconnect, as the server's own receive does

        await self.app(scope, replay, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
