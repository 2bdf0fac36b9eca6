"""Quality per unit of compute: DCGAN and the style-based GAN, each trained for the same compute
budget on the same corpus, then measured with SWD against it (and the memorisation score).

    python bench/quality_per_compute.py [--cpu-minutes 30] [--res 64] [--corpus ../shared/corpora/portraits]
                                        [--out bench/out/quality] [--n 512] [--threads 1]
    python bench/quality_per_compute.py --gpu-minutes 20 --res 128     # on a GPU: wall-clock budget

The corpus folder of paintings is built once (training images at --res) into OUT/corpus. On CPU,
each architecture trains in its own process with ``--threads`` threads, all architectures at once,
until the process has used ``--cpu-minutes`` of CPU time (process time, all its threads counted):
a budget that other work on the machine cannot shrink, only stretch in wall time. On a GPU the
budget is wall-clock minutes and the architectures train one after the other. A stop request ends
the loop, which saves a checkpoint; then --n images from its final generator (G_ema for style) are
compared with --n corpus images. Contact sheets land in OUT/<arch>-<stamp>-contact.png.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import threading
import time
from pathlib import Path

import numpy as np
import torch

from belamy.generate.loader import load_generator
from belamy.metrics.evaluate import evaluate_run
from belamy.runs.stop import StopRequest
from belamy.train import train
from belamy.train.options import TrainOptions
from belamy.utils.grid import make_grid, to_uint8
from belamy.utils.imageio import save_png
from belamy.utils.machine import cpu_name

REPO = Path(__file__).resolve().parents[1]


def device_name(threads: int) -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{cpu_name()} ({threads} thread{'s' if threads > 1 else ''} per architecture)"


def build(corpus_src: Path, out: Path, res: int) -> Path:
    from belamy.corpus.build import build_corpus

    target = out / "corpus"
    if not (target / "corpus.json").exists():
        build_corpus([corpus_src], target, size=res, min_size=min(64, res))
    return target


def _watch(stop: StopRequest, spent, budget_s: float, done: threading.Event) -> None:
    while not done.wait(1.0):
        if spent() >= budget_s:
            stop.requested = True
            return


def parse_variant(spec: str) -> tuple[str, dict]:
    """``style`` or ``style+batch=16+precision=bf16``: an architecture and training options to change."""
    arch, *settings = spec.split("+")
    overrides = {}
    for item in settings:
        key, _, value = item.partition("=")
        for cast in (int, float):
            try:
                overrides[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            overrides[key] = value
    return arch, overrides


def train_for(spec: str, corpus: Path, run: Path, res: int, budget_s: float, cpu_clock: bool) -> dict:
    """Train ``spec`` until ``budget_s`` seconds of process CPU time (or wall time) are spent."""
    stop = StopRequest()
    arch, overrides = parse_variant(spec)
    options = TrainOptions(corpus=corpus, out=run, arch=arch, res=res, kimg=100_000, tick_kimg=1.0,
                           snapshot_ticks=1000, grid_size=16, device="auto", **overrides)
    clock = time.process_time if cpu_clock else time.perf_counter
    start_clock, started = clock(), time.perf_counter()
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(stop, lambda: clock() - start_clock, budget_s, done), daemon=True)
    watcher.start()
    try:
        result = train(options, stop=stop)
    finally:
        done.set()
    return {"kimg": round(result.nimg / 1000, 2), "wall_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(time.process_time() - start_clock, 1) if cpu_clock else None}


def contact_sheet(run: Path, path: Path, n: int = 64) -> None:
    gen = load_generator(run, device="auto")
    with torch.inference_mode():
        pictures = to_uint8(gen.synthesize(gen.latents(list(range(n)))))
    save_png(make_grid(pictures, cols=8), path, gen.provenance(seeds=f"0-{n - 1}"))


def measure(arch: str, corpus: Path, out: Path, stamp: str, res: int, budget_s: float, cpu_clock: bool,
            n: int, threads: int) -> dict:
    """One architecture: train on the budget, evaluate, write the contact sheet; the row is returned
    and written to OUT/<arch>-<stamp>.json (the child process's answer)."""
    if threads:
        torch.set_num_threads(threads)
    run = out / f"{arch}-{stamp}"
    info = train_for(arch, corpus, run, res, budget_s, cpu_clock)
    record = evaluate_run(run, corpus, n=n)
    contact_sheet(run, out / f"{arch}-{stamp}-contact.png")
    row = {"arch": arch, **info, "swd": record["swd"],
           **{k: v for k, v in record.items() if k.startswith("swd_")},
           "memorization_median": record["memorization_median"]}
    (out / f"{arch}-{stamp}.json").write_text(json.dumps(row))
    return row


def corpus_floor(corpus: Path, n: int) -> tuple[float, int]:
    """SWD between two disjoint halves of the corpus: the floor a perfect model would reach."""
    from belamy.corpus.store import open_corpus
    from belamy.metrics.swd import swd

    images = np.asarray(open_corpus(corpus).images)
    half = min(n, len(images) // 2)
    perm = np.random.default_rng(0).permutation(len(images))
    return swd(images[np.sort(perm[:half])], images[np.sort(perm[half : 2 * half])])["swd"], half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-minutes", type=float, default=30.0, help="CPU-time budget per architecture (CPU)")
    parser.add_argument("--gpu-minutes", type=float, default=20.0, help="wall-clock budget per architecture (GPU)")
    parser.add_argument("--res", type=int, default=64)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpora" / "portraits")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "quality")
    parser.add_argument("--n", type=int, default=512, help="images per SWD set")
    parser.add_argument("--arch", nargs="+", default=["dcgan", "style"],
                        help="architectures, each optionally with changed options: style+batch=16+precision=bf16")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads per architecture (they train side by side, one process each)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = build(args.corpus, args.out, args.res)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    on_gpu = torch.cuda.is_available()
    budget_s = (args.gpu_minutes if on_gpu else args.cpu_minutes) * 60
    jobs = [(arch, corpus, args.out, stamp, args.res, budget_s, not on_gpu, args.n, args.threads) for arch in args.arch]
    if on_gpu:
        rows = [measure(*job) for job in jobs]
    else:
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=measure, args=job) for job in jobs]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        rows = [json.loads((args.out / f"{arch}-{stamp}.json").read_text()) for arch in args.arch]
    floor, half = corpus_floor(corpus, args.n)
    budget = f"{args.gpu_minutes:g} wall minutes" if on_gpu else f"{args.cpu_minutes:g} CPU minutes"
    print(f"\ndevice: {device_name(args.threads)}; budget {budget} per architecture at {args.res}²; "
          f"corpus {args.corpus}; SWD×1e3 on {args.n} images (lower is better)")
    print(f"{'arch':<24}{'kimg':>8}{'wall s':>9}{'cpu s':>9}{'SWD avg':>10}{'mem. median':>13}")
    for row in rows:
        cpu = f"{row['cpu_s']:9.0f}" if row.get("cpu_s") else f"{'-':>9}"
        print(f"{row['arch']:<24}{row['kimg']:8.2f}{row['wall_s']:9.0f}{cpu}{row['swd']:10.2f}"
              f"{row['memorization_median']:13.3f}")
    print(f"{'corpus':<24}{'':>8}{'':>9}{'':>9}{floor:10.2f}   (half vs half of the corpus, n={half})")
    (args.out / f"results-{stamp}.json").write_text(json.dumps(
        {"rows": rows, "corpus_floor": floor, "budget": budget, "res": args.res, "device": device_name(args.threads)},
        indent=2))


if __name__ == "__main__":
    main()
