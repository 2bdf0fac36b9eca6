"""Quality per unit of compute, measured on paintings no model trained on.

    python bench/quality_per_compute.py [--cpu-minutes 10 30] [--res 64] [--corpus ../shared/corpora/portraits]
                                        [--out bench/out/quality] [--arch dcgan style ...] [--threads 1]
    python bench/quality_per_compute.py --gpu-minutes 20 --res 128     # on a GPU: wall-clock budget
    python bench/quality_per_compute.py --cpu-minutes 10 30 60 --continue 20261123-190014 --out ...
                                        # carry an earlier bench's candidates on to a larger budget

The corpus folder of paintings is built once (at --res) into OUT/corpus and split by content hash
into OUT/split/train (four fifths: what every candidate trains on) and OUT/split/heldout (one
fifth: what it is measured against), see bench/heldout.py. Each candidate is an architecture with
optional changed options (``dcgan+augment=diffaugment+ema_kimg=10``) or a preset (``preset=cpu-fast``).

On CPU each candidate trains in its own process with ``--threads`` threads, all candidates side by
side, until the process has used the first budget of CPU time (process time, all its threads
counted: a budget that other work on the machine cannot shrink, only stretch in wall time), is
scored, then resumes (``--resume``) to the next budget, and so on; scoring time is not counted. On
a GPU the budgets are wall-clock minutes and the candidates train one after the other. At each
budget: held-out SWD×10³ (mean and spread over sets), SWD against the training part, the
memorisation ratio, the yardstick that sees structure (two-sample AUC, at full size and at 16²;
precision, recall, density, coverage: heldout.py), and a contact sheet
OUT/<candidate>-<stamp>-<budget>min.png of seeds 0-63.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import threading
import time
from pathlib import Path

import torch
from heldout import SETS, HeldOutSplit, split_corpus
from machine import cpu_name

from belamy.gan import train
from belamy.gan.options import TrainOptions
from belamy.generate.loader import load_generator
from belamy.metrics.evaluate import generate_for_eval
from belamy.provenance.embed import save_png
from belamy.trainer.stop import StopRequest
from belamy.utils.grid import make_grid, to_uint8

REPO = Path(__file__).resolve().parents[1]


def device_name(threads: int) -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{cpu_name()} ({threads} thread{'s' if threads > 1 else ''} per candidate)"


def build(corpus_src: Path, out: Path, res: int) -> Path:
    from belamy.corpus.build import build_corpus

    target = out / "corpus"
    if not (target / "corpus.json").exists():
        build_corpus([corpus_src], target, size=res, min_size=min(64, res))
    return target


def _watch(stop: StopRequest, spent, budget_s: float, done: threading.Event) -> None:
    while not done.wait(0.5):
        if spent() >= budget_s:
            stop.requested = True
            return


def parse_variant(spec: str) -> tuple[str | None, dict]:
    """``style``, ``style+batch=16+precision=bf16`` or ``preset=cpu-fast``: an architecture (or none,
    for a preset) and the training options to change."""
    first, *settings = spec.split("+")
    arch = None
    if "=" in first:
        settings.insert(0, first)
    else:
        arch = first
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


def train_until(spec: str, corpus: Path, run: Path, res: int, budget_s: float, clock, resume: bool) -> int:
    """Train ``spec`` (resuming ``run`` if asked) until ``clock()`` reaches ``budget_s``; returns images seen."""
    stop = StopRequest()
    arch, overrides = parse_variant(spec)
    options = TrainOptions.of(corpus=corpus, out=run, arch=arch if not resume else None, res=res if not resume else None,
                           kimg=100_000, tick_kimg=1.0, snapshot_ticks=1000, grid_size=16, device="auto",
                           resume=resume, **({} if resume else overrides))
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(stop, clock, budget_s, done), daemon=True)
    watcher.start()
    try:
        result = train(options, stop=stop)
    finally:
        done.set()
    return result.nimg


def contact_sheet(gen, path: Path, n: int = 64) -> None:
    with torch.inference_mode():
        pictures = to_uint8(gen.synthesize(gen.latents(list(range(n)))))
    save_png(make_grid(pictures, cols=8), path, gen.provenance(seeds=f"0-{n - 1}"))


def file_stem(spec: str) -> str:
    return spec.replace("=", "-").replace("+", "_")


def measure(spec: str, split_dir: Path, out: Path, stamp: str, res: int, budgets_s: list[float], cpu_clock: bool,
            threads: int) -> list[dict]:
    """One candidate through every budget: train, score, contact sheet. The rows are returned and
    written to OUT/<candidate>-<stamp>.json (the child process's answer). Budgets that file already
    has rows for are skipped: the run resumes from its last checkpoint with the time spent so far (the
    last row's, or that of a budget stopped from outside, kept in OUT/<candidate>-<stamp>.spent)."""
    if threads:
        torch.set_num_threads(threads)
    split = HeldOutSplit.open(split_dir / "train", split_dir / "heldout")
    run = out / f"{file_stem(spec)}-{stamp}"
    answer = out / f"{file_stem(spec)}-{stamp}.json"
    rows = json.loads(answer.read_text()) if answer.exists() else []
    stopped = answer.with_suffix(".spent")  # the training time of a budget stopped from outside
    already_s = rows[-1]["train_s"] if rows else 0.0
    if stopped.exists():
        already_s = max(already_s, float(stopped.read_text()))
    already_wall_s = rows[-1]["wall_s"] if rows else 0.0
    base = time.process_time if cpu_clock else time.perf_counter
    excluded = 0.0  # time spent scoring: not training budget
    start = base()

    def spent() -> float:
        return already_s + base() - start - excluded

    started = time.perf_counter() - already_wall_s
    for budget_s in budgets_s:
        if any(row["budget_min"] == budget_s / 60 for row in rows):
            continue
        nimg = train_until(spec, split_dir / "train", run, res, budget_s, spent, resume=(run / "run.json").exists())
        train_spent, scoring_from = spent(), base()
        if train_spent < budget_s:  # stopped from outside (Ctrl-C, SIGTERM): a row would be mislabelled
            print(f"{spec}: stopped after {train_spent / 60:.1f} of {budget_s / 60:g} minutes; no row for this budget")
            stopped.write_text(f"{train_spent:.1f}")  # the run's last checkpoint holds this much training
            break
        gen = load_generator(run, device="auto")
        with torch.inference_mode():
            fakes = generate_for_eval(gen, split.fakes_needed)
        minutes = budget_s / 60
        contact_sheet(gen, out / f"{file_stem(spec)}-{stamp}-{minutes:g}min.png")
        row = {"candidate": spec, "budget_min": minutes, "kimg": round(nimg / 1000, 2),
               "train_s": round(train_spent, 1), "wall_s": round(time.perf_counter() - started, 1),
               **{k: round(v, 3) for k, v in {**split.score(fakes), **split.yardstick(fakes)}.items()}}
        rows.append(row)
        excluded += base() - scoring_from
        answer.write_text(json.dumps(rows))
    return rows


YARDSTICK_COLUMNS = (("AUC", "two_sample_auc"), ("AUC 16²", "two_sample_auc_lowpass"), ("prec.", "precision"),
                     ("cover.", "coverage"))


def print_table(rows: list[dict], floor: dict, header: str) -> None:
    print(f"\n{header}")
    print(f"{'candidate':<44}{'budget':>7}{'kimg':>8}{'SWD held-out':>15}{'SWD train':>11}{'mem. median':>13}"
          + "".join(f"{title:>9}" for title, _ in YARDSTICK_COLUMNS))
    for row in rows:
        print(f"{row['candidate']:<44}{row['budget_min']:7g}{row['kimg']:8.1f}"
              f"{row['swd_heldout']:9.1f} ±{row['swd_heldout_sd']:4.1f}{row['swd_train']:11.1f}"
              f"{row['memorization_median']:13.3f}" + "".join(f"{row.get(key, float('nan')):9.3f}"
                                                              for _, key in YARDSTICK_COLUMNS))
    print(f"{'real vs real (train fifths vs held-out)':<44}{'':>7}{'':>8}{floor['swd_heldout']:9.1f} "
          f"±{floor['swd_heldout_sd']:4.1f}{'':>11}{floor['memorization_median']:13.3f}"
          + "".join(f"{floor.get(key, float('nan')):9.3f}" for _, key in YARDSTICK_COLUMNS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-minutes", type=float, nargs="+", default=[10.0, 30.0],
                        help="CPU-time budgets per candidate, in increasing order (CPU)")
    parser.add_argument("--gpu-minutes", type=float, nargs="+", default=[20.0], help="wall-clock budgets (GPU)")
    parser.add_argument("--res", type=int, default=64)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpora" / "portraits")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "quality")
    parser.add_argument("--arch", nargs="+", default=["dcgan", "style"],
                        help="candidates: an architecture with changed options (style+batch=16+precision=bf16), "
                             "or preset=NAME")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads per candidate (they train side by side, one process each)")
    parser.add_argument("--continue", dest="stamp", metavar="STAMP",
                        help="carry on the candidates of an earlier bench (its results stamp, e.g. 20261123-190014) to "
                             "budgets it has no rows for; each resumes from its last checkpoint with the CPU time "
                             "spent so far")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = build(args.corpus, args.out, args.res)
    train_dir, _ = split_corpus(corpus, args.out / "split")
    split_dir = train_dir.parent
    stamp = args.stamp or time.strftime("%Y%m%d-%H%M%S")
    on_gpu = torch.cuda.is_available()
    minutes = sorted(args.gpu_minutes if on_gpu else args.cpu_minutes)
    budgets_s = [m * 60 for m in minutes]
    jobs = [(spec, split_dir, args.out, stamp, args.res, budgets_s, not on_gpu, args.threads) for spec in args.arch]
    if on_gpu:
        rows = [row for job in jobs for row in measure(*job)]
    else:
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=measure, args=job) for job in jobs]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        rows = []
        for spec in args.arch:
            answer = args.out / f"{file_stem(spec)}-{stamp}.json"
            rows += json.loads(answer.read_text()) if answer.exists() else []
    rows.sort(key=lambda r: (r["budget_min"], r["swd_heldout"]))
    split = HeldOutSplit.open(split_dir / "train", split_dir / "heldout")
    floor = {**split.real_vs_real(), **split.yardstick_floor()}
    unit = "wall minutes" if on_gpu else "CPU minutes"
    header = (f"device: {device_name(args.threads)}; budgets {', '.join(f'{m:g}' for m in minutes)} {unit} per candidate "
              f"at {args.res}²; trained on {len(split.train)} paintings of {args.corpus}, SWD×10³ against the "
              f"{len(split.heldout)} held out (mean ± sd over {SETS} sets of {split.set_size}; lower is better); "
              f"memorisation: nearest training painting, relative (~1: no copying); two-sample AUC (0.5: paintings), "
              f"precision and coverage (1: paintings) on the held-out paintings, floors from training paintings")
    print_table(rows, floor, header)
    (args.out / f"results-{stamp}.json").write_text(json.dumps(
        {"rows": rows, "real_vs_real": floor, "budgets": minutes, "unit": unit, "res": args.res,
         "device": device_name(args.threads), "train_count": len(split.train), "heldout_count": len(split.heldout)},
        indent=2))


if __name__ == "__main__":
    main()
