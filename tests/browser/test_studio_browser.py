"""The studio in a real browser (Debian's chromium, driven by Playwright): keyboard, swipe, reload, taste, pages.

Screenshots of every page land in test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # the shared fixtures' helpers (a tiny corpus and run)

from conftest import CHROMIUM, serve_in_thread, synthetic_portraits, tiny_train_options, write_corpus  # noqa: E402

from belamy.curate.db import open_db  # noqa: E402
from belamy.curate.rank import rank_folder  # noqa: E402
from belamy.provenance.embed import save_png  # noqa: E402

SHOTS = REPO / "test-artifacts" / "screenshots"


def painting(rng: np.random.Generator, warm: bool, size: int = 96) -> np.ndarray:
    """A small abstract 'painting': warm (reds, ochres) or cool (blues, teals), random light and composition."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    hue = rng.uniform(-0.04, 0.11) if warm else rng.uniform(0.47, 0.66)
    light = rng.uniform(0.4, 0.9)

    def colour(h: float, s: float, v: float) -> np.ndarray:
        k = (np.array([5, 3, 1]) + (h % 1) * 6) % 6
        return 255 * v * (1 - s * np.clip(np.minimum(k, 4 - k), 0, 1))

    img = colour(hue, 0.55, light) * (1 - yy[..., None]) + colour(hue + 0.03, 0.75, light * 0.45) * yy[..., None]
    for _ in range(rng.integers(2, 5)):
        cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.28)
        blob = ((xx - cx) / r) ** 2 + ((yy - cy) / (r * rng.uniform(0.6, 1.6))) ** 2 <= 1
        img[blob] = colour(hue + rng.uniform(-0.07, 0.07), rng.uniform(0.3, 0.85), min(1.0, light * rng.uniform(0.7, 1.3)))
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def write_tones(folder: Path, n: int, seed: int, start: int = 0) -> dict[str, bool]:
    rng = np.random.default_rng(seed)
    names = {}
    for i in range(start, start + n):
        warm = bool(rng.integers(0, 2))
        name = f"{'warm' if warm else 'cool'}-{i:04d}.png"
        save_png(painting(rng, warm), folder / name, {"generator": "synthetic", "seed": i, "tone": "warm" if warm else "cool"})
        names[name] = warm
    return names


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    from belamy.gan import train
    from belamy.generate.sample import generate

    root = tmp_path_factory.mktemp("studio")
    corpus = write_corpus(root / "corpus", synthetic_portraits(48, 32))
    train(tiny_train_options(corpus, root / "runs" / "portraits", res=32, kimg=0.128, tick_kimg=0.032, snapshot_ticks=1,
                             grid_size=16, lr=2e-4, beta1=0.5, beta2=0.999))
    generate(root / "runs" / "portraits", root / "candidates" / "portraits-latest", n=12, device="cpu")
    write_tones(root / "candidates" / "keys", 30, seed=1)
    return root


def studio_server(root: Path):
    """The studio app on a free loopback port, in a thread; yields its address."""
    from belamy.studio.app import create_app

    return serve_in_thread(create_app(root, retrain_every=10, device="cpu"))


@pytest.fixture(scope="module")
def server(root: Path):
    with studio_server(root) as address:
        yield address


