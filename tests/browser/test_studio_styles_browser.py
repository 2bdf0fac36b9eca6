"""The curate page's style posterior in a real browser: a bar per style, the most ambiguous first.

A screenshot lands in test-artifacts/screenshots/curate-style-posterior.png for a person to look at.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # the shared fixtures' helpers

from conftest import STYLE_NAMES, serve_in_thread, synthetic_styles, write_corpus  # noqa: E402

from belamy.provenance.embed import save_png  # noqa: E402

SHOTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    import torch

    from belamy.classify import train_classifier

    folder = tmp_path_factory.mktemp("styles-browser")
    images, labels = synthetic_styles(60, 32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train_classifier(write_corpus(folder / "styles", images, labels), "folder", folder / "cls", res=32, epochs=20,
                     batch=8, holdout=0.25, channels=8, device="cpu")
    torch.set_num_threads(threads)
    root = folder / "root"
    shown, _ = synthetic_styles(6, 32, seed=5)
    for i, image in enumerate(shown):
        big = np.kron(image, np.ones((4, 4, 1), dtype=np.uint8))  # 128², so the card is not mostly zoom
        save_png(big, root / "candidates" / "set-a" / f"work-{i}.png", {"seed": i})
    return root


def test_each_candidate_shows_a_bar_per_style_and_the_most_ambiguous_come_first(browser, page_errors, root: Path):
    from belamy.studio.app import create_app

    with serve_in_thread(create_app(root, retrain_every=1000, device="cpu", classifier=root.parent / "cls")) as address:
        context = browser.new_context(viewport={"width": 1100, "height": 860}, device_scale_factor=1)
        page = page_errors(context.new_page())
        page.goto(f"{address}/curate")
        page.wait_for_selector("body[data-ready='1']")
        page.click("button[data-mode='ambiguous']")
        page.wait_for_selector("#card-style .style-row")
        names = page.eval_on_selector_all("#card-style .style-row .name", "ns => ns.map((n) => n.textContent)")
        assert sorted(names) == sorted(STYLE_NAMES)
        widths = page.eval_on_selector_all("#card-style .style-row .bar", "bs => bs.map((b) => b.getBoundingClientRect().width)")
        assert widths == sorted(widths, reverse=True) and widths[0] > 0  # the most likely style first
        first = float(page.text_content("#card-style .style-head").split()[-1])
        # The chart and the caption do not overlap.
        chart = page.eval_on_selector("#card-style .style-box", "n => n.getBoundingClientRect().toJSON()")
        caption = page.eval_on_selector("#card-caption", "n => n.getBoundingClientRect().toJSON()")
        assert chart["bottom"] <= caption["top"] + 1 or chart["right"] <= caption["left"] + 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "curate-style-posterior.png"))
        shown = page.get_attribute("#card", "data-hash")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("h => document.querySelector('#card').dataset.hash !== h", arg=shown)
        page.wait_for_selector("#card-style .style-head")
        assert float(page.text_content("#card-style .style-head").split()[-1]) <= first + 1e-9
        context.close()
