"""Quality per unit of compute: DCGAN and the style-based GAN, each trained for the same wall-clock
budget on the same corpus, then measured with SWD against it (and the memorisation score).

    python bench/quality_per_compute.py [--minutes 30] [--res 64] [--corpus ../shared/corpora/portraits]
                                        [--out bench/out/quality] [--n 512]

The corpus folder of paintings is built once (64² training images at --res) into OUT/corpus.
Each architecture trains with its defaults until the budget is spent (a timer asks the loop to
stop, which saves a checkpoint), then 512 images from its final generator (G_ema for style) are
compared with 512 corpus images. Contact sheets land in OUT/<arch>-contact.png. Figures depend on
the machine: read them beside the printed device and the kimg each model reached.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np
import torch

from belamy.generate.grid import make_grid, to_uint8
from belamy.generate.loader import load_generator
from belamy.metrics.evaluate import evaluate_run
from belamy.train.loop import StopRequest, train
from belamy.train.options import TrainOptions
from belamy.utils.imageio import save_png

REPO = Path(__file__).resolve().parents[1]


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    return "CPU"


def build(corpus_src: Path, out: Path, res: int) -> Path:
    from belamy.corpus.build import build_corpus

    target = out / "corpus"
    if not (target / "corpus.json").exists():
        build_corpus([corpus_src], target, size=res, min_size=min(64, res))
    return target


def train_for(arch: str, corpus: Path, run: Path, res: int, seconds: float, batch: int | None) -> dict:
    stop = StopRequest()
    timer = threading.Timer(seconds, lambda: setattr(stop, "requested", True))
    options = TrainOptions(corpus=corpus, out=run, arch=arch, res=res, kimg=100_000, batch=batch, tick_kimg=1.0,
                           snapshot_ticks=1000, grid_size=16, device="auto")
    started = time.perf_counter()
    timer.start()
    try:
        result = train(options, stop=stop)
    finally:
        timer.cancel()
    return {"kimg": result.nimg / 1000, "wall_s": round(time.perf_counter() - started, 1)}


def contact_sheet(run: Path, path: Path, n: int = 64) -> None:
    gen = load_generator(run, device="auto")
    with torch.inference_mode():
        pictures = to_uint8(gen.synthesize(gen.latents(list(range(n)))))
    save_png(make_grid(pictures, cols=8), path, gen.provenance(seeds=f"0-{n - 1}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget per architecture")
    parser.add_argument("--res", type=int, default=64)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpora" / "portraits")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "quality")
    parser.add_argument("--n", type=int, default=512, help="images per SWD set")
    parser.add_argument("--arch", nargs="+", default=["dcgan", "style"])
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (0: torch's default). On a shared machine, 1 avoids OpenMP waits "
                             "for busy cores, which cost small ops milliseconds each")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = build(args.corpus, args.out, args.res)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for arch in args.arch:
        run = args.out / f"{arch}-{stamp}"
        info = train_for(arch, corpus, run, args.res, args.minutes * 60, None)
        record = evaluate_run(run, corpus, n=args.n)
        contact_sheet(run, args.out / f"{arch}-{stamp}-contact.png")
        rows.append({"arch": arch, **info, "swd": record["swd"],
                     **{k: v for k, v in record.items() if k.startswith("swd_")},
                     "memorization_median": record["memorization_median"]})
    # the same measurement between two halves of the corpus: the floor a perfect model would reach
    from belamy.corpus.store import open_corpus
    from belamy.metrics.swd import swd

    images = np.asarray(open_corpus(corpus).images)
    half = min(args.n, len(images) // 2)
    perm = np.random.default_rng(0).permutation(len(images))
    floor = swd(images[np.sort(perm[:half])], images[np.sort(perm[half : 2 * half])])["swd"]

    print(f"\ndevice: {device_name()}; budget {args.minutes:g} min per architecture at {args.res}²; "
          f"corpus {args.corpus} ({len(images)} images); SWD×1e3 on {args.n} images (lower is better)")
    print(f"{'arch':<7}{'kimg':>8}{'wall s':>9}{'SWD avg':>10}{'mem. median':>13}")
    for row in rows:
        print(f"{row['arch']:<7}{row['kimg']:8.2f}{row['wall_s']:9.0f}{row['swd']:10.2f}{row['memorization_median']:13.3f}")
    print(f"{'corpus':<7}{'':>8}{'':>9}{floor:10.2f}   (half vs half of the corpus, n={half})")
    (args.out / f"results-{stamp}.json").write_text(json.dumps({"rows": rows, "corpus_floor": floor,
                                                                  "minutes": args.minutes, "device": device_name()},
                                                                 indent=2))


if __name__ == "__main__":
    main()
