"""Shared fixtures: a tiny synthetic corpus and a tiny trained run, made in seconds."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("BELAMY_QUIET", "1")

SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def synthetic_portraits(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Little 'portraits': a warm or cool background gradient and an oval face, varied per image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        bg_top, bg_bottom = rng.uniform(20, 120, 3), rng.uniform(10, 80, 3)
        img = bg_top * (1 - yy[..., None]) + bg_bottom * yy[..., None]
        cx, cy = 0.5 + rng.uniform(-0.08, 0.08), 0.42 + rng.uniform(-0.06, 0.06)
        rx, ry = rng.uniform(0.16, 0.22), rng.uniform(0.22, 0.28)
        face = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
        img[face] = rng.uniform(150, 235, 3) * np.array([1.0, 0.85, 0.7])
        shoulders = ((xx - 0.5) / 0.45) ** 2 + ((yy - 1.05) / 0.35) ** 2 <= 1.0
        img[shoulders] = rng.uniform(10, 90, 3)
        out[i] = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return out


STYLE_NAMES = ("checks", "hstripes", "vstripes")


def synthetic_styles(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Little 'paintings' in three 'styles' told apart by texture (horizontal stripes, vertical
    stripes, checks) in random colours and phases; the labels cycle through STYLE_NAMES."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = []
    for i in range(n):
        style = STYLE_NAMES[i % len(STYLE_NAMES)]
        period = rng.uniform(4, 8)
        phase_y, phase_x = rng.uniform(0, period, 2)
        wave_y, wave_x = np.sin(2 * np.pi * (yy + phase_y) / period), np.sin(2 * np.pi * (xx + phase_x) / period)
        pattern = {"hstripes": wave_y, "vstripes": wave_x, "checks": wave_y * wave_x}[style] > 0
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        img = np.where(pattern[..., None], a, b) + rng.normal(0, 6, (size, size, 3))
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
        labels.append(style)
    return out, labels


def write_corpus(folder: Path, images: np.ndarray, labels: list[str] | None = None) -> Path:
    """A corpus folder in belamy's on-disk format, written directly (no builder needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images)
    with open(folder / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for i in range(len(images)):
            label = labels[i] if labels else None
            record = {"index": i, "source": f"synthetic/{label or 'all'}/img-{i:04d}.png", "sha256": f"{i:064x}",
                      "width": images.shape[2], "height": images.shape[1], "title": f"Synthetic {i}", "year": None}
            if label:
                record["label"] = label
            fh.write(json.dumps(record) + "\n")
    (folder / "corpus.json").write_text(json.dumps(
        {"format": "belamy-corpus", "version": 1, "size": int(images.shape[1]), "count": int(len(images)),
         "created": "2026-01-01T00:00:00Z", "sources": ["synthetic"]}))
    for name in ("rejects.jsonl", "duplicates.jsonl"):
        (folder / name).write_text("")
    return folder


@pytest.fixture
def one_torch_thread():
    """Tiny convolutions on a shared 2-core machine run far faster on one thread than on two that contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def styles_corpus(tmp_path: Path) -> Path:
    """60 synthetic 'paintings' in three texture styles at 32², labelled by folder (and a label field)."""
    images, labels = synthetic_styles(60, 32)
    return write_corpus(tmp_path / "styles", images, labels)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """64 synthetic portraits at 32²."""
    return write_corpus(tmp_path / "corpus", synthetic_portraits(64, 32))


def tiny_train_options(corpus: Path, out: Path, **overrides):
    from belamy.gan.options import TrainOptions

    settings = dict(corpus=corpus, out=out, arch="dcgan", res=32, kimg=0.256, batch=16, ngf=8, ndf=8, nz=16,
                    tick_kimg=0.064, snapshot_ticks=2, keep=3, seed=3, device="cpu", grid_size=4)
    settings.update(overrides)
    return TrainOptions.of(**settings)


@pytest.fixture
def tiny_run(tiny_corpus: Path, tmp_path: Path) -> Path:
    """A DCGAN trained for a few steps at 32² (seconds on a CPU)."""
    from belamy.gan import train

    return train(tiny_train_options(tiny_corpus, tmp_path / "run")).run_dir


def random_run(folder: Path, arch: str = "dcgan", **cfg) -> Path:
    """A run folder holding one checkpoint of random weights, scaled so images have real contrast."""
    import torch
    from torch import nn

    from belamy.models.registry import get_architecture
    from belamy.trainer.checkpoint import module_tensors, save_checkpoint

    a = get_architecture(arch)
    config = a.make_config(**cfg)
    torch.manual_seed(0)
    G = a.make_generator(config)
    for m in G.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.25)
    if hasattr(G, "mapping"):  # a mean w away from the origin, so truncation visibly pulls somewhere
        G.mapping.w_avg.normal_()
    save_checkpoint(folder / "checkpoints", 64, module_tensors("G", G), {"arch": arch, "model": config.to_dict(), "kimg": 0.064})
    return folder


# ----------------------------------------------------------------------------- the browser tests

CHROMIUM = Path(os.environ.get("BELAMY_CHROMIUM") or "/usr/bin/chromium")  # Debian's, unless told otherwise
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What the browser itself logs while a server is down on purpose (the exhibit's restart test).
NETWORK_FAILURES = ("WebSocket connection to", "net::ERR_CONNECTION_REFUSED", "net::ERR_CONNECTION_RESET",
                    "net::ERR_EMPTY_RESPONSE")


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by Playwright; a missing chromium fails the test (never a silent skip)."""
    if not CHROMIUM.exists():
        pytest.fail(f"chromium is missing at {CHROMIUM}: the browser tests need it. Install it with "
                    "`apt-get update && apt-get install -y chromium`, or set BELAMY_CHROMIUM to a Chromium binary",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageErrors:
    """Collects every uncaught exception and console error of the pages it watches; the test fails on any.

    Call the object on each page right after creating it. Inside ``with errors.server_down():`` the
    browser's own connection-refused messages are expected; the pages' own errors still count.
    """

    def __init__(self):
        self.seen: list[str] = []
        self._down = False

    def __call__(self, page):
        page.on("pageerror", lambda exc: self.seen.append(f"{page.url}: uncaught {exc}"))
        page.on("console", lambda msg: self._console(page, msg))
        return page

    def _console(self, page, msg) -> None:
        if msg.type != "error":
            return
        if self._down and any(s in msg.text for s in NETWORK_FAILURES):
            return
        where = msg.location.get("url", "") if msg.location else ""
        self.seen.append(f"{page.url}: console error {msg.text!r}" + (f" (from {where})" if where else ""))

    def server_down(self):
        import contextlib

        @contextlib.contextmanager
        def window():
            self._down = True
            try:
                yield
            finally:
                self._down = False
        return window()


@pytest.fixture
def page_errors():
    """``page_errors(page)`` watches a page; the test fails at the end if any watched page logged an error."""
    errors = PageErrors()
    yield errors
    assert not errors.seen, "errors on the page:\n" + "\n".join(errors.seen)


@pytest.fixture(autouse=True)
def no_signing_identity(monkeypatch):
    """Tests write unsigned files unless they make an identity: a developer's own keys must not change them."""
    monkeypatch.setenv("BELAMY_KEYS", "none")


@contextlib.contextmanager
def serve_in_thread(app):
    """An ASGI ``app`` (the studio's) on a free loopback port, in a thread; yields its address."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(300):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(30)


# Runs ``belamy`` and, as it exits, copies its /proc status (VmHWM: this process's own peak since exec)
# to the file named by the first argument. ``wait4``'s ru_maxrss would not do: a child forked from a
# test session keeps the session's high-water mark across exec, so it reads as large as pytest.
_PEAK_PROBE = """\
import atexit, runpy, sys
peak_file = sys.argv.pop(1)
def _record():
    with open("/proc/self/status") as status, open(peak_file, "w") as out:
        out.write(status.read())
atexit.register(_record)
sys.argv[0] = "belamy"
runpy.run_module("belamy", run_name="__main__", alter_sys=True)
"""


def belamy_measured(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``belamy ARGS`` in a child process, as a user runs it; ``.peak_mb`` is that child's own peak
    memory (VmHWM, read by the child itself as it exits)."""
    import re
    import sys
    import tempfile

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "BELAMY_QUIET": "1", "PYTHONPATH": str(repo / "src"), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "status"
        proc = subprocess.run([sys.executable, "-c", _PEAK_PROBE, str(peak_file), *args], capture_output=True,
                              text=True, env=env, cwd=cwd or repo)
        proc.peak_mb = int(re.search(r"VmHWM:\s*(\d+) kB", peak_file.read_text()).group(1)) / 1024
    return proc


def belamy_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``belamy ARGS`` in a child process, as a user runs it (one thread, no progress bar)."""
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "BELAMY_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, timeout=timeout, env=env)


def one_line_refusal(done: subprocess.CompletedProcess, message: str) -> None:
    """The command refused in one line of its own, with exit status 2."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