@pytest.fixture
def page(browser, page_errors):
    """A desktop-sized page; any uncaught exception or console error on it fails the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    yield page_errors(context.new_page())
    context.close()


def shot(pg, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.evaluate("window.scrollTo(0, 0)")
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def wait_for(condition, what: str, tries: int = 400):
    for _ in range(tries):
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


# The next candidate is on screen (or the set is done).
NEXT_SHOWN = """h => {
  const shown = document.querySelector('#card').dataset.hash;
  return (shown && shown !== h) || !document.querySelector('#done').classList.contains('hidden');
}"""


# Pairs of thumbnails on the gallery map whose squares overlap by more than a pixel.
OVERLAPS = """() => {
  const r = [...document.querySelectorAll('.work')].map((n) => [n.offsetLeft, n.offsetTop, n.offsetWidth, n.offsetHeight]);
  const bad = [];
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
    const ox = Math.min(r[i][0] + r[i][2], r[j][0] + r[j][2]) - Math.max(r[i][0], r[j][0]);
    const oy = Math.min(r[i][1] + r[i][3], r[j][1] + r[j][3]) - Math.max(r[i][1], r[j][1]);
    if (ox > 1 && oy > 1) bad.push([i, j]);
  }
  return bad;
}"""
# Thumbnails that would be cut by the map's edge once zoomed 1.6× (under the pointer, or opened by keyboard).
CUT_BY_THE_EDGE = """() => {
  const map = document.getElementById('map');
  return [...document.querySelectorAll('.work')].filter((n) => {
    const cx = n.offsetLeft + n.offsetWidth / 2, cy = n.offsetTop + n.offsetHeight / 2, half = 0.8 * n.offsetWidth;
    return cx - half < 0 || cy - half < 0 || cx + half > map.clientWidth || cy + half > map.clientHeight;
  }).map((n) => n.dataset.hash);
}"""


def decide_with_keys(pg, key_for_name) -> tuple[str, str]:
    """Press the key for the current card, wait for the next; returns (hash, key)."""
    current = pg.get_attribute("#card", "data-hash")
    name = pg.get_attribute("#card", "data-name")
    key = key_for_name(name)
    pg.keyboard.press(key)
    pg.wait_for_function(NEXT_SHOWN, arg=current)
    return current, key


def test_curate_twenty_with_the_keyboard_undo_one_and_reload(page, server: str, root: Path):
    page.goto(f"{server}/curate?set=keys")
    page.wait_for_selector("body[data-ready='1']")
    page.click("button[data-mode='order']")
    page.wait_for_selector("#card[data-hash]")
    # A 96² candidate is shown at a whole 4× (384 px), not stretched to fill the card, and says its size.
    page.wait_for_function("() => document.querySelector('#card-img').dataset.zoom === '4'")
    assert page.locator("#card-img").bounding_box()["width"] == 384
    assert "96 × 96 px, shown at 4×" in page.inner_text("#card-caption")
    decided = []
    for _ in range(20):  # the same taste as everywhere in these tests: keep the warm ones
        decided.append(decide_with_keys(page, lambda name: "ArrowRight" if name.startswith("warm") else "ArrowLeft"))
    assert {key for _, key in decided} == {"ArrowLeft", "ArrowRight"}
    page.keyboard.press("Backspace")  # takes back the 20th: it comes back on screen
    page.wait_for_function("h => document.querySelector('#card').dataset.hash === h", arg=decided[-1][0])
    db = open_db(root)
    wait_for(lambda: db.decision_count() == 19 and db.candidate(decided[-1][0]).decision is None, "19 stored decisions")
    page.wait_for_function("() => document.querySelector('#count-left').textContent === '11'")

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#card[data-hash]")
    assert page.inner_text("#count-left") == "11"
    kept = sum(1 for _, key in decided[:19] if key == "ArrowRight")
    assert page.inner_text("#count-kept") == str(kept)
    for digest, key in decided[:19]:
        assert db.candidate(digest).decision == ("keep" if key == "ArrowRight" else "reject")
    assert page.get_attribute("#card", "data-hash") == decided[-1][0]  # the undone one is first again in file order
    assert float(page.inner_text("#count-rate")) > 0
    shot(page, "curate")


def test_a_swipe_keeps_or_rejects_and_a_short_drag_does_nothing(page, server: str, root: Path):
    page.goto(f"{server}/curate?set=keys")
    page.wait_for_selector("#card[data-hash]")
    db = open_db(root)
    for _ in range(2):
        digest = page.get_attribute("#card", "data-hash")
        expected = "keep" if page.get_attribute("#card", "data-name").startswith("warm") else "reject"
        direction = 1 if expected == "keep" else -1
        box = page.locator("#card").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + direction * 320, y + 10, steps=12)
        page.mouse.up()
        page.wait_for_function(NEXT_SHOWN, arg=digest)
        wait_for(lambda d=digest, e=expected: db.candidate(d).decision == e, f"a {expected} from the swipe")
    # A short drag is not a decision: the card springs back.
    digest = page.get_attribute("#card", "data-hash")
    box = page.locator("#card").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 230, box["y"] + 200, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert page.get_attribute("#card", "data-hash") == digest and db.candidate(digest).decision is None


def test_on_a_phone_the_buttons_decide(browser, page_errors, server: str, root: Path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    pg = page_errors(context.new_page())
    try:
        pg.goto(f"{server}/curate?set=keys")
        pg.wait_for_selector("#card[data-hash]")
        digest = pg.get_attribute("#card", "data-hash")
        expected = "keep" if pg.get_attribute("#card", "data-name").startswith("warm") else "reject"
        pg.tap(f"#btn-{expected}")
        pg.wait_for_function(NEXT_SHOWN, arg=digest)
        db = open_db(root)
        wait_for(lambda: db.candidate(digest).decision == expected, "the tapped decision")
        assert pg.locator("#btn-keep").is_visible() and pg.locator("#card").is_visible()
        pg.evaluate("""() => {  // as once the taste is learned
          const p = document.querySelector('#card-p'); p.classList.remove('hidden'); p.textContent = 'model: 99% keep';
        }""")
        pg.wait_for_function("() => document.querySelector('#card-caption').textContent.includes('shown at')")
        a, b = pg.locator("#card-p").bounding_box(), pg.locator("#card-caption").bounding_box()
        apart = a["x"] + a["width"] <= b["x"] or b["y"] >= a["y"] + a["height"] or a["y"] >= b["y"] + b["height"]
        assert apart, f"the model's guess {a} and the caption {b} overlap"
        shot(pg, "curate-phone")
    finally:
        context.close()


def test_the_learned_taste_ranks_warm_works_first_on_a_held_out_set(page, server: str, root: Path, tmp_path: Path):
    write_tones(root / "candidates" / "tones", 40, seed=7, start=1000)
    page.goto(f"{server}/curate?set=tones")
    page.wait_for_selector("body[data-ready='1']")
    page.click("button[data-mode='order']")
    page.wait_for_selector("#card[data-hash]")
    db = open_db(root)
    before = db.decision_count()
    for _ in range(40):  # the taste: keep the warm ones only
        decide_with_keys(page, lambda name: "ArrowRight" if name.startswith("warm") else "ArrowLeft")
    page.wait_for_selector("#done:not(.hidden)")
    wait_for(lambda: db.decision_count() == before + 40, "the tones decisions to be stored")
    page.click("#retrain")

    def trained():
        status = json.loads(page.evaluate("fetch('/api/model').then(r => r.text())"))
        model = status["model"]
        return status if model and model["n"] == db.decision_count() and not status["training"] else None

    status = wait_for(trained, "the taste to be retrained", tries=1200)
    page.wait_for_selector("#accuracy")
    page.select_option("#set-select", "")
    page.click("button[data-mode='likely']")
    page.wait_for_selector("#card-p:not(.hidden)")
    wait_for(lambda: page.inner_text("#accuracy") != "–", "accuracy on the page")
    shown_accuracy = page.inner_text("#accuracy")
    shot(page, "curate-taste")

    held_out = write_tones(tmp_path / "held-out", 40, seed=2024, start=5000)
    result = rank_folder(tmp_path / "held-out", by="preference", top=10, out=tmp_path / "selected",
                         db=root / "belamy-studio.sqlite")
    scores = {p.name: s for p, s in result.ranking}
    accuracy = float(np.mean([(scores[n] >= 0.5) == warm for n, warm in held_out.items()]))
    warm_scores = [scores[n] for n, w in held_out.items() if w]
    cool_scores = [scores[n] for n, w in held_out.items() if not w]
    pairs_right = float(np.mean([w > c for w in warm_scores for c in cool_scores]))
    top = [held_out[p.name.split("-", 1)[1]] for p in result.selected]
    report = (f"synthetic taste (keep warm): page k-fold accuracy {shown_accuracy}; held-out accuracy {accuracy:.3f} "
              f"on {len(held_out)} unseen images; warm-above-cool pairs {pairs_right:.3f}; top-10 warm {sum(top)}/10; "
              f"model {status['model']}")
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "taste-accuracy.txt").write_text(report + "\n")
    print(report)
    assert accuracy >= 0.85 and pairs_right >= 0.9 and all(top)


def test_the_runs_page_keeps_its_list_and_view_through_its_refreshes(page, server: str):
    """The page refreshes every 3 s; once, drawing the run view deleted what the next refresh used."""
    page.goto(server + "/")
    page.wait_for_selector("#grid-img")
    for _ in range(3):  # what the 3-second timer does, three times, without the wait
        page.evaluate("tick()")
        assert page.inner_text("#status") == "1 run"
        assert page.locator("#run-list .run-card").count() == 1 and "runs/portraits" in page.inner_text("#run-list")
        assert page.locator("#grid-img").count() == 1 and page.locator("#no-runs").is_hidden()
    card = page.locator("#run-list .run-card")
    assert "/ 0.128 kimg" in card.inner_text() and card.locator(".progress > div").get_attribute("style") == "width: 100%;"
    page.wait_for_timeout(3500)  # and once by the timer itself
    assert page.inner_text("#status") == "1 run" and page.locator("#run-list .run-card").count() == 1


def test_an_empty_studio_says_how_to_begin_on_every_page(page, tmp_path: Path):
    with studio_server(tmp_path) as address:
        page.goto(address + "/")
        page.wait_for_selector("#no-runs:not(.hidden)")
        assert "belamy train" in page.inner_text("#no-runs") and page.inner_text("#status") == "0 runs"
        shot(page, "runs-empty")
        page.goto(address + "/curate")
        page.wait_for_selector("body[data-ready='1']")
        nothing = page.locator("#nothing")
        assert nothing.is_visible() and "belamy generate" in nothing.inner_text() and "candidates/" in nothing.inner_text()
        assert page.locator("#done").is_hidden() and "All decided" not in page.inner_text("body")
        page.keyboard.press("ArrowRight")  # nothing to decide: nothing happens, no error
        shot(page, "curate-empty")
        page.goto(address + "/gallery")
        page.wait_for_selector("body[data-ready='1']")
        assert "Curate" in page.inner_text("#map")
        page.wait_for_timeout(500)


def test_runs_and_gallery_pages(page, server: str, root: Path):
    page.goto(server + "/")
    page.wait_for_selector("#grid-img")
    assert "runs/portraits" in page.inner_text("#run-list")
    page.wait_for_selector("svg.chart polyline.g")
    page.focus("#scrubber")
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('#grid-label').textContent.startsWith('0 kimg')")
    assert "grid-000000000.png" in page.get_attribute("#grid-img", "src")
    page.keyboard.press("End")
    page.fill("#gen-n", "4")
    page.click("#gen-go")
    page.wait_for_selector("#gen-status a", timeout=60_000)
    assert "4 candidates" in page.inner_text("#gen-status")
    shot(page, "runs")

    db = open_db(root)
    db.scan(root / "candidates" / "portraits-latest")
    generated = db.candidates(set_name="portraits-latest")
    for c in generated[:8]:
        db.decide(c.hash, "keep", "gallery-test")
    page.goto(server + "/gallery")
    page.wait_for_selector("body[data-ready='1']")
    count = db.candidates(decision="keep")
    assert page.locator(".work").count() == len(count)
    # No thumbnail covers another, and each has room on the map for its 1.6× zoom under the pointer.
    assert page.evaluate(OVERLAPS) == []
    assert page.evaluate(CUT_BY_THE_EDGE) == []
    a, b = generated[0].hash, generated[1].hash
    page.click(f".work[data-hash='{a}']")
    page.wait_for_selector("table.prov")
    # Provenance as fields a person reads: no JSON, no raw key names, hashes short (whole on hover).
    prov = page.inner_text("table.prov")
    assert "seed" in prov and "checkpoint hash" in prov and "corpus" in prov
    assert "checkpoint_sha256" not in prov and "{" not in prov and '"' not in prov
    digest = page.get_attribute("table.prov tr:has(th:text-is('checkpoint hash')) code", "title")
    assert prov.count(digest[:12]) == 1 and digest not in prov
    page.wait_for_function("() => document.querySelector('.detail img.large').dataset.zoom")
    assert page.evaluate("document.querySelector('.detail img.large').dataset.zoom") == "6"  # 32² at a whole 6×
    page.click("#pick-btn")
    page.focus(f".work[data-hash='{b}']")  # the map works from the keyboard too
    page.keyboard.press("Enter")
    page.wait_for_function("h => document.querySelector('#detail h3') && document.querySelector('.work.open').dataset.hash === h", arg=b)
    page.click("#pick-btn")
    assert page.locator(".work.picked").count() == 2
    page.fill("#frames", "8")
    page.click("#travel-go")
    page.wait_for_selector("#travel-frame", timeout=60_000)
    assert (root / "travels").is_dir() and len(list(next((root / "travels").iterdir()).glob("frame-*.png"))) == 8
    page.wait_for_timeout(300)
    shot(page, "gallery", full_page=True)


def test_chromium_is_there():
    """The browser tests must never pass silently without a browser."""
    assert CHROMIUM.exists() and shutil.which(str(CHROMIUM)), "apt-get install -y chromium"
