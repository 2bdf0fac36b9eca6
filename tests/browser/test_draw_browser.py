"""The studio's draw page in a real browser (Debian's chromium, driven by Playwright): draw strokes with the
mouse, see the painting change as you draw, undo, keep it, reload, find it in the gallery; drag a stick figure.

Screenshots land in test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from conftest import serve_in_thread  # noqa: E402
from pix2pix_util import random_pix2pix_run  # noqa: E402

from belamy.curate.db import open_db  # noqa: E402
from belamy.provenance.embed import read_provenance  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"chromium is missing at {CHROMIUM}: the browser tests need it. "
                    "Install it with: apt-get update && apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("draw-studio")
    random_pix2pix_run(root / "runs" / "sketches", res=64, condition="edges")
    random_pix2pix_run(root / "runs" / "poses", res=64, condition="pose")
    return root


@pytest.fixture(scope="module")
def server(root: Path):
    from belamy.studio.app import create_app

    with serve_in_thread(create_app(root, retrain_every=1000, device="cpu")) as address:
        yield address


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


def painting_pixels(pg) -> str:
    """A digest of the painting's pixels as the page shows them, once no request is in flight."""
    pg.wait_for_function("() => D.inFlight === 0 && !D.dirty && document.querySelector('#painting').complete")
    return pg.evaluate("""async () => {
        const img = document.querySelector('#painting');
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const digest = await crypto.subtle.digest('SHA-256', g.getImageData(0, 0, c.width, c.height).data);
        return Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, '0')).join('');
    }""")


def test_draw_a_head_see_it_painted_keep_it_and_find_it_in_the_gallery(page, server: str, root: Path):
    page.goto(f"{server}/draw?run=runs/sketches")
    page.wait_for_selector("body[data-ready='1']")
    blank = painting_pixels(page)
    box = page.locator("#canvas").bounding_box()
    x0, y0, w = box["x"], box["y"], box["width"]

    # A head: an oval stroke, drawn slowly; the painting must follow while the pen is still down.
    page.mouse.move(x0 + 0.5 * w, y0 + 0.15 * w)
    page.mouse.down()
    before = int(page.get_attribute("body", "data-paints"))
    import math

    for k in range(1, 61):
        t = 2 * math.pi * k / 60
        page.mouse.move(x0 + w * (0.5 + 0.17 * math.sin(t)), y0 + w * (0.38 - 0.23 * math.cos(t)))
        page.wait_for_timeout(15)
    during = int(page.get_attribute("body", "data-paints"))
    page.mouse.up()
    assert during - before >= 3, "the painting updates while drawing, not only when the stroke ends"
    page.wait_for_function("n => Number(document.body.dataset.paints) > n", arg=during)
    head = painting_pixels(page)
    assert head != blank

    # Shoulders, then undo them: the painting returns to the head alone.
    page.mouse.move(x0 + 0.1 * w, y0 + 0.95 * w)
    page.mouse.down()
    page.mouse.move(x0 + 0.35 * w, y0 + 0.7 * w, steps=8)
    page.mouse.move(x0 + 0.65 * w, y0 + 0.7 * w, steps=8)
    page.mouse.move(x0 + 0.9 * w, y0 + 0.95 * w, steps=8)
    page.mouse.up()
    page.wait_for_timeout(400)
    shoulders = painting_pixels(page)
    assert shoulders != head
    shot(page, "draw")
    count = int(page.get_attribute("body", "data-paints"))
    page.click("#undo")
    page.wait_for_function("n => Number(document.body.dataset.paints) > n", arg=count)
    page.wait_for_timeout(400)
    assert painting_pixels(page) == head
    page.keyboard.press("Control+z")  # and the head too: a blank page again
    page.wait_for_timeout(600)
    assert painting_pixels(page) == blank
    page.keyboard.press("Control+z")  # nothing left to undo: nothing changes
    page.mouse.move(x0 + 0.3 * w, y0 + 0.3 * w)
    page.mouse.down()
    page.mouse.move(x0 + 0.7 * w, y0 + 0.6 * w, steps=10)
    page.mouse.up()
    page.wait_for_timeout(400)
    drawn = painting_pixels(page)
    assert drawn != blank

    # Download: the painting as a PNG with its provenance.
    with page.expect_download() as info:
        page.click("#download")
    downloaded = Path(info.value.path())
    provenance = read_provenance(downloaded)
    assert provenance["run"] == "runs/sketches" and provenance["arch"] == "pix2pix"
    assert len(provenance["checkpoint_sha256"]) == 64 and len(provenance["condition_sha256"]) == 64

    page.click("#keep")
    page.wait_for_function("() => document.body.dataset.kept && document.body.dataset.kept.length === 64")
    kept = page.get_attribute("body", "data-kept")
    db = open_db(root)
    candidate = db.candidate(kept)
    assert candidate.decision == "keep" and candidate.set_name == "drawings"
    assert candidate.provenance["run"] == "runs/sketches" and candidate.checkpoint_sha256
    drawing = root / candidate.provenance["drawing"]
    assert drawing.is_file() and hashlib.sha256(drawing.read_bytes()).hexdigest() == candidate.provenance["drawing_sha256"]
    assert (root / candidate.path).is_file()

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.goto(f"{server}/gallery")
    page.wait_for_selector("body[data-ready='1']")
    page.click(f".work[data-hash='{kept}']")
    page.wait_for_selector("table.prov")
    table = page.inner_text("table.prov")
    # The gallery names the drawing file and the run that painted it.
    assert candidate.provenance["drawing"] in table and "pix2pix" in table and "studio draw" in table
    shot(page, "draw-gallery")


