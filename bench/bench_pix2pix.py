"""pix2pix figures: translation speed on the CPU, training speed, and quality on held-out pairs.

speed     paintings per second at batch 1 (a live drawing is one picture at a time) at 128² and 256²,
          per generator width, for PyTorch (channels-last, inference mode) and ONNX Runtime (all
          graph optimisations), with 1 thread and with every core; "live" is the studio's whole
          path for one drawing: decode the canvas PNG, fit it, paint, encode the PNG answer.
          Random weights: speed does not depend on training. Target: 12 paintings/s at 256².
train     s/kimg of `belamy train PAIRS --arch pix2pix` (the real run loop) at 128² and 256².
quality   a run trained on edge pairs of ../shared/corpora/portraits with 20% of the pairs held out:
          L1 and SWD×10³ between its paintings of the held-out sketches and the real paintings,
          and bench/out/pix2pix/held-out.png (rows: sketch | painting | real) to look at.

    python bench/bench_pix2pix.py speed [--seconds 2]
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
from PIL import Image

from belamy.utils.machine import cpu_name

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--ngf", type=int, nargs="+", default=[16, 32, 64])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    {"speed": speed}[args.what](args)


if __name__ == "__main__":
    main()
