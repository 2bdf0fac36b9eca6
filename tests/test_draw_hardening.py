"""The studio's draw page against careless and hostile clients, on a real socket: absurd figures are one
clear 4xx (never a 500), and more huge drawings at once than it paints wait their turn, every one answered."""

from __future__ import annotations

import base64
import io
import threading

import httpx
import pytest
from conftest import serve_in_thread
from PIL import Image
from pix2pix_util import random_pix2pix_run


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from belamy.studio.app import create_app

    root = tmp_path_factory.mktemp("draw")
    random_pix2pix_run(root / "runs" / "sketches", res=32, condition="edges")
    random_pix2pix_run(root / "runs" / "poses", res=32, condition="pose")
    with serve_in_thread(create_app(root, retrain_every=1000, device="cpu")) as address:
        html = httpx.get(f"{address}/draw").text
        csrf = html.split('name="belamy-csrf" content="')[1].split('"')[0]
        yield address, {"X-Belamy-CSRF": csrf, "Content-Type": "application/json"}


def figure(x: str = "0.5") -> str:
    """A pose body as JSON text: 18 points, the first at ``x`` (JSON text, so NaN and 1e400 can be sent)."""
    return '{"run": "runs/poses", "points": [[' + x + ', 0.3]' + ", [0.5, 0.5]" * 17 + "]}"


@pytest.mark.parametrize("x", ["1e10", "-1e10", "1e400", "NaN", "Infinity", "-Infinity", "11"])
def test_absurd_coordinates_are_a_clear_400(server, x: str):
    address, headers = server
    response = httpx.post(f"{address}/api/draw/paint", content=figure(x), headers=headers, timeout=60)
    assert response.status_code == 400, response.text
    assert "finite numbers, in [0, 1] of the picture" in response.json()["detail"]


@pytest.mark.parametrize("points, status", [("[[0.5, 0.5, 1, 1]]", 400), ("[[0.5, 0.5], [0.5, 0.5, 1]]", 400),
                                            ("[" + ", ".join(["[0.5, 0.5]"] * 1001) + "]", 422), ("[]", 400)])
def test_points_of_the_wrong_shape_or_count_are_refused(server, points: str, status: int):
    address, headers = server
    response = httpx.post(f"{address}/api/draw/paint", content='{"run": "runs/poses", "points": ' + points + "}",
                          headers=headers, timeout=60)
    assert response.status_code == status, response.text


def test_a_figure_reaching_past_the_picture_is_still_painted(server):
    address, headers = server
    response = httpx.post(f"{address}/api/draw/paint", content=figure("1.7"), headers=headers, timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"


def test_more_huge_drawings_at_once_than_the_studio_paints_are_each_painted(server):
    """2048² canvases (a small PNG, a large picture: the largest taken), five at once: painted two at a time,
    none refused or lost; a larger one is refused before it is decoded."""
    address, headers = server
    buffer = io.BytesIO()
    Image.new("RGBA", (2048, 2048), (255, 255, 255, 255)).save(buffer, format="PNG")
    body = {"run": "runs/sketches", "drawing": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}
    statuses: list[int] = []

    def draw() -> None:
        statuses.append(httpx.post(f"{address}/api/draw/paint", json=body, headers=headers, timeout=120).status_code)

    threads = [threading.Thread(target=draw) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 5
    bigger = io.BytesIO()
    Image.new("RGBA", (2049, 2048), (255, 255, 255, 255)).save(bigger, format="PNG")
    body["drawing"] = "data:image/png;base64," + base64.b64encode(bigger.getvalue()).decode()
    response = httpx.post(f"{address}/api/draw/paint", json=body, headers=headers, timeout=60)
    assert response.status_code == 413 and "2049×2048 pixels" in response.json()["detail"]
