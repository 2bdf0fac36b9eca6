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


RUNS = {
    "A": dict(arch="dcgan", seed=0, kimg=30.0),
    "B": dict(arch="dcgan", seed=1, kimg=30.0),
    "C": dict(arch="style", seed=0, kimg=6.0, batch=16, channel_base=1024, channel_max=64),
}


def train_runs(work: Path, corpus: Path) -> dict[str, Path]:
    from belamy.train.loop import train
    from belamy.train.options import TrainOptions

    runs = {}
    for name, settings in RUNS.items():
        out = work / "runs" / name
        runs[name] = out
        if (out / "done").exists():
            continue
        shutil.rmtree(out, ignore_errors=True)
        settings = dict(settings)
        extra = {k: settings.pop(k) for k in ("channel_base", "channel_max") if k in settings}
        started = time.time()
        train(TrainOptions(corpus=corpus, out=out, res=RES, device="cpu", tick_kimg=2.0, snapshot_ticks=5,
                           grid_size=16, keep=1, **settings, **extra))
        (out / "done").write_text(f"{time.time() - started:.0f} s\n")
        print(f"trained run {name} ({settings['arch']}, seed {settings['seed']}, {settings['kimg']} kimg) "
              f"in {time.time() - started:.0f} s", flush=True)
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/belamy-attr"))
    parser.add_argument("--source", type=Path, default=PORTRAITS)
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    corpus, held_out = build_corpora(args.work, args.source)
    runs = train_runs(args.work, corpus)
    if args.train_only:
        return


if __name__ == "__main__":
    main(sys.argv[1:])
