"""Attribution ROC AUC: can `belamy attribute` tell a run's own samples from everything else?

For one trained DCGAN run (A) on /work/shared/corpora/portraits at 32², the score of `belamy attribute`
is measured on A's own samples (as written, after JPEG q75, and after a 2× resize) against:

  (a) held-out real paintings (never shown to any run),
  (b) samples of a second DCGAN run (B) of the same corpus with another seed,
  (c) samples of a style-based run (C) of the same corpus.

The runs are trained here for a few CPU minutes (one torch thread) when WORK/runs lacks them.
Usage: python bench/bench_attribution.py [--work /tmp/belamy-attr] [--n 40] [--restarts 4] [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PORTRAITS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "portraits"
RES = 32
HELD_OUT = 133  # real paintings kept out of every run's training set


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        name = ""
    return name or platform.processor() or platform.machine()


def build_corpora(work: Path, source: Path) -> tuple[Path, np.ndarray]:
    """The full corpus at 32², a training corpus without the held-out paintings, and those paintings."""
    from belamy.corpus.build import build_corpus
    from belamy.corpus.store import open_corpus
    from belamy.utils.atomic import read_jsonl

    full = work / "portraits32"
    if not (full / "corpus.json").exists():
        build_corpus([str(source)], full, size=RES, min_size=32, workers=1)
    corpus = open_corpus(full)
    order = np.random.default_rng(2024).permutation(len(corpus))
    held, kept = np.sort(order[:HELD_OUT]), np.sort(order[HELD_OUT:])
    train_dir = work / "portraits32-train"
    if not (train_dir / "corpus.json").exists():
        train_dir.mkdir(parents=True, exist_ok=True)
        np.save(train_dir / "images.npy", np.ascontiguousarray(corpus.images[kept]))
        manifest = read_jsonl(full / "manifest.jsonl")
        with open(train_dir / "manifest.jsonl", "w", encoding="utf-8") as fh:
            for new, old in enumerate(kept):
                fh.write(json.dumps({**manifest[old], "index": new}) + "\n")
        info = json.loads((full / "corpus.json").read_text())
        info.update(count=int(len(kept)), held_out=int(len(held)))
        (train_dir / "corpus.json").write_text(json.dumps(info))
        for name in ("rejects.jsonl", "duplicates.jsonl"):
            (train_dir / name).write_text("")
    return train_dir, np.asarray(corpus.images[held])


# A is the run under test; B differs only in its seed; C is the other architecture, small and short.
RUNS = {
    "A": dict(arch="dcgan", seed=0, kimg=30.0),
    "B": dict(arch="dcgan", seed=1, kimg=30.0),
    "C": dict(arch="style", seed=0, kimg=6.0, batch=16, channel_base=1024, channel_max=64),
}


def train_runs(work: Path, corpus: Path) -> dict[str, Path]:
    from belamy.gan import train
    from belamy.gan.options import TrainOptions

    runs = {}
    for name, settings in RUNS.items():
        out = work / "runs" / name
        runs[name] = out
        if (out / "done").exists():
            continue
        from belamy.trainer.checkpoint import latest_checkpoint

        resume = latest_checkpoint(out / "checkpoints") is not None  # an interrupted bench goes on
        if not resume:
            shutil.rmtree(out, ignore_errors=True)
        settings = dict(settings)
        extra = {k: settings.pop(k) for k in ("channel_base", "channel_max") if k in settings}
        started = time.time()
        result = train(TrainOptions.of(corpus=corpus, out=out, res=RES, device="cpu", tick_kimg=2.0, snapshot_ticks=5,
                                    grid_size=16, keep=1, resume=resume, **settings, **extra))
        if result.interrupted:  # stopped (Ctrl-C, SIGTERM): not done; the next start resumes it
            raise SystemExit(130)
        (out / "done").write_text(f"{time.time() - started:.0f} s\n")
        print(f"trained run {name} ({settings['arch']}, seed {settings['seed']}, {settings['kimg']} kimg) "
              f"in {time.time() - started:.0f} s", flush=True)
    return runs


def auc(positive: list[float], negative: list[float]) -> float:
    """ROC AUC: the chance that a positive scores above a negative (ties count half)."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def measure(runs: dict[str, Path], held_out: np.ndarray, n: int, restarts: int, steps: int, references: int,
            work: Path) -> dict:
    from belamy.attribute.attribute import calibrate, jpeg, prepare, project_all, samples
    from belamy.attribute.project import Projector, load_discriminator
    from belamy.generate.loader import load_generator
    from belamy.utils.grid import make_grid, to_uint8

    gen = load_generator(runs["A"], device="cpu")
    projector = Projector(gen, load_discriminator(gen), restarts=restarts, steps=steps)
    started = time.time()
    calibration = calibrate(gen, projector, references, cache=False)
    seeds = list(range(5_000_000, 5_000_000 + n))
    own = samples(gen, seeds)
    shape = (RES, RES)
    groups = {
        "own": [prepare(Image.fromarray(p), shape) for p in own],
        "own, JPEG q75": [prepare(jpeg(p, 75), shape) for p in own],
        "own, 2x resize": [prepare(Image.fromarray(p).resize((2 * RES, 2 * RES), Image.Resampling.LANCZOS), shape)
                           for p in own],
        "(a) held-out paintings": [prepare(Image.fromarray(np.asarray(p)), shape) for p in held_out[:n]],
        "(b) run B (dcgan, seed 1)": [prepare(Image.fromarray(p), shape)
                                      for p in samples(load_generator(runs["B"], device="cpu"), seeds)],
        "(c) run C (style)": [prepare(Image.fromarray(p), shape)
                              for p in samples(load_generator(runs["C"], device="cpu"), seeds)],
    }
    residuals, pictures = {}, []
    for name, targets in groups.items():
        res, _, recon = project_all(projector, targets, name)
        residuals[name] = res
        show = min(8, len(targets))
        pictures += [to_uint8(torch.stack(targets[:show])), to_uint8(recon[:show])]
        print(f"{name}: median residual {np.median(res):.4g}", flush=True)
    Image.fromarray(make_grid(np.concatenate(pictures), cols=8)).save(work / "reconstructions.png")
    table = {}
    for pos in ("own", "own, JPEG q75", "own, 2x resize"):
        for neg in ("(a) held-out paintings", "(b) run B (dcgan, seed 1)", "(c) run C (style)"):
            # A smaller residual means "more likely the model's own": rank by its negative.
            table[f"{pos} vs {neg}"] = {
                "auc": round(auc([-r for r in residuals[pos]], [-r for r in residuals[neg]]), 4),
                "n_pos": len(residuals[pos]), "n_neg": len(residuals[neg]),
                "score_pos": round(float(np.mean([calibration.score(r) for r in residuals[pos]])), 3),
                "score_neg": round(float(np.mean([calibration.score(r) for r in residuals[neg]])), 3),
            }
    return {"machine": machine(), "torch_threads": torch.get_num_threads(), "n": n, "restarts": restarts,
            "steps": steps, "references": references, "seconds": round(time.time() - started),
            "calibration": {"own_median": float(np.median(calibration.own)),
                            "other_median": float(np.median(calibration.other))},
            "median_residual": {k: float(np.median(v)) for k, v in residuals.items()}, "auc": table}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/belamy-attr"))
    parser.add_argument("--source", type=Path, default=PORTRAITS)
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--n", type=int, default=20, help="pictures per group")
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--references", type=int, default=12)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    corpus, held_out = build_corpora(args.work, args.source)
    runs = train_runs(args.work, corpus)
    if args.train_only:
        return
    report = measure(runs, held_out, args.n, args.restarts, args.steps, args.references, args.work)
    (args.work / "attribution.json").write_text(json.dumps(report, indent=2))
    print(f"\nmachine: {report['machine']}, one torch thread, {report['seconds']} s; projection: "
          f"{args.restarts} restarts x {args.steps} steps; calibration: {args.references} + {args.references}")
    print("| own samples | against | ROC AUC | n own | n other | mean score own | mean score other |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for key, row in report["auc"].items():
        pos, neg = key.split(" vs ")
        print(f"| {pos} | {neg} | {row['auc']:.3f} | {row['n_pos']} | {row['n_neg']} | {row['score_pos']:.2f} | "
              f"{row['score_neg']:.2f} |")
    print(f"reconstructions (targets above, reconstructions below, 8 per group): {args.work / 'reconstructions.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
