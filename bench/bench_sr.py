"""Super-resolution ×4 measured on paintings no network trained on: PSNR, SSIM and the two-sample test.

    python bench/bench_sr.py train [--cpu-minutes 10 30 60] [--out /tmp/sr-bench] [--threads 1] [--degradation mixed ...]
    python bench/bench_sr.py score [--out /tmp/sr-bench] [--models SR_RUN ...] [--weights RealESRGAN_x4plus.pth ...]
    python bench/bench_sr.py score [--out /tmp/sr-bench] --models painting   # painting: the weights shipped now
    python bench/bench_sr.py ship --cpu-minutes 30 [--out /tmp/sr-bench]   # OUT/sr-30min -> belamy's painting-SR weights

``--size 768`` (train and score): the same split's paintings again at 768², those at least that large,
decoded at full size: where the brush and the craquelure show, as in a print's last ×4 passes.

``train``: the corpus folder of paintings is built once at 256² (only pictures at least that large,
so the ground truth is real detail) into OUT/corpus and split by content hash into OUT/split/train and
OUT/split/heldout (bench/heldout.py). `belamy sr train` learns on the training
part until the process has used each CPU-time budget in turn; a copy of the run at each budget is
kept as OUT/sr-<budget>min. Recipe flags (--degradation, --nb, --patch, --lr ...) go to `sr train`
as they are; those not given keep its defaults.

``score``: every held-out painting (256²) is shrunk ×4 to 64² in two ways: plainly (bicubic, the
textbook benchmark) and by the Real-ESRGAN-style degradation the network trains on
(belamy.upscale.degrade, fixed seed: soft, a little noisy and JPEG'd, like a generated portrait).
Each method enlarges it back to 256²: Lanczos, bicubic, the built-in network at each budget, and any
third-party weights given by path. Reported: PSNR and SSIM against the painting (mean over the
held-out set), and the classifier two-sample test (belamy.metrics.two_sample) of the enlargements
against the original paintings at 256² (AUC 0.5: indistinguishable), on the 16 64² tiles of each
picture (detail, not composition): it learns on the tiles of the first half of the held-out
paintings against those of their enlargements and is scored on the second half; its floor puts
training paintings in the enlargements' place.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import torch
from heldout import HeldOutSplit, split_corpus
from machine import cpu_name
from PIL import Image
from quality_per_compute import _watch
from safetensors.torch import save_file

from belamy.metrics.image_quality import psnr, ssim
from belamy.metrics.two_sample import two_sample_test
from belamy.trainer import checkpoint as ck
from belamy.trainer.stop import StopRequest
from belamy.upscale.degrade import degrade, shrink_bicubic
from belamy.upscale.tiled import upscale_tiled
from belamy.upscale.train import SRTrainOptions, read_init, train_sr
from belamy.upscale.upscaler import PAINTING_WEIGHTS, load_sr_run, load_weights, painting_sr

REPO = Path(__file__).resolve().parents[1]
SIZE, SCALE = 256, 4
INPUTS = ("bicubic", "degraded")  # how each held-out painting is shrunk before it is enlarged back


def build(corpus_src: Path, out: Path) -> Path:
    from belamy.corpus.build import build_corpus

    target = out / "corpus"
    if not (target / "corpus.json").exists():
        build_corpus([corpus_src], target, size=SIZE, min_size=SIZE, workers=1)
    return split_corpus(target, out / "split")[0].parent


def at_side(out: Path, part: str, side: int) -> Path:
    """The ``part`` (train or heldout) of the 256² split again at ``side``², from those of its paintings at
    least that large, decoded at full size: detail at the scale of the paint, as a print's last passes
    enlarge it. The split stays the 256² one, so a held-out painting is never trained on at any side."""
    folder = out / "split" / part
    if side == SIZE:
        return folder
    target = out / f"split-{side}" / part
    if not (target / "corpus.json").exists():
        from belamy.corpus.build import build_corpus

        links = out / f"split-{side}" / f"{part}-sources"
        links.mkdir(parents=True, exist_ok=True)
        for line in (folder / "manifest.jsonl").read_text().splitlines():
            source = Path(json.loads(line)["source"])
            if not (links / source.name).exists():
                (links / source.name).symlink_to(source)
        build_corpus([links], target, size=side, min_size=side, workers=1, draft=False)
    return target


# `sr train` options bench_sr.py passes on when given: flag type and help.
RECIPE = {"warmup_kimg": (float, "kimg of L1 alone before the GAN losses"),
          "degradation": (str, "how training inputs are shrunk: realistic, bicubic or mixed"),
          "nf": (int, "generator features"), "nb": (int, "RRDB blocks"),
          "gc": (int, "growth channels in each dense block"), "patch": (int, "HR patch side"),
          "batch": (int, "patches per step"), "lr": (float, "Adam learning rate"),
          "l1_weight": (float, "weight of the L1 loss"), "l2_weight": (float, "weight of the mean squared error"),
          "adv_weight": (float, "weight of the adversarial loss"),
          "fm_weight": (float, "weight of the discriminator feature-matching loss"),
          "lr_half_life_kimg": (float, "kimg over which the learning rate halves (0: constant)"),
          "precision": (str, "fp32, bf16 or auto (bf16 where the CPU does it fast)"),
          "init": (str, "SR weights to start from: an SR run, or painting (the shipped ones)")}


def recipe_flags(options: dict) -> str:
    """The bench command-line flags that give ``options`` (those that differ from sr train's defaults)."""
    flags = []
    for name in RECIPE:
        value = options.get(name)
        default = SRTrainOptions.MODEL_DEFAULTS.get(name, getattr(SRTrainOptions, name, None))
        shape = name in SRTrainOptions.MODEL_DEFAULTS  # always said: with --init, the default is the source's shape
        if value is None or (value == default and not shape) or (name == "degradation" and value == "realistic"):
            continue
        flag = "--" + name.replace("_", "-")
        flags.append(flag if value is True else f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return " ".join(flags)


def train(out: Path, minutes: list[float], threads: int, seed: int, recipe: dict, side: int = SIZE) -> None:
    torch.set_num_threads(threads)
    build(REPO.parent / "shared" / "corpora" / "portraits", out)
    corpus = at_side(out, "train", side)
    run = out / "sr-run"
    for budget in sorted(minutes):
        kept = out / f"sr-{budget:g}min"
        if kept.exists():
            continue
        stop, done = StopRequest(), threading.Event()
        spent_file = run / "cpu_seconds.txt"
        already = float(spent_file.read_text()) if spent_file.exists() else 0.0
        start = time.process_time()

        def spent(already=already, start=start) -> float:
            return already + time.process_time() - start

        watcher = threading.Thread(target=_watch, args=(stop, spent, budget * 60, done), daemon=True)
        watcher.start()
        try:
            result = train_sr(SRTrainOptions(corpus=corpus, out=run, kimg=100_000, seed=seed,
                                             resume=(run / "run.json").exists(), **recipe), stop=stop)
        finally:
            done.set()
        spent_file.write_text(f"{spent():.1f}")
        if spent() < budget * 60:
            print(f"stopped after {spent() / 60:.1f} of {budget:g} CPU minutes")
            return
        shutil.copytree(run, kept)
        print(f"{budget:g} CPU minutes: {result.nimg / 1000:g} kimg -> {kept}")


def shrink(paintings: np.ndarray, how: str) -> np.ndarray:
    if how == "bicubic":
        return np.stack([shrink_bicubic(p, SCALE) for p in paintings])
    rng = np.random.default_rng(2028)
    return np.stack([degrade(p, SCALE, rng) for p in paintings])


def crops(images: np.ndarray, side: int = 64) -> np.ndarray:
    """Every picture cut into (its side / side)² tiles: the test looks at detail, and has 16× the examples (at 256²)."""
    n, k = len(images), images.shape[1] // side
    return images.reshape(n, k, side, k, side, 3).transpose(0, 1, 3, 2, 4, 5).reshape(n * k * k, side, side, 3)


def resize_all(small: np.ndarray, mode) -> np.ndarray:
    side = small.shape[1] * SCALE
    return np.stack([np.asarray(Image.fromarray(s).resize((side, side), mode)) for s in small])


def network_all(upscaler, small: np.ndarray) -> np.ndarray:
    return np.stack([upscale_tiled(upscaler.net, s, upscaler.scale, tile=256, overlap=16, device=upscaler.device)
                     for s in small])


def score(out: Path, models: list[Path], weights: list[Path], threads: int, limit: int | None = None,
          side: int = SIZE, inputs: tuple[str, ...] = INPUTS) -> None:
    torch.set_num_threads(threads)
    split = HeldOutSplit.open(at_side(out, "train", side), at_side(out, "heldout", side))
    split.heldout = split.heldout[:limit]
    methods = {"lanczos": lambda s: resize_all(s, Image.Resampling.LANCZOS),
               "bicubic": lambda s: resize_all(s, Image.Resampling.BICUBIC)}
    for kept in sorted(out.glob("sr-*min"), key=lambda p: float(p.name[3:-3])):
        methods[f"belamy RRDB, {kept.name[3:-3]} CPU min"] = (lambda s, u=load_sr_run(kept, device="cpu"): network_all(u, s))
    for path in models:
        if str(path) == "painting":  # the weights belamy ships now
            methods["belamy painting-SR (shipped)"] = lambda s, u=painting_sr(device="cpu"): network_all(u, s)
        else:
            methods[f"belamy RRDB, {path.name}"] = lambda s, u=load_sr_run(path, device="cpu"): network_all(u, s)
    for path in weights:
        methods[path.name] = lambda s, u=load_weights(path, device="cpu"): network_all(u, s)
    rows, half = [], len(split.heldout) // 2
    for how in inputs:
        small = shrink(split.heldout, how)
        for name, enlarge in methods.items():
            with torch.inference_mode():
                big = enlarge(small)
            test = two_sample_test(*(crops(x) for x in (split.heldout[:half], big[:half], split.heldout[half:], big[half:])),
                                   seed=0)
            rows.append({"input": how, "method": name, "psnr": round(psnr(big, split.heldout), 2),
                         "ssim": round(ssim(big, split.heldout), 4), "two_sample_auc": round(test["auc"], 3),
                         "two_sample_accuracy": round(test["accuracy"], 3)})
            print(f"{how:<9}{name:<32}{rows[-1]['psnr']:8.2f} dB{rows[-1]['ssim']:8.4f}{rows[-1]['two_sample_auc']:8.3f}",
                  flush=True)
    floor = two_sample_test(*(crops(x) for x in (split.heldout[:half], split.train[:half], split.heldout[half:],
                                                 split.train[half : 2 * half])), seed=0)
    result = {"device": f"{cpu_name()} ({threads} thread{'s' if threads > 1 else ''})", "scale": SCALE, "size": side,
              "heldout": len(split.heldout), "train": len(split.train), "rows": rows,
              "real_vs_real_auc": round(floor["auc"], 3)}
    (out / ("sr-results.json" if side == SIZE else f"sr-results-{side}.json")).write_text(json.dumps(result, indent=2))
    print(f"device: {result['device']}; ×{SCALE} to {side}² on {len(split.heldout)} held-out paintings; "
          f"two-sample AUC real vs real {result['real_vs_real_auc']}")


def training_record(kept: Path, minutes: float) -> dict:
    """How the bench run copy ``kept`` (``minutes`` CPU minutes of its own) was trained, with the record of
    whatever it was fine-tuned from (the shipped weights, or an earlier bench run): the minutes add up.
    ``--init painting`` is read as the weights shipped now, so ship a chain once, before anything else."""
    run = json.loads((kept / "run.json").read_text())
    options, count, side = run.get("options", {}), run["corpus"]["count"], run["corpus"]["size"]
    _, meta = ck.load_checkpoint(ck.resolve_checkpoint(kept))
    init, earlier = options.get("init"), None
    if init == "painting":
        earlier = read_init(init)[2].get("trained")
    elif init:  # an earlier bench run copy, OUT/sr-<budget>min
        source = Path(init)
        earlier = training_record(source, float(source.name.removeprefix("sr-").removesuffix("min")))
    total = minutes + (earlier["cpu_minutes"] if earlier else 0)
    recipe = recipe_flags({**options, "init": init if init in (None, "painting") else Path(init).name})
    recipe += f" --size {side}" if side != SIZE else ""
    trained = {"summary": f"trained by belamy on {count} public-domain portrait paintings, {total:g} CPU minutes",
               "command": f"python bench/bench_sr.py train --cpu-minutes {minutes:g} --threads 1 {recipe}".strip(),
               "corpus": f"shared/corpora/portraits: the four-fifths training split of the {SIZE}² corpus"
                         + (f", again at {side}² where that large" if side != SIZE else "")
                         + f" ({count} paintings; the works are in the public domain)",
               "cpu_minutes": total, "kimg": meta["nimg"] / 1000, "machine": cpu_name(),
               "options": {k: options.get(k, getattr(SRTrainOptions, k, None))
                           for k in (*(name for name in RECIPE if name != "init"), "seed")}}
    if earlier:
        trained["fine_tuned_from"] = earlier
    return trained


def ship(out: Path, minutes: float) -> None:
    """The network of OUT/sr-<minutes>min (G's average only) as the painting-SR weights belamy ships."""
    from belamy.utils.atomic import atomic_path, write_json

    kept_run = out / f"sr-{minutes:g}min"
    tensors, meta = ck.load_checkpoint(ck.resolve_checkpoint(kept_run))
    # G's average alone, in float16 (half the size; the network runs in float32).
    kept = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items() if k.startswith("G_ema.")}
    trained = training_record(kept_run, minutes)
    PAINTING_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(PAINTING_WEIGHTS.with_suffix(".safetensors")) as tmp:
        save_file(kept, str(tmp), metadata={"format": ck.FORMAT})
    write_json(PAINTING_WEIGHTS, {"format": ck.FORMAT, "version": ck.VERSION, "nimg": meta["nimg"], "kind": meta["kind"],
                                  "arch": meta["arch"], "model": meta["model"], "trained": trained})
    print(f"{PAINTING_WEIGHTS.with_suffix('.safetensors')}: {trained['summary']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["train", "score", "ship"])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "sr")
    parser.add_argument("--cpu-minutes", type=float, nargs="+", default=[10.0, 30.0, 60.0])
    parser.add_argument("--models", type=Path, nargs="*", default=[], help="more belamy SR runs (or checkpoints) to compare")
    parser.add_argument("--weights", type=Path, nargs="*", default=[], help="third-party SR weights (spandrel) to compare")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, default=SIZE,
                        help="side the paintings are trained and scored at (the 256² split's, again at this side "
                             "where they are that large: the scale of the paint)")
    parser.add_argument("--inputs", nargs="+", choices=INPUTS, default=list(INPUTS),
                        help="score: which shrunk inputs to enlarge (a print's own passes enlarge clean pictures)")
    parser.add_argument("--limit", type=int, help="score only the first N held-out paintings (a quicker, noisier figure)")
    parser.add_argument("--seed", type=int, default=0)
    for name, (kind, text) in RECIPE.items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=text)
        else:
            parser.add_argument(flag, type=kind, help=f"{text} (default: sr train's)")
    args = parser.parse_args()
    if args.size < SIZE or args.size % 64:
        parser.error(f"--size {args.size}: use a multiple of 64 from {SIZE} up, e.g. 768")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "train":
        train(args.out, args.cpu_minutes, args.threads, args.seed,
              {name: getattr(args, name) for name in RECIPE if getattr(args, name) is not None}, args.size)
    elif args.what == "score":
        score(args.out, args.models, args.weights, args.threads, args.limit, args.size, tuple(args.inputs))
    else:
        ship(args.out, args.cpu_minutes[0])


if __name__ == "__main__":
    main()
