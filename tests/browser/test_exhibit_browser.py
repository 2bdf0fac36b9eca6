"""The exhibit in a real browser (Debian's chromium, driven by Playwright): two screens stream moving
portraits, and recover by themselves when the server is killed and started again.

Screenshots of both screens land in test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch
from torch import nn

from belamy.models.registry import get_architecture
from belamy.trainer.checkpoint import module_tensors, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"


def random_run(folder: Path) -> Path:
    """A 32² DCGAN run of random weights, scaled so its frames have colour and contrast."""
    arch = get_architecture("dcgan")
    config = arch.make_config(res=32, nz=16, ngf=8, ndf=8)
    torch.manual_seed(0)
    G = arch.make_generator(config)
    for m in G.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.25)
    save_checkpoint(folder / "checkpoints", 64, module_tensors("G", G), {"arch": "dcgan", "model": config.to_dict(), "kimg": 0})
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "BELAMY_QUIET": "1"}
    with open(log, "a") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "belamy", "exhibit", str(run), "--screens", "2", "--port", str(port), "--fps", "12",
             "--res", "96", "--seconds-per-face", "1", "--seed", "7", "--device", "cpu"],
            stdout=fh, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the exhibit server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the exhibit server did not come up:\n{log.read_text()}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.kill()  # as a power cut or a crash would: no goodbye to the clients
    proc.wait(timeout=10)


def frames(page) -> int:
    return page.evaluate("window.belamyFrames")


def picture(page) -> str:
    return page.evaluate("document.getElementById('frame').toDataURL('image/png')")


def test_two_screens_stream_moving_portraits_and_recover_after_a_server_restart(browser, page_errors, tmp_path: Path):
    run = random_run(tmp_path / "run")
    port, log = free_port(), tmp_path / "exhibit.log"
    server = start_server(run, port, log)
    context = browser.new_context(viewport={"width": 480, "height": 360})
    try:
        index = page_errors(context.new_page())  # the list of screens, with its icon
        index.goto(f"http://127.0.0.1:{port}/")
        assert index.locator("a[href='/screen/2']").count() == 1
        index.close()
        pages = [page_errors(context.new_page()) for _ in (1, 2)]
        for n, page in enumerate(pages, start=1):
            page.goto(f"http://127.0.0.1:{port}/screen/{n}")
        for page in pages:
            page.wait_for_function("() => window.belamyFrames >= 3", timeout=30_000)
        # The portraits move: a later frame differs from an earlier one, and the screens differ.
        before = [picture(p) for p in pages]
        for page, count in zip(pages, [frames(p) for p in pages], strict=True):
            page.wait_for_function(f"() => window.belamyFrames >= {count + 4}", timeout=30_000)
        after = [picture(p) for p in pages]
        assert before[0] != after[0] and before[1] != after[1]
        assert after[0] != after[1]
        assert pages[0].evaluate("getComputedStyle(document.body).cursor") == "none"
        size = pages[0].evaluate("[document.getElementById('frame').width, document.getElementById('frame').height]")
        assert size == [96, 96]
        # 96² frames in a 480×360 window: shown at a whole 3×, not stretched to 360 px; the page says so.
        box = pages[0].locator("#frame").bounding_box()
        assert (box["width"], box["height"]) == (288, 288)
        assert pages[0].inner_text("#note") == "32² model, 96² frames, shown at 3×"
        SHOTS.mkdir(parents=True, exist_ok=True)
        for n, page in enumerate(pages, start=1):
            page.screenshot(path=str(SHOTS / f"exhibit-screen-{n}.png"))

        # Kill the server: the pages notice, and keep trying (the browser logs each refused connection).
        with page_errors.server_down():
            stop_server(server)
            for page in pages:
                page.wait_for_function("() => document.body.dataset.state === 'disconnected'", timeout=30_000)
            stalled = [frames(p) for p in pages]
            time.sleep(1.5)
            assert [frames(p) for p in pages] == stalled

            # Start it again on the same port: both pages reconnect by themselves and frames resume.
            server = start_server(run, port, log)
            for page, count in zip(pages, stalled, strict=True):
                page.wait_for_function(f"() => window.belamyFrames >= {count + 5}", timeout=30_000)
                assert page.evaluate("document.body.dataset.state") == "streaming"
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["clients"] == [1, 1]
        for n, page in enumerate(pages, start=1):
            page.screenshot(path=str(SHOTS / f"exhibit-screen-{n}-after-restart.png"))
    finally:
        context.close()
        if server.poll() is None:
            stop_server(server)
