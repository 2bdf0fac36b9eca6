"""pix2pix figures: translation speed on the CPU, training speed, and quality on held-out pairs.

speed     paintings per second at batch 1 (a live drawing is one picture at a time) at 128² and 256²,
          per generator width, for PyTorch (channels-last, inference mode) and ONNX Runtime (all
          graph optimisations), with 1 thread and with every core; "live" is the studio's whole
          path for one drawing: decode the canvas PNG, fit it, paint, encode the PNG answer.
          Random weights: speed does not depend on training. Target: 12 paintings/s at 256².
live      paintings per second on the studio's draw page in Chromium while a stroke is drawn.
train     s/kimg of `belamy train PAIRS --arch pix2pix` (the real run loop) at 128² and 256².
quality   a run trained on edge pairs of ../shared/corpora/portraits with 20% of the pairs held out:
          L1 and SWD×10³ between its paintings of the held-out sketches and the real paintings,
          and bench/out/pix2pix/held-out.png (rows: sketch | painting | real) to look at.

    python bench/bench_pix2pix.py speed [--seconds 2]
    python bench/bench_pix2pix.py live [--res 256] [--ngf 16]     # the draw page in Chromium
    python bench/bench_pix2pix.py train [--kimg 0.2]
    python bench/bench_pix2pix.py quality --minutes 30 [--res 128] [--ngf 32]
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from machine import cpu_name
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ROOT.parent / "shared" / "corpora" / "portraits"
OUT = ROOT / "bench" / "out" / "pix2pix"
TARGET = 12.0


def sketch(size: int) -> np.ndarray:
    """A head-and-shoulders line drawing, as a person draws it on the canvas."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pix2pix_util import head_and_shoulders

    return np.asarray(head_and_shoulders(size, pen=max(1, size // 128)).convert("RGB"))


def rate(fn, seconds: float) -> float:
    fn()
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def speed(args) -> None:
    from pix2pix_random import random_run

    from belamy.export.pix2pix import OnnxTranslateEngine, export_translator
    from belamy.generate.translate import load_translator
    from belamy.studio.draw import decode_drawing, png_bytes

    threads_all = torch.get_num_threads()
    print(f"translate speed, paintings/s at batch 1 ({cpu_name()}, {threads_all} threads max)")
    print(f"{'model':<24}{'torch 1t':>10}{'torch all':>11}{'onnx 1t':>9}{'onnx all':>10}{'live path':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for res in (128, 256):
            for ngf in args.ngf:
                run = random_run(Path(tmp) / f"r{res}-{ngf}", res, ngf)
                tr = load_translator(run, device="cpu")
                cond = tr.prepare(sketch(res))[None]
                row = {}
                for threads in (1, threads_all):
                    torch.set_num_threads(threads)
                    row[f"torch {threads}"] = rate(lambda c=cond, t=tr: t.render(c), args.seconds)
                torch.set_num_threads(threads_all)
                onnx = Path(tmp) / f"r{res}-{ngf}.onnx"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    export_translator(tr, onnx)
                for threads in (1, threads_all):
                    engine = OnnxTranslateEngine(onnx, threads=threads)
                    row[f"onnx {threads}"] = rate(lambda c=cond, e=engine: e.render(c), args.seconds)
                best = max((OnnxTranslateEngine(onnx, threads=t) for t in (1, threads_all)),
                           key=lambda e, c=cond: rate(lambda: e.render(c), args.seconds / 2))
                buffer = io.BytesIO()
                Image.fromarray(sketch(res)).save(buffer, format="PNG")
                data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

                def live(e=best, t=tr, url=data_url):
                    condition = t.prepare(decode_drawing(url), "pad")
                    png_bytes(e.render(condition[None])[0], {"run": "bench"})

                row["live"] = rate(live, args.seconds)
                mark = "  <- target" if res == 256 and row["live"] >= TARGET else ""
                print(f"{f'{res}² ngf {ngf}':<24}{row['torch 1']:>10.1f}{row[f'torch {threads_all}']:>11.1f}"
                      f"{row['onnx 1']:>9.1f}{row[f'onnx {threads_all}']:>10.1f}{row['live']:>11.1f}{mark}")


def live(args) -> None:
    """Paintings per second on the studio's draw page in Chromium while a stroke is being drawn."""
    import math
    import socket
    import threading

    import uvicorn
    from pix2pix_random import random_run
    from playwright.sync_api import sync_playwright

    from belamy.studio.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        random_run(root / "runs" / "live", args.res, args.ngf)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        app = create_app(root, device="cpu")
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"http://127.0.0.1:{port}/draw")
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            box = page.locator("#canvas").bounding_box()
            cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 3
            page.mouse.move(cx + r, cy)
            page.mouse.down()
            start_count, start = int(page.get_attribute("body", "data-paints")), time.perf_counter()
            k = 0
            while time.perf_counter() - start < args.seconds:  # a spiral, drawn at a steady hand's pace
                k += 1
                t = k / 20
                page.mouse.move(cx + r * math.cos(t) * (1 - t / 400), cy + r * math.sin(t) * (1 - t / 400))
                page.wait_for_timeout(10)
            count = int(page.get_attribute("body", "data-paints")) - start_count
            seconds = time.perf_counter() - start
            model_ms = page.inner_text("#rate")
            engines = [loaded.engine.name for loaded in app.state.studio.draw_models._loaded.values()]
            page.mouse.up()
            browser.close()
        server.should_exit = True
    print(f"draw page, {args.res}² ngf {args.ngf}, Chromium ({cpu_name()}): {count / seconds:.1f} paintings/s "
          f"while drawing ({count} in {seconds:.1f} s; page: {model_ms}; engine {', '.join(engines)})")


def train_speed(args) -> None:
    """s/kimg of the real run loop on edge pairs of the portraits (a fresh run per shape, a few ticks)."""
    from belamy.corpus.build import build_corpus
    from belamy.corpus.pairs import build_pairs
    from belamy.gan import TrainOptions, train

    torch.set_num_threads(args.threads)
    print(f"training speed ({cpu_name()}, {args.threads} thread(s), batch {args.batch})")
    print(f"{'model':<18}{'s/kimg':>10}{'img/s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for res in (128, 256):
            build_corpus(PORTRAITS, tmp / f"c{res}", size=res, limit=64, workers=1)
            build_pairs(tmp / f"c{res}", tmp / f"p{res}")
            for ngf in args.ngf:
                result = train(TrainOptions.of(corpus=tmp / f"p{res}", out=tmp / f"r{res}-{ngf}", arch="pix2pix", res=res,
                                            kimg=args.kimg, batch=args.batch, ngf=ngf, ndf=ngf,
                                            tick_kimg=args.kimg / 2, snapshot_ticks=100, device="cpu",
                                            holdout=0.1))
                rec = result.last_record  # the second tick: past the first steps' warm-up
                print(f"{f'{res}² ngf {ngf}':<18}{rec['sec_per_kimg']:>10.1f}{rec['img_per_s']:>9.2f}")


def quality(args) -> None:
    """Train on edge pairs of the portraits with 20% held out (or measure --run), then L1, SWD and a picture."""
    from belamy.corpus.build import build_corpus
    from belamy.corpus.pairs import build_pairs, open_pairs
    from belamy.gan import TrainOptions, train
    from belamy.generate.translate import load_translator
    from belamy.metrics.swd import swd
    from belamy.provenance.embed import save_png
    from belamy.utils.grid import make_grid

    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    run = Path(args.run) if args.run else OUT / f"run-{args.res}-ngf{args.ngf}"
    if not args.run:
        pairs = OUT / f"pairs-{args.res}"
        if not (pairs / "corpus.json").is_file():
            build_corpus(PORTRAITS, OUT / f"corpus-{args.res}", size=args.res, workers=1)
            build_pairs(OUT / f"corpus-{args.res}", pairs)
        started = time.process_time()
        train(TrainOptions.of(corpus=pairs, out=run, arch="pix2pix", res=args.res, minutes=args.minutes, batch=args.batch,
                           ngf=args.ngf, ndf=args.ngf, tick_kimg=0.5, snapshot_ticks=2, grid_size=12, device="cpu",
                           resume=(run / "checkpoints").is_dir(), holdout=0.2, fm_weight=args.fm))
        print(f"trained {args.minutes} wall minutes, {(time.process_time() - started) / 60:.1f} CPU minutes of this process")
    import json

    info = json.loads((run / "run.json").read_text())
    pairs = open_pairs(info["corpus"]["path"] if not args.pairs else args.pairs)
    held_out = np.array(info["holdout"]["indices"])
    tr = load_translator(run, checkpoint=args.checkpoint, device="cpu")
    conditions = np.asarray(pairs.conditions[held_out])
    real = np.asarray(pairs.corpus.images[held_out])
    if conditions.shape[1:3] != tr.shape:
        conditions = np.stack([tr.prepare(c) for c in conditions])
        real = np.stack([tr.prepare(r, "crop") for r in real])
    painted = np.concatenate([tr.render(conditions[i : i + 16]) for i in range(0, len(conditions), 16)])
    l1 = float(np.abs(painted.astype(np.float32) - real.astype(np.float32)).mean() / 127.5)
    score = swd(painted, real)
    # The floor: as many other real paintings (from the training part) against the held-out ones.
    others = np.setdiff1d(np.arange(len(pairs)), held_out)[: len(held_out)]
    other_real = np.asarray(pairs.corpus.images[others])
    if other_real.shape[1:3] != tr.shape:
        other_real = np.stack([tr.prepare(r, "crop") for r in other_real])
    floor = swd(other_real, real)["swd"] if len(others) == len(held_out) else float("nan")
    rows = []
    for i in range(min(8, len(held_out))):
        rows += [conditions[i], painted[i], real[i]]
    save_png(make_grid(np.stack(rows), cols=6), OUT / "held-out.png",
             {"run": str(run), "columns": "sketch | painting | real", "held_out": held_out[:8].tolist()})
    kimg = json.loads(sorted((run / "checkpoints").glob("ckpt-*.json"))[-1].read_text()).get("kimg")
    print(f"quality on {len(held_out)} held-out pairs ({cpu_name()}; run at {kimg} kimg): "
          f"L1 {l1:.4f} (pixels in [-1, 1]), SWD×10³ {score['swd']:.1f} "
          f"(real paintings against the held-out ones: {floor:.1f})")
    print(f"image: {OUT / 'held-out.png'} (rows: sketch | painting | real, two pairs a row)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--ngf", type=int, nargs="+", default=[16, 32, 64])
    lv = sub.add_parser("live")
    lv.add_argument("--res", type=int, default=256)
    lv.add_argument("--ngf", type=int, default=16)
    lv.add_argument("--seconds", type=float, default=10.0)
    t = sub.add_parser("train")
    t.add_argument("--kimg", type=float, default=0.2)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--ngf", type=int, nargs="+", default=[16, 32, 64])
    q = sub.add_parser("quality")
    q.add_argument("--minutes", type=float, default=30.0)
    q.add_argument("--res", type=int, default=128)
    q.add_argument("--ngf", type=int, default=32)
    q.add_argument("--fm", type=float, default=10.0, help="feature-matching weight")
    q.add_argument("--batch", type=int, default=8)
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--run", help="measure this run instead of training one")
    q.add_argument("--pairs", help="with --run: its pair corpus, if it moved")
    q.add_argument("--checkpoint", default="latest")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    {"speed": speed, "live": live, "train": train_speed, "quality": quality}[args.what](args)


if __name__ == "__main__":
    main()
