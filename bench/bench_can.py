"""CAN against a plain GAN: the same architecture, corpus and CPU budget, with and without the
creative loss, measured by an independent style classifier.

    python bench/bench_can.py [--cpu-minutes 10] [--arch dcgan|style|fastgan|preset=cpu-fast] [--res 64] [--n 512]
                              [--can-weights 1 3 10] [--augment diffaugment] [--style-augment] [--reuse-plain]
                              [--corpus ../shared/corpora/wikiart-styles] [--out bench/out/can]
    python bench/bench_can.py --summarize OUT_SEED0 OUT_SEED1 ...   (pool seeds: mean gain, sign-flip test)

Steps: build the corpus at --res (labels = folder names, 7 styles); train the style classifier on
it, holding out a stratified fifth; write the other four fifths as the GANs' training corpus, so
the held-out paintings are ones neither GAN nor classifier ever saw. Then train the plain model
(the architecture's own loss) and CAN (``--loss can --labels folder``) side by side, one process
and one thread each, until each has used --cpu-minutes of CPU time (process time: other work on
the machine stretches the wall time, not the budget). Each is measured by ``belamy eval
--classifier``: style ambiguity (mean normalised entropy of the classifier's posterior, 1 = every
style equally likely), the share of images per style, novelty (median nearest-training-image
distance relative to real-vs-real) and SWD×10³ to the held-out paintings; the held-out paintings
themselves give the reference row. Contact sheets: OUT/<variant>-contact.png, and
OUT/<variant>-most-ambiguous.png (the generated images the classifier finds most ambiguous).
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

REPO = Path(__file__).resolve().parents[1]


def prepare(corpus_src: Path, out: Path, res: int, classifier_epochs: int,
            classifier: Path | None) -> tuple[Path, Path, Path, dict]:
    """The corpus, the classifier (trained once and reused, or given) and the training split without the
    classifier's held-out paintings."""
    from belamy.classify import train_classifier
    from belamy.classify.store import load_classifier
    from belamy.corpus.build import build_corpus
    from belamy.corpus.store import open_corpus, write_subset

    if classifier is not None:  # an existing classifier: its own corpus and split
        cls = classifier
        corpus = Path(load_classifier(cls).info["corpus"]["path"])
    else:
        corpus = out / "corpus"
        if not (corpus / "corpus.json").exists():
            build_corpus([corpus_src], corpus, size=res, min_size=min(64, res))
        cls = out / "classifier"
        if not (cls / "classifier.json").exists():
            torch.set_num_threads(1)
            train_classifier(corpus, "folder", cls, res=res, epochs=classifier_epochs)
    info = load_classifier(cls).info
    train_split = out / "train-corpus"
    full = open_corpus(corpus)
    held = set(info["heldout"])
    write_subset(full, [i for i in range(len(full)) if i not in held], train_split)  # (again: the classifier may be new)
    return corpus, train_split, cls, info


def check_reusable(plain_json: Path, arch: str, cpu_minutes: float) -> None:
    if not plain_json.exists():
        raise SystemExit(f"--reuse-plain: {plain_json} does not exist; run once without --reuse-plain")
    row = json.loads(plain_json.read_text())
    if row["arch"] != arch or abs(row["cpu_s"] - cpu_minutes * 60) > 60:
        raise SystemExit(f"--reuse-plain: {plain_json} is {row['arch']} after {row['cpu_s'] / 60:.1f} CPU minutes, "
                         f"not {arch} after {cpu_minutes:g}")


def _watch(stop, spent, budget_s: float, done: threading.Event) -> None:
    while not done.wait(1.0):
        if spent() >= budget_s:
            stop.requested = True
            return


def with_augment(variant: str, augment: str | None) -> str:
    return variant + (f"+{augment}" if augment else "")


def can_variant(weight: float, augment: str | None = None, style_augment: bool = False) -> str:
    name = ("can" if weight == 1 else f"can-w{weight:g}") + ("-styleaug" if style_augment else "")
    return with_augment(name, augment)


