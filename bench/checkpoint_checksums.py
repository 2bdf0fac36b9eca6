"""Train a short CPU run of each run kind and print a checksum of each checkpoint's tensors.

The same commit always prints the same checksums on one machine; two commits that print the same
checksums train bit for bit alike (weights, BatchNorm statistics, optimizer moments, RNG state).
Usage: python bench/checkpoint_checksums.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import synthetic_portraits, write_corpus  # noqa: E402


def tensor_digest(path: Path) -> str:
    from safetensors.torch import load_file

    digest = hashlib.sha256()
    for name, value in sorted(load_file(str(path)).items()):
        digest.update(name.encode())
        digest.update(value.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def report(kind: str, run: Path) -> None:
    for p in sorted((run / "checkpoints").glob("ckpt-*.safetensors")):
        print(f"{kind:8s} {p.stem}  {tensor_digest(p)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = args.out or Path(tempfile.mkdtemp(prefix="belamy-checksums-"))
    corpus = write_corpus(root / "corpus", synthetic_portraits(64, 32))
    labelled = write_corpus(root / "labelled", synthetic_portraits(64, 32, seed=1),
                            labels=["warm" if i % 2 else "cool" for i in range(64)])
    sr_corpus = write_corpus(root / "sr-corpus", synthetic_portraits(24, 48))

    from belamy.train import train
    from belamy.train.options import TrainOptions

    common = dict(kimg=0.256, tick_kimg=0.064, snapshot_ticks=2, keep=10, seed=3, device="cpu", grid_size=4)
    train(TrainOptions(corpus=corpus, out=root / "dcgan", arch="dcgan", res=32, batch=16, ngf=8, ndf=8, nz=16, **common))
    report("dcgan", root / "dcgan")
    style = dict(arch="style", res=16, ngf=4, ndf=4, nz=16, w_dim=16, map_layers=1, channel_max=32, batch=8,
                 r1_interval=2, augment="ada", augment_p=0.2, **{**common, "kimg": 0.128, "tick_kimg": 0.032})
    train(TrainOptions(corpus=labelled, out=root / "style", labels="label", **style))
    report("style", root / "style")

    from belamy.upscale.train import SRTrainOptions, train_sr

    train_sr(SRTrainOptions(corpus=sr_corpus, out=root / "sr", scale=4, nf=8, nb=1, gc=8, ndf=8, patch=32, batch=4,
                            kimg=0.048, warmup_kimg=0.016, tick_kimg=0.008, snapshot_ticks=2, keep=10, seed=1, device="cpu"))
    report("sr", root / "sr")

    from belamy.distill import DistillOptions, distill

    distill(DistillOptions(teacher=root / "style", out=root / "distill", kimg=0.128, batch=16, tick_kimg=0.032,
                           keep=10, device="cpu"))
    report("distill", root / "distill")


if __name__ == "__main__":
    main()
