"""`belamy exhibit` as a screen meets it: the served app on a loopback port, frames over a real WebSocket."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import random_run, serve_in_thread
from PIL import Image
from pix2pix_util import head_and_shoulders, random_pix2pix_run

from belamy.exhibit.server import ExhibitConfig, build_producer, create_app


@pytest.fixture(scope="module")
def sketches(tmp_path_factory) -> tuple[Path, Path]:
    """A pix2pix run and a folder of two sketches for it to paint."""
    folder = tmp_path_factory.mktemp("poses")
    run = random_pix2pix_run(folder / "run", res=32)
    (folder / "sketches").mkdir()
    head_and_shoulders(64).save(folder / "sketches" / "a.png")
    head_and_shoulders(64, pen=6).save(folder / "sketches" / "b.png")
    return run, folder / "sketches"


def watch(address: str, screen: int = 1, frames: int = 2, binary_ack: bool = False) -> tuple[dict, list[np.ndarray]]:
    """What a kiosk page does: open /ws/N, read the hello, then draw and acknowledge ``frames`` frames."""
    from websockets.sync.client import connect

    pictures = []
    with connect(address.replace("http://", "ws://") + f"/ws/{screen}", open_timeout=30) as ws:
        hello = json.loads(ws.recv(timeout=60))
        for _ in range(frames):
            data = ws.recv(timeout=60)
            assert isinstance(data, bytes), f"expected a frame, got {data!r}"
            pictures.append(np.asarray(Image.open(io.BytesIO(data))))
            ws.send(b"\x00ack" if binary_ack else "ack")
    return hello, pictures


@pytest.mark.parametrize("engine", ["auto", "onnx", "torch"])
def test_a_pose_exhibit_streams_paintings_over_a_websocket(sketches, engine: str, one_torch_thread):
    run, folder = sketches
    producer = build_producer(ExhibitConfig(run=run, poses=folder, engine=engine, device="cpu", fps=20,
                                            seconds_per_face=0.25, res=48))
    with serve_in_thread(create_app(producer)) as address:
        hello, pictures = watch(address, frames=3)
        health = httpx.get(f"{address}/health", timeout=30)
    assert hello["type"] == "hello" and hello["model_res"] == 32 and hello["res"] == 48
    assert all(p.shape == (48, 48, 3) for p in pictures)
    assert health.status_code == 200 and health.json()["error"] is None and health.json()["frames"] >= 3
    assert health.json()["engine"] in ("torch", "onnx") and (engine == "auto" or health.json()["engine"] == engine)


def test_a_binary_message_is_an_ack_not_a_traceback(tmp_path: Path, caplog, one_torch_thread):
    run = random_run(tmp_path / "run", res=16, nz=16, ngf=8, ndf=8)
    producer = build_producer(ExhibitConfig(run=run, engine="torch", device="cpu", fps=20, seed=3))
    with caplog.at_level(logging.INFO), serve_in_thread(create_app(producer)) as address:
        _, pictures = watch(address, frames=3, binary_ack=True)
    assert len(pictures) == 3  # each binary message let the next frame come
    assert not [r for r in caplog.records if r.exc_info], "the server logged a traceback"
