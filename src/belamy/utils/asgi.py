"""The gate in front of belamy's web servers (the studio, the exhibit): who may ask, and how much body.

Frameworks read a JSON body whole before validating it, so five 300 MB POSTs hold 1.5 GB, and an
HTTP middleware runs only after that. This plain ASGI middleware stands in front of everything:

1. ``admit(scope)`` judges the request from its headers alone (Host, token, CSRF, Origin); a refusal
   is sent before a byte of the body is read, and the connection closed, so the rest is never taken.
2. A declared ``Content-Length`` over the route's limit is refused with 413, unread; a body of
   unknown length (chunked) is counted as it arrives and refused the moment it passes the limit.
3. All bodies held at once share one :class:`BodyBudget`: a request that would take it past its total
   is refused with 503 (``Retry-After``) instead of buffered, so a hundred large requests at once
   hold no more than the budget, however many arrive.
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


class BodyBudget:
    """Bytes of request bodies held at once, across every request of a server (its event loop's thread)."""

    def __init__(self, total: int):
        self.total, self.held = total, 0

    def take(self, n: int) -> bool:
        if self.held + n > self.total:
            return False
        self.held += n
        return True

    def give(self, n: int) -> None:
        self.held -= n


BUSY = "the server is busy with other large requests: try again in a moment"


class RequestGate:
    """ASGI middleware: ``admit`` from the headers, then a body of at most ``limit_for(method, path)`` bytes
    within ``budget``, read here and handed on as one message."""

    def __init__(self, app, limit_for: Callable[[str, str], int], admit: Callable[[Scope], Any] | None = None,
                 budget: BodyBudget | None = None):
        self.app = app
        self.limit_for = limit_for
        self.admit = admit  # scope -> None to go on, or an ASGI response app that refuses (e.g. a JSONResponse)
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.admit(scope) if self.admit is not None else None
        if refusal is not None:
            await refusal(scope, _nothing, _closing(send))
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
        claim = _Claim(self.budget)
        try:
            if declared is not None and not claim.grow(int(declared)):  # the whole body, before reading any
                await _refuse(send, 503, BUSY)
                return
            first = await self._read(receive, send, limit, claim)
            if first is not None:
                await self.app(scope, _replay(first, receive), send)
        finally:
            claim.release()  # once the app is done with the body, not before

    @staticmethod
    async def _read(receive: Receive, send: Send, limit: int, claim: _Claim) -> Message | None:
        """The whole body as one message (or the disconnect that came instead); None once refused."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message  # a disconnect: pass it on as it is
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(send, 413, f"request body too large: this route takes at most {limit} bytes")
                return None
            if not claim.grow(len(body)):
                await _refuse(send, 503, BUSY)
                return None
            if not message.get("more_body", False):
                return {"type": "http.request", "body": bytes(body), "more_body": False}


class _Claim:
    """The part of a :class:`BodyBudget` one request holds (none without a budget)."""

    def __init__(self, budget: BodyBudget | None):
        self.budget, self.held = budget, 0

    def grow(self, n: int) -> bool:
        if self.budget is None or n <= self.held:
            return True
        if not self.budget.take(n - self.held):
            return False
        self.held = n
        return True

    def release(self) -> None:
        if self.budget is not None:
            self.budget.give(self.held)
        self.held = 0


def _replay(first: Message, receive: Receive) -> Receive:
    """The body (or disconnect) read by the gate, then whatever the server's ``receive`` says next."""
    handed = False

    async def replay() -> Message:
        nonlocal handed
        if not handed:
            handed = True
            return first
        return await receive()  # later calls wait for a disconnect, as the server's own receive does

    return replay


async def _nothing() -> Message:
    """The ``receive`` of a refused request: its body is never read."""
    return {"type": "http.disconnect"}


def _closing(send: Send) -> Send:
    """``send`` with ``Connection: close`` on the response: the unread body is dropped with the connection."""
    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await send(message)
    return closing


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
