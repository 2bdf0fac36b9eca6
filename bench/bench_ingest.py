"""Corpus ingest speed: `build_corpus` on the shared portraits beside the same pipeline on one process.

Reads every file of shared/corpora/portraits (834 JPEGs, short side 82-2536 px), decodes, trims,
crops and resamples each to SIZE², hashes and de-duplicates them, and writes the corpus. Figures:

    every core       build_corpus(workers=0)              (what `belamy corpus build` does)
    one process      build_corpus(workers=1)              (the reference: the same pipeline, serial)
    one, no draft    build_corpus(workers=1, draft=False) (JPEGs decoded at full size)

    python bench/bench_ingest.py [--size 128] [--repeat 2] [--source PATH]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from machine import cpu_name

from belamy.corpus.build import build_corpus

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "portraits"




def run(source: Path, size: int, repeat: int, **kwargs) -> tuple[float, int]:
    """Best images/s over ``repeat`` builds (the first also warms the page cache)."""
    best, read = 0.0, 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            report = build_corpus([source], Path(tmp) / "corpus", size=size, **kwargs)
            dt = time.perf_counter() - t
        read = report.read
        best = max(best, report.read / dt)
    return best, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    os.environ.setdefault("BELAMY_QUIET", "1")

    print(f"corpus ingest, {args.source} at {args.size}², {os.cpu_count()} cores ({cpu_name()})")
    rows = [
        ("every core (workers=0)", {"workers": 0}),
        ("one process (workers=1)", {"workers": 1}),
        ("one process, no JPEG draft", {"workers": 1, "draft": False}),
    ]
    results = []
    for label, kwargs in rows:
        rate, read = run(args.source, args.size, args.repeat, **kwargs)
        results.append(rate)
        print(f"  {label:30s} {rate:7.1f} img/s   ({read} files)")
    print(f"  speed-up from every core: {results[0] / results[1]:.2f}×; from draft decoding: {results[1] / results[2]:.2f}×")


if __name__ == "__main__":
    main()