def variant_options(variant: str, arch: str) -> dict:
    """The options of one variant (plain, can, can-w3: λ = 3; -styleaug: --style-augment, the style head's
    paintings alone augmented; +diffaugment: what D sees augmented, the style head's paintings included):
    ``arch`` is an architecture (its own defaults) or ``preset=NAME``."""
    recipe = {"preset": arch.removeprefix("preset="), "arch": None} if arch.startswith("preset=") else {"arch": arch}
    variant, _, augment = variant.partition("+")
    if augment:
        recipe["augment"] = augment
    if variant == "plain":
        return recipe
    variant, style_augment = variant.removesuffix("-styleaug"), variant.endswith("-styleaug")
    weight = float(variant.removeprefix("can-w")) if variant.startswith("can-w") else 1.0
    return recipe | {"loss": "can", "labels": "folder", "can_weight": weight, "style_augment": style_augment}


def train_and_measure(variant: str, arch: str, corpus: Path, cls: Path, out: Path, res: int, budget_s: float,
                      n: int, seed: int) -> None:
    """One variant in its own process (one thread): train on the CPU budget, evaluate, contact sheets."""
    torch.set_num_threads(1)
    from belamy.gan import TrainOptions, train
    from belamy.metrics.evaluate import evaluate_run
    from belamy.trainer.stop import StopRequest

    run = out / f"{variant}-{arch.replace('=', '-')}"
    stop = StopRequest()
    options = TrainOptions.of(corpus=corpus, out=run, res=res, kimg=100_000, tick_kimg=1.0, snapshot_ticks=5,
                           grid_size=16, device="cpu", seed=seed, **variant_options(variant, arch))
    start_cpu, started = time.process_time(), time.perf_counter()
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(stop, lambda: time.process_time() - start_cpu, budget_s, done),
                               daemon=True)
    watcher.start()
    try:
        result = train(options, stop=stop)
    finally:
        done.set()
    cpu_s, wall_s = time.process_time() - start_cpu, time.perf_counter() - started
    record = evaluate_run(run, corpus, n=n, classifier=cls, device="cpu")
    fakes = sheets(run, cls, out / variant, n)
    row = {"variant": variant, "arch": arch, "kimg": round(result.nimg / 1000, 2), "cpu_s": round(cpu_s, 1),
           "wall_s": round(wall_s, 1), **record}
    if not variant.startswith("plain"):
        row |= head_report(run, cls, fakes)
    (out / f"{variant}.json").write_text(json.dumps(row, indent=2))


def head_report(run: Path, cls: Path, fakes: torch.Tensor) -> dict:
    """How the CAN run's own style head (the judge G learned to confuse) compares with the independent
    classifier: its accuracy on the paintings it trained on and on the classifier's held-out ones, and,
    on the images `belamy eval` measured (``fakes``), its mean ambiguity, the per-image correlation of the two
    ambiguities and how often both name the same style."""
    from belamy.classify.store import load_classifier, normalized_entropy
    from belamy.corpus.store import open_corpus
    from belamy.gan.losses.can import RunStyleHead
    from belamy.trainer.checkpoint import latest_checkpoint
    from belamy.trainer.data import corpus_labels

    clf = load_classifier(cls)
    head = RunStyleHead(latest_checkpoint(run / "checkpoints"))
    corpus = open_corpus(clf.info["corpus"]["path"])
    _, targets = corpus_labels(corpus.manifest, "folder")
    held = np.asarray(clf.info["heldout"])
    trained = np.setdiff1d(np.arange(len(corpus)), held)

    def accuracy(indices: np.ndarray) -> float:
        return float((head.posterior(np.asarray(corpus.images[indices])).argmax(1).numpy() == targets[indices]).mean())

    by_head = head.posterior(fakes.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy())
    head_ambiguity = normalized_entropy(by_head)
    by_classifier = clf.posterior(fakes)
    return {"head_accuracy_trained": round(accuracy(trained), 4), "head_accuracy_heldout": round(accuracy(held), 4),
            "head_ambiguity": round(float(head_ambiguity.mean()), 4),
            "head_classifier_r": round(float(np.corrcoef(head_ambiguity.numpy(),
                                                         normalized_entropy(by_classifier).numpy())[0, 1]), 3),
            "head_classifier_same_style": round(float((by_head.argmax(1) == by_classifier.argmax(1)).float().mean()), 4)}


