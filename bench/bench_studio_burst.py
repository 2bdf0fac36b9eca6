"""Studio memory under a burst: 100 clients at once, each sending a 15 MB body the studio must refuse.

Each variant starts the studio as its own process on a free loopback port, lets 100 clients send
``POST /api/draw/keep`` with a 15 MB body at once, and reports the server's peak resident memory
(VmHWM) beside the 600 MB target, and what the clients were answered:

  foreign-host  Host: evil.example (a DNS-rebinding page): refused from the headers (403)
  no-token      a studio in token mode, asked without the token: refused from the headers (401)
  allowed       our own page's headers (Host, CSRF): the bodies are read, up to the studio's body budget;
                the rest are told to retry (503)
  drawings      16 clients (--drawings) at once, each a 2048² drawing (the largest taken) (a small PNG, a large picture) to
                ``POST /api/draw/paint`` on a pix2pix run (random weights, 64²): all are painted, a few at a time

    python bench/bench_studio_burst.py [--clients 100] [--mb 15] [--drawings 16] [--only foreign-host]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from machine import cpu_name

TARGET_MB = 600
TOKEN = "bench-token"
CSRF_PROBE = "/draw"  # the page carries the CSRF token the allowed variant sends back
# The studio in token mode, on loopback (the CLI gives loopback no token): the app the CLI serves.
TOKEN_SERVER = ("import sys, uvicorn; from belamy.studio.app import create_app; "
                "uvicorn.run(create_app(sys.argv[1], token=sys.argv[3], loopback_only=False, device='cpu'), "
                "host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def start_studio(root: Path, port: int, token: bool) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if token:
        cmd = [sys.executable, "-c", TOKEN_SERVER, str(root), str(port), TOKEN]
    else:
        cmd = [sys.executable, "-m", "belamy", "studio", "--root", str(root), "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the studio did not start: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the studio did not start within 120 s")


def csrf_of(port: int) -> str:
    import http.client
    import re

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", CSRF_PROBE)
    html = conn.getresponse().read().decode()
    conn.close()
    found = re.search(r'name="belamy-csrf" content="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token on the draw page")
    return found.group(1)


def client(port: int, head: bytes, body: memoryview, answers: Counter, lock: threading.Lock, go: threading.Event) -> None:
    status = "no answer"
    go.wait()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(head)
            try:
                for start in range(0, len(body), 1 << 16):
                    sock.sendall(body[start : start + (1 << 16)])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server hung up: it will not read the rest
            sock.settimeout(300)  # a drawing waits its turn to be painted
            reply = sock.recv(64)
            if reply.startswith(b"HTTP/1.1 "):
                status = reply.split(b" ", 2)[1].decode()
    except OSError as err:
        status = type(err).__name__
    with lock:
        answers[status] += 1


def pix2pix_run(folder: Path) -> None:
    """A pix2pix run of random weights at 64² (what a drawing costs does not depend on training)."""
    import json

    import torch

    from belamy.models.pix2pix import UNetGenerator, pix2pix_config
    from belamy.trainer.checkpoint import module_tensors, save_checkpoint

    cfg = pix2pix_config(64, "1:1", ngf=8, ndf=8, condition="edges")
    torch.manual_seed(0)
    save_checkpoint(folder / "checkpoints", 64, module_tensors("G", UNetGenerator(cfg)),
                    {"arch": "pix2pix", "model": cfg.to_dict(), "kimg": 0.064})
    (folder / "run.json").write_text(json.dumps({"arch": "pix2pix", "model": cfg.to_dict()}))


def drawing_body(side: int = 2048) -> bytes:
    import base64
    import io
    import json

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (side, side), (255, 255, 255, 255)).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return json.dumps({"run": "runs/sketches", "drawing": url}).encode()


def burst(variant: str, clients: int, mb: int) -> tuple[float, float, Counter]:
    with tempfile.TemporaryDirectory(prefix="belamy-burst-") as tmp:
        root = Path(tmp)
        if variant == "drawings":
            pix2pix_run(root / "runs" / "sketches")
        port = free_port()
        proc = start_studio(root, port, token=variant == "no-token")
        try:
            extra, path = "", "/api/draw/keep"
            host = f"127.0.0.1:{port}"
            if variant == "foreign-host":
                host = "evil.example"
            elif variant in ("allowed", "drawings"):
                extra = f"X-Belamy-CSRF: {csrf_of(port)}\r\nOrigin: http://127.0.0.1:{port}\r\n"
            payload = b"{" * (mb << 20)
            if variant == "drawings":
                path, payload = "/api/draw/paint", drawing_body()
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n{extra}\r\n").encode()
            body = memoryview(payload)
            idle = rss_mb(proc.pid, "VmRSS")
            answers: Counter = Counter()
            lock, go = threading.Lock(), threading.Event()
            threads = [threading.Thread(target=client, args=(port, head, body, answers, lock, go)) for _ in range(clients)]
            for t in threads:
                t.start()
            go.set()
            for t in threads:
                t.join()
            return idle, rss_mb(proc.pid, "VmHWM"), answers
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--mb", type=int, default=15)
    parser.add_argument("--drawings", type=int, default=16)
    parser.add_argument("--only", choices=("foreign-host", "no-token", "allowed", "drawings"))
    args = parser.parse_args()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; {args.clients} clients × {args.mb} MB, POST /api/draw/keep")
    print(f"{'variant':<14} {'idle RSS':>9} {'peak RSS':>9} {'target':>7}  answers")
    for variant in ("foreign-host", "no-token", "allowed", "drawings"):
        if args.only and variant != args.only:
            continue
        idle, peak, answers = burst(variant, args.drawings if variant == "drawings" else args.clients, args.mb)
        verdict = "ok" if peak < TARGET_MB else "OVER"
        shown = ", ".join(f"{n}× {s}" for s, n in sorted(answers.items()))
        print(f"{variant:<14} {idle:>6.0f} MB {peak:>6.0f} MB {TARGET_MB:>4} MB  {shown}  ({verdict})")


if __name__ == "__main__":
    main()
