"""`belamy exhibit`: endless smooth walks, frames streamed latest-first, a guarded server, flat memory."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import random_run
from PIL import Image

from belamy.errors import BelamyError
from belamy.exhibit.engine import TorchEngine
from belamy.exhibit.frames import FrameGenerator, ScreenSpec, parse_labels
from belamy.exhibit.server import ExhibitConfig, build_producer, create_app
from belamy.exhibit.stream import FrameProducer
from belamy.generate.latent_paths import LatentWalk, slerp
from belamy.generate.loader import load_generator

LOCAL = "http://127.0.0.1:8750"  # the server checks the Host header names loopback



@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return random_run(tmp_path_factory.mktemp("exhibit") / "run", res=16, nz=16, ngf=8, ndf=8)


@pytest.fixture(scope="module")
def style_run(tmp_path_factory) -> Path:
    return random_run(tmp_path_factory.mktemp("exhibit") / "style", "style", res=16, nz=16, w_dim=16, map_layers=2,
                      ngf=4, ndf=4, label_names=["portrait", "landscape"])


def producer_for(run: Path, screens: int = 1, res: int | None = 32, fps: float = 0.0, frames_per_face: int = 8):
    gen = load_generator(run, device="cpu")
    specs = [ScreenSpec(number=i + 1, seed=10 + i) for i in range(screens)]
    # One thread: the model is tiny, and a busy shared machine makes more threads spin, not work.
    return FrameProducer(FrameGenerator(TorchEngine(gen, threads=1), specs, res=res, frames_per_face=frames_per_face), fps)


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        return np.asarray(im.convert("RGB"), dtype=np.float32)


# --------------------------------------------------------------------------- the walk


def test_walk_is_smooth_and_passes_through_fresh_keyframes():
    walk = LatentWalk(z_dim=32, seed=5, frames_per_keyframe=20)
    zs = np.stack([walk.step()[0] for _ in range(200)])
    steps = np.linalg.norm(np.diff(zs, axis=0), axis=1)
    keyframes = zs[::20]
    gaps = np.linalg.norm(np.diff(keyframes, axis=0), axis=1)
    # Every step is a small part of the way between faces: no jumps, including at keyframes.
    assert steps.max() < 0.2 * gaps.min()
    # Eased: slow at each keyframe, faster in between.
    assert steps[19] < steps[10] and steps[20] < steps[30]
    # Never repeating: all keyframes differ from each other.
    distances = np.linalg.norm(keyframes[:, None] - keyframes[None], axis=2) + np.eye(len(keyframes)) * 1e9
    assert distances.min() > 1.0
    assert walk.keyframes_drawn == 11  # drawn as reached, never stored ahead


def test_walk_is_reproducible_by_seed_and_differs_between_seeds():
    a, b, c = (LatentWalk(16, seed, 10) for seed in (1, 1, 2))
    za = [a.step()[0] for _ in range(25)]
    zb = [b.step()[0] for _ in range(25)]
    zc = [c.step()[0] for _ in range(25)]
    np.testing.assert_array_equal(np.stack(za), np.stack(zb))
    assert np.abs(np.stack(za) - np.stack(zc)).min() > 0


def test_walk_keeps_the_gaussian_shell_where_a_line_would_cut_through():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(512), rng.standard_normal(512)
    assert abs(np.linalg.norm(slerp(a, b, 0.5)) - 0.5 * (np.linalg.norm(a) + np.linalg.norm(b))) < 0.5
    assert np.linalg.norm(0.5 * (a + b)) < 0.8 * np.linalg.norm(a)


def test_conditional_walk_blends_classes_or_keeps_the_one_asked_for():
    free = LatentWalk(8, seed=3, frames_per_keyframe=4, num_classes=3)
    labels = np.stack([free.step()[1] for _ in range(200)])
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert (labels.max(axis=1) < 1.0).any() and len(set(labels.argmax(axis=1))) == 3
    fixed = LatentWalk(8, seed=3, frames_per_keyframe=4, num_classes=3, label=2)
    assert all(fixed.step()[1].tolist() == [0.0, 0.0, 1.0] for _ in range(40))


def test_labels_are_parsed_per_screen():
    names = ["portrait", "landscape"]
    assert parse_labels(None, names, 2) == [None, None]
    assert parse_labels("landscape,portrait", names, 2) == [1, 0]
    assert parse_labels("1", names, 2) == [1, 1]
    with pytest.raises(BelamyError, match="unconditional"):
        parse_labels("portrait", [], 1)
    with pytest.raises(BelamyError, match="unknown label 'cat'"):
        parse_labels("cat", names, 1)
    with pytest.raises(BelamyError, match="one label per screen"):
        parse_labels("portrait,landscape,portrait", names, 2)


# --------------------------------------------------------------------------- frames


def test_frames_are_jpegs_at_the_asked_size_and_each_screen_has_its_own_walk(run: Path):
    producer = producer_for(run, screens=2, res=48)
    first = [decode(f) for f in producer.generator.next_frames()]
    later = first
    for _ in range(4):
        later = [decode(f) for f in producer.generator.next_frames()]
    assert first[0].shape == (48, 48, 3)  # the 16² model, enlarged
    assert np.abs(first[0] - first[1]).mean() > 5  # two screens, two faces
    assert np.abs(first[0] - later[0]).mean() > 1  # and they move


def test_webp_frames_when_asked(run: Path):
    producer = build_producer(ExhibitConfig(run=run, format="webp", res=40, engine="torch", device="cpu", seed=2))
    with Image.open(io.BytesIO(producer.generator.next_frames()[0])) as im:
        assert im.format == "WEBP" and im.size == (40, 40)
    assert producer.generator.mime == "image/webp"


def test_labels_on_an_unconditional_run_are_a_clear_error(run: Path):
    with pytest.raises(BelamyError, match="unconditional"):
        build_producer(ExhibitConfig(run=run, labels="portrait", device="cpu"))


@pytest.mark.parametrize("kwargs,message", [
    (dict(screens=3), "--screens 3"), (dict(fps=0), "--fps 0"), (dict(res=2), "--res 2"),
    (dict(truncation=-1), "--truncation"), (dict(engine="tpu"), "--engine tpu"), (dict(format="gif"), "--format gif"),
])
def test_bad_exhibit_options_are_clear_errors(run: Path, kwargs, message):
    with pytest.raises(BelamyError, match=message):
        build_producer(ExhibitConfig(run=run, device="cpu", **kwargs))


def test_conditional_run_gives_each_screen_its_class(style_run: Path):
    from fastapi.testclient import TestClient

    producer = build_producer(ExhibitConfig(run=style_run, screens=2, labels="landscape,portrait", device="cpu", seed=1))
    with TestClient(create_app(producer, start=False), base_url=LOCAL) as client:
        assert client.get("/health").json()["labels"] == ["landscape", "portrait"]
    assert [w.label for w in producer.generator.walks] == [1, 0]
    assert all(decode(f).shape == (16, 16, 3) for f in producer.generator.next_frames())


# --------------------------------------------------------------------------- the server


def test_pages_are_kiosk_pages_one_per_screen(run: Path):
    from fastapi.testclient import TestClient

    with TestClient(create_app(producer_for(run, screens=2), start=False), base_url=LOCAL) as client:
        page = client.get("/screen/2")
        assert page.status_code == 200
        for kiosk in ("cursor: none", "requestFullscreen", "/ws/", "BACKOFF_MAX_MS", "bitmap.close()", "ack"):
            assert kiosk in page.text
        assert "const SCREEN = 2;" in page.text
        assert client.get("/screen/3").status_code == 404
        assert client.get("/screen/1").headers["cache-control"] == "no-store"


def test_a_slow_client_gets_the_newest_frame_not_a_backlog(run: Path):
    from fastapi.testclient import TestClient

    producer = producer_for(run)
    slot = producer.slots[0]
    with TestClient(create_app(producer, start=False), base_url=LOCAL) as client, client.websocket_connect("ws://127.0.0.1:8750/ws/1") as ws:
        assert ws.receive_json()["type"] == "hello"
        producer.make_one()
        assert ws.receive_bytes() == slot.latest()[1]
        for _ in range(5):  # the client is busy drawing: frames go by unsent
            producer.make_one()
        newest = slot.latest()[1]
        ws.send_text("ack")
        assert ws.receive_bytes() == newest  # frames 2-5 were dropped, not queued
        producer.make_one()
        ws.send_text("ack")
        assert ws.receive_bytes() == slot.latest()[1]
    assert producer.frames_made == 7 and slot.clients == 0


def test_off_loopback_every_page_and_socket_needs_the_token(run: Path):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(BelamyError, match="needs an access token"):
        create_app(producer_for(run), host="0.0.0.0")
    app = create_app(producer_for(run), host="0.0.0.0", token="s3cret", start=False)
    with TestClient(app) as client:
        assert client.get("/screen/1").status_code == 403
        assert client.get("/screen/1?token=wrong").status_code == 403
        page = client.get("/screen/1?token=s3cret")
        assert page.status_code == 200
        icon = re.search(r'rel="icon" href="([^"]+)"', page.text).group(1)  # the page's own icon carries the token
        assert icon == "/favicon.svg?token=s3cret" and client.get(icon).headers["content-type"].startswith("image/svg")
        assert client.get("/favicon.ico").status_code == 403
        assert client.get("/health", headers={"x-belamy-token": "s3cret"}).status_code == 200
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("ws://127.0.0.1:8750/ws/1") as ws:
            ws.receive_json()
        with client.websocket_connect("/ws/1?token=s3cret") as ws:
            assert ws.receive_json()["type"] == "hello"


def test_on_loopback_a_foreign_host_name_is_refused(run: Path):
    from fastapi.testclient import TestClient

    with TestClient(create_app(producer_for(run), start=False), base_url=LOCAL) as client:
        assert client.get("/screen/1").status_code == 200
        assert client.get("/screen/1", headers={"host": "evil.example:8750"}).status_code == 403


def resident_bytes() -> int:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        import os

        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_soak_thousands_of_frames_with_flat_memory(run: Path):
    """Generator, producer thread and WebSocket stream for 5,000 frames: resident memory stays flat."""
    from fastapi.testclient import TestClient

    producer = producer_for(run, screens=2, res=112, fps=0.0, frames_per_face=5)  # as fast as it goes
    frames_seen, sizes = 0, []
    with TestClient(create_app(producer), base_url=LOCAL) as client, client.websocket_connect("ws://127.0.0.1:8750/ws/1") as ws:
        ws.receive_json()

        def watch(n: int) -> None:
            nonlocal frames_seen
            for _ in range(n):
                sizes.append(len(ws.receive_bytes()))
                ws.send_text("ack")
                frames_seen += 1

        watch(400)  # warm-up: allocator pools, JPEG encoder, torch workspaces
        baseline = resident_bytes()
        watch(5000)
        grown = resident_bytes() - baseline
    assert frames_seen == 5400 and producer.frames_made >= 5400
    assert producer.generator.walks[0].keyframes_drawn > 1000
    assert producer.error is None
    # Keeping every frame would take sum(sizes) bytes; the bound is far below that.
    leak_if_kept = sum(sizes[400:])
    assert leak_if_kept > 16 * 2**20
    print(f"soak: resident memory grew {grown / 2**20:.2f} MiB; keeping the frames would take {leak_if_kept / 2**20:.0f} MiB")
    assert grown < 6 * 2**20, f"resident memory grew {grown / 2**20:.1f} MiB over 5,000 frames"


def test_cli_exhibit_bad_input_is_one_line(run: Path):
    done = subprocess.run([sys.executable, "-m", "belamy", "exhibit", str(run), "--labels", "portrait"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unconditional" in done.stderr and "Traceback" not in done.stderr


def test_producer_thread_stops_cleanly(run: Path):
    producer = producer_for(run, fps=50)
    producer.start()
    producer.stop()
    assert not any(t.name == "belamy-exhibit-frames" and t.is_alive() for t in threading.enumerate())