def sheets(run: Path, cls: Path, prefix: Path, n: int, shown: int = 64) -> torch.Tensor:
    """A contact sheet of seeds 0..63, and one of the most ambiguous of ``n`` images (by the classifier);
    returns those n images."""
    from belamy.classify.store import load_classifier, normalized_entropy
    from belamy.generate.loader import load_generator
    from belamy.metrics.evaluate import FAKE_SEED_BASE, generate_for_eval
    from belamy.provenance.embed import save_png
    from belamy.utils.grid import make_grid, to_uint8

    gen = load_generator(run, device="cpu")
    with torch.inference_mode():
        pictures = to_uint8(gen.synthesize(gen.latents(list(range(shown)))))
        save_png(make_grid(pictures, cols=8), Path(f"{prefix}-contact.png"), gen.provenance(seeds=f"0-{shown - 1}"))
        fakes = generate_for_eval(gen, n)  # the images `belamy eval` measured (seeds from FAKE_SEED_BASE)
        ambiguity = normalized_entropy(load_classifier(cls).posterior(fakes))
    top = torch.argsort(ambiguity, descending=True)[:32].sort().values
    picked = fakes[top].clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()
    seeds = [FAKE_SEED_BASE + int(i) for i in top]
    save_png(make_grid(picked, cols=8), Path(f"{prefix}-most-ambiguous.png"),
             gen.provenance(seeds=",".join(map(str, seeds)),
                            ambiguity=[round(float(ambiguity[i]), 3) for i in top]))
    return fakes


def heldout_reference(corpus_full: Path, train_split: Path, cls: Path, info: dict, seed: int) -> dict:
    """The held-out paintings as a 'model': their ambiguity, shares and novelty, and the SWD floor
    (a sample of the training split against them)."""
    from belamy.classify.store import load_classifier
    from belamy.corpus.store import open_corpus
    from belamy.metrics.ambiguity import style_figures
    from belamy.metrics.memorization import memorization
    from belamy.metrics.swd import swd

    held = np.asarray(open_corpus(corpus_full).images[np.asarray(info["heldout"])])
    train_images = np.asarray(open_corpus(train_split).images)
    clf = load_classifier(cls)
    row = {"variant": "held-out paintings", **style_figures(clf, held)}
    row["novelty"] = memorization(held, train_images).median_ratio
    pick = np.sort(np.random.default_rng(seed).permutation(len(train_images))[: len(held)])
    row["swd_heldout"] = swd(train_images[pick], held, seed=seed)["swd"]
    return row


