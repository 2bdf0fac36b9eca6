"""Train a short CPU run of each run kind through the CLI and print a checksum of each checkpoint's tensors.

The same commit always prints the same checksums on one machine; two commits that print the same
checksums train bit for bit alike (weights, BatchNorm statistics, optimizer moments, RNG state).
It drives `belamy` as a user does, so it measures the same thing across refactors of the library.
Usage: python bench/checkpoint_checksums.py [--out DIR] [--only KIND ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import synthetic_portraits, write_corpus  # noqa: E402

TINY = ["--device", "cpu", "--seed", "3", "--keep", "10"]
GAN = [*TINY, "--tick-kimg", "0.032", "--snapshot-ticks", "2", "--grid-size", "4"]


def tensor_digest(path: Path) -> str:
    from safetensors.torch import load_file

    digest = hashlib.sha256()
    for name, value in sorted(load_file(str(path)).items()):
        digest.update(name.encode())
        digest.update(value.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def belamy(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CI": "true"}
    done = subprocess.run([sys.executable, "-m", "belamy", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"belamy {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def report(kind: str, run: Path) -> None:
    for p in sorted((run / "checkpoints").glob("ckpt-*.safetensors")):
        print(f"{kind:9s} {p.stem}  {tensor_digest(p)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="belamy-checksums-"))
    corpus = str(write_corpus(root / "corpus", synthetic_portraits(64, 32)))
    labelled = str(write_corpus(root / "labelled", synthetic_portraits(64, 32, seed=1),
                                labels=["warm" if i % 2 else "cool" for i in range(64)]))
    sr_corpus = str(write_corpus(root / "sr-corpus", synthetic_portraits(24, 48)))
    dcgan = ["--res", "32", "--batch", "16", "--ngf", "8", "--ndf", "8", "--nz", "16"]
    style = ["--res", "16", "--ngf", "4", "--ndf", "4", "--nz", "16", "--batch", "8", "--map-layers", "1"]
    kinds = {
        "dcgan": ["train", corpus, "--arch", "dcgan", *dcgan, "--kimg", "0.128", *GAN],
        "style": ["train", labelled, "--arch", "style", *style, "--labels", "label", "--augment", "ada",
                  "--kimg", "0.064", *GAN],
        "fastgan": ["train", corpus, "--arch", "fastgan", "--res", "32", "--ngf", "8", "--ndf", "8", "--batch", "8",
                    "--kimg", "0.064", *GAN],
        "stylegan3": ["train", corpus, "--arch", "stylegan3", *style, "--kimg", "0.032", *GAN],
        "can": ["train", labelled, "--arch", "dcgan", *dcgan, "--loss", "can", "--labels", "label", "--label-noise",
                "--kimg", "0.128", *GAN],
        "pix2pix": ["train", str(root / "pairs"), "--arch", "pix2pix", "--res", "32", "--ngf", "8", "--ndf", "8",
                    "--batch", "4", "--kimg", "0.048", "--holdout", "0.2", *TINY, "--tick-kimg", "0.016",
                    "--snapshot-ticks", "1", "--grid-size", "4"],
        "sr": ["sr", "train", sr_corpus, "--scale", "4", "--nf", "8", "--nb", "1", "--gc", "8", "--ndf", "8",
               "--patch", "32", "--batch", "4", "--kimg", "0.048", "--warmup-kimg", "0.016", "--tick-kimg", "0.008",
               "--snapshot-ticks", "2", *TINY],
        "distill": ["distill", str(root / "style"), "--kimg", "0.064", "--batch", "16", "--tick-kimg", "0.032",
                    "--keep", "10", "--device", "cpu"],
    }
    for kind, command in kinds.items():
        if args.only and kind not in args.only and not (kind == "style" and "distill" in args.only):
            continue
        if kind == "pix2pix" and not (root / "pairs").exists():
            belamy("corpus", "pairs", corpus, "--out", str(root / "pairs"))
        belamy(*command, "--out", str(root / kind))
        if not args.only or kind in args.only:
            report(kind, root / kind)


if __name__ == "__main__":
    main()