def test_drag_a_stick_figure(page, server: str):
    page.goto(f"{server}/draw?run=runs/poses")
    page.wait_for_selector("body[data-ready='1']")
    assert "drag" in page.inner_text("#hint")
    start = painting_pixels(page)
    template = page.evaluate("() => D.run.template")
    box = page.locator("#canvas").bounding_box()
    wx, wy = template[4]  # the right wrist: raise it
    x, y = box["x"] + wx * box["width"], box["y"] + wy * box["height"]
    if y > box["y"] + box["height"]:
        wx, wy = template[3]  # the elbow if the wrist is below the frame
        x, y = box["x"] + wx * box["width"], box["y"] + wy * box["height"]
    count = int(page.get_attribute("body", "data-paints"))
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 0.1 * box["width"], y - 0.5 * box["height"], steps=15)
    page.mouse.up()
    page.wait_for_function("n => Number(document.body.dataset.paints) > n", arg=count)
    page.wait_for_timeout(400)
    moved = page.evaluate("() => D.points")
    assert moved != template
    assert painting_pixels(page) != start
    shot(page, "draw-pose")
    page.click("#clear")
    page.wait_for_timeout(500)
    assert page.evaluate("() => D.points") == template
    assert painting_pixels(page) == start


def test_the_draw_api_refuses_bad_drawings(server: str):
    import httpx

    html = httpx.get(f"{server}/draw").text
    csrf = html.split('name="belamy-csrf" content="')[1].split('"')[0]
    headers = {"X-Belamy-CSRF": csrf, "Content-Type": "application/json"}
    bad = [({"run": "runs/sketches", "drawing": "data:image/png;base64,!!!"}, 400),
           ({"run": "runs/sketches", "drawing": "data:image/png;base64,aGVsbG8="}, 400),
           ({"run": "runs/sketches"}, 400),
           ({"run": "runs/poses", "points": [[0.5]]}, 400),
           ({"run": "runs/nothing", "points": [[0.5, 0.5]]}, 404),
           ({"run": "../..", "points": [[0.5, 0.5]]}, 404)]
    for body, status in bad:
        response = httpx.post(f"{server}/api/draw/paint", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    response = httpx.post(f"{server}/api/draw/paint", json={"run": "runs/sketches"},
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 403  # no CSRF header