def print_table(rows: list[dict], names: list[str], header: str) -> str:
    short = {n: n.replace("post-impressionism", "post-imp.").replace("impressionism", "impress.")
             .replace("expressionism", "express.").replace("art-nouveau", "nouveau").replace("romanticism", "romant.")
             .replace("symbolism", "symbol.") for n in names}
    lines = [header, ""]
    head = f"| {'':<20} | {'kimg':>5} | {'ambiguity ± se':>14} | {'novelty':>7} | {'SWD held-out':>12} | " + \
        " | ".join(f"{short[n]:>8}" for n in names) + " |"
    lines += [head, "|" + "|".join("-" * (len(c) + 0) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        kimg = f"{r['kimg']:5.1f}" if "kimg" in r else f"{'':>5}"
        shares = " | ".join(f"{r['style_share'][n]:8.0%}" for n in names)
        ambiguity = f"{r['ambiguity']:.3f} ± {r['ambiguity_se']:.3f}" if "ambiguity_se" in r else f"{r['ambiguity']:.3f}"
        lines.append(f"| {r['variant']:<20} | {kimg} | {ambiguity:>14} | {r['novelty']:7.3f} | "
                     f"{r['swd_heldout']:12.1f} | {shares} |")
    heads = [r for r in rows if "head_accuracy_trained" in r]
    if heads:
        lines += ["", "CAN's own style head (what G learned to confuse) beside the independent classifier:", "",
                  f"| {'':<20} | trained paintings | held-out paintings | its ambiguity on G | r with classifier | same style |",
                  "|" + "|".join("-" * w for w in (22, 19, 20, 20, 19, 12)) + "|"]
        lines += [f"| {r['variant']:<20} | {r['head_accuracy_trained']:17.1%} | {r['head_accuracy_heldout']:18.1%} | "
                  f"{r['head_ambiguity']:18.3f} | {r['head_classifier_r']:17.2f} | {r['head_classifier_same_style']:10.0%} |"
                  for r in heads]
    text = "\n".join(lines)
    print(text)
    return text


def _sd(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def summarize(outs: list[Path]) -> str:
    """Several seeds of the same comparison (one --out each): per seed, CAN − plain in ambiguity and the SWD ratio;
    across seeds, the mean ± sd of each variant and an exact paired sign-flip test of the ambiguity gain (every
    one of the 2^n ways of swapping plain and CAN within a seed), since a seed's spread is the noise to beat."""
    from itertools import product

    pairs = []
    for out in outs:
        if not out.is_dir():
            raise SystemExit(f"--summarize: {out} is not a folder; give the --out folders of finished runs")
        for can_json in sorted(out.glob("can*.json")):  # each CAN variant against the plain model augmented alike
            can = json.loads(can_json.read_text())
            plain_json = out / f"{with_augment('plain', can['variant'].partition('+')[2] or None)}.json"
            if not plain_json.is_file():
                continue
            plain = json.loads(plain_json.read_text())
            if (can["arch"], round(can["cpu_s"] / 60)) != (plain["arch"], round(plain["cpu_s"] / 60)):
                raise SystemExit(f"--summarize: {can_json} is not the same arch and budget as {plain_json}")
            pairs.append((out.name, f"{can['variant']}, {plain['arch']}, {round(plain['cpu_s'] / 60)} CPU min",
                          plain, can))
    if not pairs:
        raise SystemExit("--summarize: no plain*.json with a can*.json of the same augmentation in "
                         + ", ".join(map(str, outs)))
    width = max(len(v) for _, v, _, _ in pairs)
    lines = [f"| {'run':<14} | {'variant':<{width}} | {'plain amb.':>10} | {'CAN amb.':>8} | {'gain':>7} | {'SWD CAN / plain':>15} |",
             "|" + "|".join(["-" * 16, "-" * (width + 2), "-" * 12, "-" * 10, "-" * 9, "-" * 17]) + "|"]
    for name, variant, plain, can in pairs:
        lines.append(f"| {name:<14} | {variant:<{width}} | {plain['ambiguity']:10.3f} | {can['ambiguity']:8.3f} | "
                     f"{can['ambiguity'] - plain['ambiguity']:+7.3f} | {can['swd_heldout'] / plain['swd_heldout']:14.2f}× |")
    for variant in sorted({v for _, v, _, _ in pairs}):
        chosen = [(p, c) for _, v, p, c in pairs if v == variant]
        gains = np.array([c["ambiguity"] - p["ambiguity"] for p, c in chosen])
        plain_amb = np.array([p["ambiguity"] for p, _ in chosen])
        can_amb = np.array([c["ambiguity"] for _, c in chosen])
        flipped = [float(np.mean(gains * np.array(signs))) for signs in product((1, -1), repeat=len(gains))]
        p_value = sum(f >= gains.mean() - 1e-12 for f in flipped) / len(flipped)
        ratio = np.array([c["swd_heldout"] / p["swd_heldout"] for p, c in chosen])
        lines += ["", f"{variant} over {len(chosen)} seeds: plain {plain_amb.mean():.3f} ± {_sd(plain_amb):.3f} (sd), "
                      f"CAN {can_amb.mean():.3f} ± {_sd(can_amb):.3f}; gain {gains.mean():+.3f} ± {_sd(gains):.3f}, "
                      f"CAN above plain in {int((gains > 0).sum())} of {len(gains)} seeds, one-sided sign-flip "
                      f"p = {p_value:.3f}; SWD CAN / plain {ratio.mean():.2f}× (max {ratio.max():.2f}×)"]
        if all("head_accuracy_trained" in c for _, c in chosen):
            mean = {k: np.mean([c[k] for _, c in chosen]) for k in
                    ("head_accuracy_trained", "head_accuracy_heldout", "head_ambiguity", "head_classifier_r")}
            lines[-1] += (f"; D's style head right on {mean['head_accuracy_trained']:.0%} of its training paintings and "
                          f"{mean['head_accuracy_heldout']:.0%} of held-out ones, its ambiguity on G {mean['head_ambiguity']:.2f}, "
                          f"per-image r with the classifier's {mean['head_classifier_r']:.2f}")
    text = "\n".join(lines)
    print(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-minutes", type=float, default=10.0, help="CPU-time budget per variant")
    parser.add_argument("--arch", default="dcgan", help="dcgan, style, fastgan, or a recipe: preset=cpu-fast")
    parser.add_argument("--res", type=int, default=64)
    parser.add_argument("--n", type=int, default=512, help="generated images measured per variant")
    parser.add_argument("--classifier-epochs", type=int, default=30)
    parser.add_argument("--classifier", type=Path, help="use this classifier (and the corpus it was trained on)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--can-weights", type=float, nargs="*", default=[1.0],
                        help="λ of each CAN variant (one process each); none: the plain model alone")
    parser.add_argument("--augment", choices=["diffaugment", "ada"],
                        help="augment what D sees in every variant (the style head's paintings included)")
    parser.add_argument("--style-augment", action="store_true",
                        help="CAN variants with --style-augment: the style head alone sees augmented paintings "
                             "(their control is the plain model as it is)")
    parser.add_argument("--reuse-plain", action="store_true",
                        help="take the plain row from OUT/plain.json (plain+AUGMENT.json; same --arch and budget) "
                             "instead of training it again")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpora" / "wikiart-styles")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "can")
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="OUT",
                        help="train nothing: pool the results of earlier runs (one --out per seed)")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    from machine import cpu_name

    plain = with_augment("plain", args.augment)
    cans = [can_variant(w, args.augment, args.style_augment) for w in args.can_weights]
    if args.reuse_plain:
        if not cans:
            raise SystemExit("nothing to train: --reuse-plain with no --can-weights")
        check_reusable(args.out / f"{plain}.json", args.arch, args.cpu_minutes)
    variants = cans if args.reuse_plain else [plain] + cans
    args.out.mkdir(parents=True, exist_ok=True)
    corpus, train_split, cls, info = prepare(args.corpus, args.out, args.res, args.classifier_epochs, args.classifier)
    jobs = [(v, args.arch, train_split, cls, args.out, args.res, args.cpu_minutes * 60, args.n, args.seed)
            for v in variants]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=train_and_measure, args=job) for job in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    rows = [json.loads((args.out / f"{v}.json").read_text()) for v in [plain] + cans]
    rows.append(heldout_reference(corpus, train_split, cls, info, args.seed))
    header = (f"{cpu_name()}, one thread per variant; {args.arch} at {args.res}², {args.cpu_minutes:g} CPU minutes each; "
              f"{args.n} generated images; classifier held-out accuracy {info['accuracy']:.1%} on "
              f"{info['n_heldout']} paintings (chance {1 / len(info['names']):.1%})")
    text = print_table(rows, info["names"], header)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"results-{stamp}.md").write_text(text + "\n")
    (args.out / f"results-{stamp}.json").write_text(json.dumps({"rows": rows, "header": header}, indent=2))


if __name__ == "__main__":
    main()
