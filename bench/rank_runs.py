"""Score finished runs with every measure of the held-out bench, to check which measures rank them as a person does.

    python bench/rank_runs.py --split OUT/split RUN[@CHECKPOINT] ... [--names demo dcgan ...] [--seeds 5] [--out ranks.json]

Each run draws the pictures the quality bench would (belamy.metrics.evaluate.generate_for_eval);
pictures larger than the split's paintings are averaged down to their size (area filter), so runs
of different resolutions can be compared at the smallest. Printed: held-out SWD×10³, the two-sample
AUC at full size and at 16², precision, recall, density and coverage at both, and the real-vs-real
floor of each (bench/heldout.py). With ``--seeds N`` the two-sample tests are run with N seeds of
their CNN and averaged (``2s_auc sd``: their spread), so a reader can tell a difference from noise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from heldout import HeldOutSplit
from machine import cpu_name

from belamy.generate.loader import load_generator
from belamy.metrics.evaluate import generate_for_eval

COLUMNS = ("swd_heldout", "two_sample_auc", "two_sample_auc_sd", "two_sample_auc_lowpass", "precision", "recall", "density", "coverage",
           "precision_lowpass", "recall_lowpass", "density_lowpass", "coverage_lowpass")


def seeded(score, seeds: int) -> dict:
    """``score(seed)`` averaged over ``seeds`` seeds, with the full-size two-sample AUC's spread."""
    runs = [score(seed) for seed in range(seeds)]
    mean = {key: sum(run[key] for run in runs) / seeds for key in runs[0]}
    aucs = [run["two_sample_auc"] for run in runs]
    return {**mean, "two_sample_auc_sd": (sum((a - mean["two_sample_auc"]) ** 2 for a in aucs) / seeds) ** 0.5}


def score_run(spec: str, split: HeldOutSplit, seeds: int = 1) -> dict:
    run, _, checkpoint = spec.partition("@")
    gen = load_generator(Path(run), checkpoint or "latest", device="cpu")
    with torch.inference_mode():
        fakes = generate_for_eval(gen, split.fakes_needed)
    side = split.heldout.shape[1]
    if fakes.shape[-1] != side:
        fakes = F.interpolate(fakes, size=(side, side), mode="area")
    return {"kimg": gen.kimg, "res": int(gen.meta.get("model", {}).get("res", 0)) or None,
            **split.score(fakes), **seeded(lambda seed: split.yardstick(fakes, seed), seeds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--split", type=Path, required=True, help="a held-out split made by quality_per_compute.py")
    parser.add_argument("--names", nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=1, help="seeds of the two-sample tests' CNN to average over")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = HeldOutSplit.open(args.split / "train", args.split / "heldout")
    names = args.names + args.runs[len(args.names) :]
    rows = {name: score_run(spec, split, args.seeds) for name, spec in zip(names, args.runs, strict=True)}
    floor = {**split.real_vs_real(), **seeded(split.yardstick_floor, args.seeds)}
    side = split.heldout.shape[1]
    print(f"device: {cpu_name()}; {len(split.heldout)} held-out paintings at {side}²")
    print(f"{'run':<28}" + "".join(f"{c.replace('two_sample_', '2s_').replace('_lowpass', '16'):>12}" for c in COLUMNS))
    for name, row in [*rows.items(), ("real vs real (floor)", floor)]:
        print(f"{name:<28}" + "".join(f"{row[c]:12.3f}" for c in COLUMNS))
    if args.out:
        args.out.write_text(json.dumps({"device": cpu_name(), "size": side, "rows": rows, "floor": floor}, indent=2))


if __name__ == "__main__":
    main()
