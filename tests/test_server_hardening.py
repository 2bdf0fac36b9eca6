"""The studio and the exhibit against a hostile page and a hostile client: DNS-rebinding Host names and
foreign WebSocket origins are refused, request bodies are capped before they are read, and links out of
the root in a candidate set are passed over (reported once) instead of breaking the curate page."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import random_run
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from belamy.provenance.embed import save_png
from belamy.studio.app import create_app as studio_app
from belamy.utils.loopback import host_allowed, is_loopback, same_origin

STUDIO = "http://127.0.0.1:8700"
EXHIBIT = "http://127.0.0.1:8750"
HOSTILE_HOSTS = ["127.evil.example", "127.0.0.1.nip.io:8700", "127.0.0.1.evil.example", "localhost.evil.example",
                 "evil.example:8700", "127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "", "127.0.0.1:80:80", "[::1"]
LOOPBACK_HOSTS = ["127.0.0.1:8700", "localhost:8700", "LOCALHOST", "127.5.6.7", "[::1]:8700", "[::1]", "localhost"]


def write_pictures(folder: Path, n: int) -> None:
    import numpy as np

    rng = np.random.default_rng(len(str(folder)))
    for i in range(n):
        save_png(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), folder / f"pic-{i:03d}.png", {"seed": i})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write_pictures(root / "candidates" / "set-a", 3)
    return root


# --------------------------------------------------------------------------- loopback names (DNS rebinding)


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_a_name_that_only_looks_like_loopback_is_not_loopback(host):
    assert not host_allowed(host, "127.0.0.1")


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_names_and_addresses_are_accepted_with_any_port(host):
    assert host_allowed(host, "127.0.0.1")


def test_the_configured_host_is_accepted_and_bind_addresses_are_judged_exactly():
    assert host_allowed("studio.local:8700", "studio.local") and not host_allowed("studio.local.evil:1", "studio.local")
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("127.evil.example", "0.0.0.0", "::", "192.168.1.5", "::ffff:127.0.0.1"))
    assert same_origin(None, "127.0.0.1:8700") and same_origin("http://127.0.0.1:8700", "127.0.0.1:8700")
    assert not same_origin("http://evil.example", "127.0.0.1:8700") and not same_origin("null", "127.0.0.1:8700")


@pytest.mark.parametrize("host", ["127.evil.example", "127.0.0.1.nip.io:8700", "localhost.evil.example:8700"])
def test_the_studio_refuses_a_rebound_dns_name(root: Path, host: str):
    with TestClient(studio_app(root, retrain_every=1000), base_url=STUDIO) as client:
        assert client.get("/api/stats", headers={"Host": host}).status_code == 403
        assert client.get("/", headers={"Host": host}).status_code == 403
        for good in ("localhost:8700", "127.0.0.2:8700", "[::1]:8700"):
            assert client.get("/api/stats", headers={"Host": good}).status_code == 200


def test_the_studio_accepts_the_host_it_was_told_to_bind(root: Path):
    with TestClient(studio_app(root, retrain_every=1000, host="studio.local"), base_url="http://studio.local:8700") as c:
        assert c.get("/api/stats").status_code == 200
        assert c.get("/api/stats", headers={"Host": "127.evil.example"}).status_code == 403


@pytest.fixture(scope="module")
def exhibit_run(tmp_path_factory) -> Path:
    return random_run(tmp_path_factory.mktemp("exhibit") / "run", res=16, nz=16, ngf=8, ndf=8)


def exhibit_app(run: Path, **kwargs):
    from belamy.exhibit.engine import TorchEngine
    from belamy.exhibit.frames import FrameGenerator, ScreenSpec
    from belamy.exhibit.server import create_app
    from belamy.exhibit.stream import FrameProducer
    from belamy.generate.loader import load_generator

    gen = load_generator(run, device="cpu")
    producer = FrameProducer(FrameGenerator(TorchEngine(gen, threads=1), [ScreenSpec(number=1, seed=1)], res=16,
                                            frames_per_face=4), 0.0)
    return create_app(producer, start=False, **kwargs)


def test_the_exhibit_refuses_a_rebound_dns_name_and_a_foreign_websocket_origin(exhibit_run: Path):
    with TestClient(exhibit_app(exhibit_run), base_url=EXHIBIT) as client:
        assert client.get("/screen/1").status_code == 200
        assert client.get("/screen/1", headers={"host": "127.evil.example:8750"}).status_code == 403
        assert client.get("/health", headers={"host": "127.0.0.1.nip.io"}).status_code == 403
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(
                "ws://127.0.0.1:8750/ws/1", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()  # a page on another site may not watch the show
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(
                "ws://127.0.0.1:8750/ws/1", headers={"host": "127.attacker.example:8750"}) as ws:
            ws.receive_json()
        with client.websocket_connect("ws://127.0.0.1:8750/ws/1", headers={"origin": EXHIBIT}) as ws:
            assert ws.receive_json()["type"] == "hello"  # its own page may


# --------------------------------------------------------------------------- request bodies


@contextlib.contextmanager
def serving(app):
    """``app`` on a real loopback socket (uvicorn in a thread); yields the port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the test server did not start"
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def stream_post(port: int, path: str, headers: dict[str, str], total: int, chunk: int = 1 << 16,
                host: str | None = None) -> tuple[int, int]:
    """POST up to ``total`` bytes with chunked encoding, stopping as soon as the server answers or hangs up.
    Returns (status, body bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = [f"POST {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", "Transfer-Encoding: chunked",
            *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    block = f"{chunk:x}\r\n".encode() + b"[" * chunk + b"\r\n"
    sent = 0
    with sock:
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(block)
                sent += chunk
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server closed its side: it will not read the rest
        sock.settimeout(10)
        reply = b""
        with contextlib.suppress(OSError):
            while b"\r\n" not in reply:
                data = sock.recv(4096)
                if not data:
                    break
                reply += data
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
    return status, sent


def test_a_300_mb_streamed_post_is_refused_early_without_being_buffered(root: Path):
    app = studio_app(root, retrain_every=1000)
    headers = {"X-Belamy-CSRF": app.state.guard.csrf, "Content-Type": "application/json"}
    with serving(app) as port:
        status, sent = stream_post(port, "/api/decide", headers, total=300 * 2**20)
        assert status == 413
        assert sent < 32 * 2**20, f"the server took {sent / 2**20:.0f} MB before refusing"
        # A declared length over the cap: refused before a byte of the body is sent.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {300 * 2**20}\r\n"
                         f"Content-Type: application/json\r\nX-Belamy-CSRF: {app.state.guard.csrf}\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
        # The studio still answers, and a small body still goes through.
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/retrain", body=b"{}", headers=headers)
        assert conn.getresponse().status == 202
        conn.close()


def test_each_studio_route_has_its_body_cap_and_the_exhibit_takes_none(root: Path, exhibit_run: Path):
    with TestClient(studio_app(root, retrain_every=1000), base_url=STUDIO) as client:
        h = {"X-Belamy-CSRF": client.app.state.guard.csrf, "Content-Type": "application/json"}
        big = client.post("/api/decide", content=b" " * 2000 + b"{}", headers=h)
        assert big.status_code == 413 and "at most 1024 bytes" in big.json()["detail"]
        assert client.post("/api/generate", content=b" " * 2000 + b'{"run": "x"}', headers=h).status_code == 404
        assert client.post("/api/generate", content=b" " * 5000 + b"{}", headers=h).status_code == 413
    with TestClient(exhibit_app(exhibit_run), base_url=EXHIBIT) as client:
        assert client.post("/health", content=b"x" * 10_000).status_code == 413


@pytest.mark.parametrize("who", ["foreign host", "no token", "no csrf"])
def test_a_request_refused_for_who_sends_it_is_refused_before_its_body_is_read(root: Path, who: str):
    """A foreign Host, a missing token or CSRF header: answered from the headers, the 64 MB body never taken."""
    token = "s3cret" if who == "no token" else None
    app = studio_app(root, retrain_every=1000, token=token, loopback_only=token is None)
    headers = {"Content-Type": "application/json"} | ({} if who == "no csrf" else {"X-Belamy-CSRF": app.state.guard.csrf})
    with serving(app) as port:
        status, sent = stream_post(port, "/api/draw/keep", headers, total=64 * 2**20,
                                   host="evil.example:8700" if who == "foreign host" else None)
        assert status == {"foreign host": 403, "no token": 401, "no csrf": 403}[who]
        assert sent < 8 * 2**20, f"the server took {sent / 2**20:.0f} MB before refusing"


def test_the_exhibit_judges_who_asks_before_reading_a_body(exhibit_run: Path):
    with serving(exhibit_app(exhibit_run)) as port:
        assert stream_post(port, "/health", {}, total=64 * 2**20, host="rebound.example") [0] == 403
        assert stream_post(port, "/health", {}, total=64 * 2**20)[0] == 413  # our own host: the size cap


def test_large_bodies_held_at_once_share_one_budget_and_the_rest_are_told_to_retry(root: Path):
    app = studio_app(root, retrain_every=1000)
    head = (f"POST /api/draw/keep HTTP/1.1\r\nHost: 127.0.0.1:{{port}}\r\nContent-Type: application/json\r\n"
            f"X-Belamy-CSRF: {app.state.guard.csrf}\r\nContent-Length: {16 << 20}\r\n\r\n")
    with serving(app) as port, contextlib.ExitStack() as stack:
        slow = []
        for _ in range(3):  # three 16 MB drawings on their way: the budget (48 MB) is theirs
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            sock.sendall(head.format(port=port).encode() + b"{" * 4096)
            slow.append(sock)
        for _ in range(300):  # until the server has seen all three (it takes what they declare at once)
            if app.state.guard.budget.held == 48 << 20:
                break
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head.format(port=port).encode())
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in reply.lower()
        for sock in slow:  # they give up: their share of the budget comes back
            sock.close()
        import http.client

        for _ in range(50):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", "/api/draw/keep", body=b"x" * (8 << 20), headers={
                    "X-Belamy-CSRF": app.state.guard.csrf, "Content-Type": "application/json"})
                status = conn.getresponse().status
            except (ConnectionResetError, BrokenPipeError):
                status = 503  # refused (and hung up on) before the body was all sent
            finally:
                conn.close()
            if status != 503:
                break
            time.sleep(0.1)  # the server notices the closed connections as its loop comes round
        assert status == 422  # read, and judged as a drawing (not JSON): the budget was given back


# --------------------------------------------------------------------------- links out of the root


def test_links_out_of_the_root_in_a_candidate_set_are_skipped_and_reported_once(root: Path, tmp_path: Path, caplog):
    outside = tmp_path / "outside"
    write_pictures(outside, 2)
    os.symlink(outside / "pic-000.png", root / "candidates" / "set-a" / "zz-link.png")
    os.symlink(outside, root / "candidates" / "set-linked")
    with caplog.at_level(logging.WARNING, logger="belamy.studio"), \
            TestClient(studio_app(root, retrain_every=1000), base_url=STUDIO) as client:
        for _ in range(3):
            listing = client.get("/api/sets")
            assert listing.status_code == 200
            nxt = client.get("/api/next", params={"limit": 10, "mode": "order"})
            assert nxt.status_code == 200
        assert [s["name"] for s in listing.json()["sets"]] == ["set-a"]
        assert listing.json()["skipped"] == [
            {"path": "candidates/set-a/zz-link.png", "reason": "a symbolic link out of the studio root: not offered"},
            {"path": "candidates/set-linked", "reason": "a symbolic link out of the studio root: not offered"}]
        names = sorted(c["name"] for c in nxt.json()["candidates"])
        assert names == ["pic-000.png", "pic-001.png", "pic-002.png"]  # the page stays usable
    warnings = [r.getMessage() for r in caplog.records if r.name == "belamy.studio"]
    assert len(warnings) == 2 and all(w.startswith("skipped candidates/") for w in warnings)  # once each
