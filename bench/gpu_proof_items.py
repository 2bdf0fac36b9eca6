"""What each item of bench/gpu_proof.py measures, at full size on a GPU or tiny on a CPU.

Each item is a function ``(ctx, note) -> figures``: ``note(key, value)`` records a figure as soon as it
is known, so an item stopped at its deadline keeps what it had measured. Items reuse the other
benches: bench_style and bench_dcgan (training steps), bench_exhibit (frame rates),
quality_per_compute and heldout (the held-out yardstick), ddp_check (the torchrun worker).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from machine import cpu_name

BENCH = Path(__file__).resolve().parent


class ProofError(Exception):
    """An item that cannot be measured here, with the reason."""


@dataclass(frozen=True)
class Sizes:
    name: str
    widths: dict  # architecture -> config options (empty: the published widths)
    train_res: int
    train_batch: int
    train_steps: int
    gen_res: tuple[int, ...]
    gen_batch: int
    gen_seconds: float
    quality_res: int
    quality_s: float  # training time of the quality run
    quality_reserve_s: float  # kept for scoring it
    ddp_res: int
    ddp_batch: int  # global batch
    ddp_kimg: float
    check_steps: int  # steps of the step-for-step check against one process
    resume_res: int
    resume_batch: int
    resume_tick_kimg: float


FULL = Sizes("full", widths={"dcgan": {}, "fastgan": {}, "style": {}}, train_res=256, train_batch=32, train_steps=10,
             gen_res=(256, 1024), gen_batch=16, gen_seconds=1.0, quality_res=128, quality_s=180.0,
             quality_reserve_s=30.0, ddp_res=64, ddp_batch=32, ddp_kimg=0.64, check_steps=4, resume_res=64,
             resume_batch=16, resume_tick_kimg=0.128)
TINY = Sizes("tiny", widths={"dcgan": {"nz": 16, "ngf": 8, "ndf": 8}, "fastgan": {"nz": 16, "ngf": 4, "ndf": 4},
                             "style": {"nz": 16, "w_dim": 16, "ngf": 4, "ndf": 4, "channel_max": 16, "map_layers": 1}},
             train_res=32, train_batch=4, train_steps=1, gen_res=(16, 32), gen_batch=2, gen_seconds=0.02,
             quality_res=32, quality_s=2.0, quality_reserve_s=4.0, ddp_res=16, ddp_batch=4, ddp_kimg=0.008,
             check_steps=2, resume_res=16, resume_batch=4, resume_tick_kimg=0.004)


@dataclass
class ProofContext:
    out: Path
    device: torch.device
    sizes: Sizes
    corpus: Path | None
    deadline: float = 0.0  # this item's, in time.time() seconds
    work: Path = field(init=False)

    def __post_init__(self):
        self.work = self.out / "work"

    @classmethod
    def make(cls, out: Path, corpus: Path | None, tiny: bool, default_corpora) -> ProofContext:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        sizes = TINY if tiny or device.type == "cpu" else FULL
        if corpus is None and sizes is FULL:
            corpus = next((p for p in default_corpora if p.exists()), None)
        return cls(out, device, sizes, corpus)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def left(self) -> float:
        return self.deadline - time.time()

    def folder(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def describe_device(ctx: ProofContext) -> dict:
    info = {"type": ctx.device.type, "cpu": cpu_name(), "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
            "sizes": ctx.sizes.name, "corpus": str(ctx.corpus) if ctx.corpus else None}
    if ctx.cuda:
        props = torch.cuda.get_device_properties(0)
        info.update(name=props.name, gpus=torch.cuda.device_count(), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, bf16=torch.cuda.is_bf16_supported())
    else:
        info.update(name=cpu_name(), gpus=0)
    try:
        import onnxruntime as ort

        info["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers()}
    except ImportError:
        info["onnxruntime"] = None
    return info


def reset_peak(ctx: ProofContext) -> None:
    if ctx.cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_mib(ctx: ProofContext) -> float | None:
    """The most GPU memory this process's tensors held since the last reset (None on a CPU)."""
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if ctx.cuda else None


def most(values) -> float | None:
    """The peak of peaks measured in parts (each reset before it), None on a CPU."""
    values = [v for v in values if v is not None]
    return max(values) if values else None


def synthetic_corpus(folder: Path, count: int, res: int) -> Path:
    """A corpus of smooth random pictures: for the items whose figures do not depend on paintings."""
    from belamy.corpus.store import Corpus, write_subset

    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (count, 4, 4, 3))
    images = np.repeat(np.repeat(coarse, res // 4, axis=1), res // 4, axis=2).astype(np.uint8)
    manifest = [{"index": i, "source": f"synthetic/{i:04d}.png", "sha256": f"{i:064x}"} for i in range(count)]
    corpus = Corpus(folder / "source", images, res, {"format": "belamy-corpus", "version": 1, "size": res}, manifest)
    return write_subset(corpus, range(count), folder)


# ---------------------------------------------------------------- items


def training(ctx: ProofContext, note) -> dict:
    """s/kimg of each architecture trained alone (its peak memory its own), beside the plain DCGAN loop."""
    from bench_dcgan import plain_training_step
    from bench_style import make_arch_step, make_style_step, seconds_per_kimg

    s = ctx.sizes
    res, batch, w = s.train_res, s.train_batch, s.widths
    makers = {
        "dcgan": lambda: make_arch_step("dcgan", res, batch, ctx.device, **w["dcgan"])[0],
        "plain_pytorch_dcgan": lambda: plain_training_step(res, batch, ctx.device, **w["dcgan"]),
        "fastgan": lambda: make_arch_step("fastgan", res, batch, ctx.device, **w["fastgan"])[0],
        "stylegan2": lambda: make_style_step(res, batch, ctx.device, **w["style"])[0],
    }
    note("settings", {"res": res, "batch": batch, "timed_steps": s.train_steps,
                      "stylegan2": "StyleGAN2-ADA: R1 every 16 steps amortised, ADA at p = 0.2, G_ema"})
    rows: dict = {}
    for name, make in makers.items():
        reset_peak(ctx)
        try:
            rows[name] = {"s_per_kimg": round(seconds_per_kimg(make(), batch, s.train_steps, r1=name == "stylegan2"), 3)}
        except Exception as exc:  # one architecture out of memory must not hide the others
            rows[name] = {"reason": f"{type(exc).__name__}: {exc}"}
        rows[name]["peak_gpu_mib"] = peak_gpu_mib(ctx)
        note("rows", rows)
    figures: dict = {"rows": rows, "peak_gpu_mib": most(row["peak_gpu_mib"] for row in rows.values())}
    if "s_per_kimg" in rows["dcgan"] and "s_per_kimg" in rows["plain_pytorch_dcgan"]:
        figures["dcgan_speedup_over_plain"] = round(rows["plain_pytorch_dcgan"]["s_per_kimg"] / rows["dcgan"]["s_per_kimg"], 2)
    return figures


def generation(ctx: ProofContext, note) -> dict:
    """img/s of stylegan2 in batches, and the exhibit's live frame rates, PyTorch and ONNX Runtime."""
    from bench_exhibit import make_run
    from bench_exhibit import measure as frame_rates
    from bench_style import time_generation

    from belamy.exhibit.engine import OnnxEngine, TorchEngine
    from belamy.generate.loader import load_generator

    s = ctx.sizes
    onnx_reason = _onnx_unavailable(ctx)
    rows: dict = {}
    for res in s.gen_res:
        row = rows[f"{res}"] = {}
        reset_peak(ctx)
        row["torch_batch_img_per_s"] = round(time_generation("style", res, s.gen_batch, 3, ctx.device, **s.widths["style"]), 2)
        row["batch"] = s.gen_batch
        gen = load_generator(make_run(ctx.folder(f"style-{res}"), "style", {"res": res, **s.widths["style"]}),
                             device=str(ctx.device))
        row["torch_fps"] = _rounded(frame_rates(TorchEngine(gen, threads=torch.get_num_threads()), s.gen_seconds))
        row["peak_gpu_mib"] = peak_gpu_mib(ctx)
        note("rows", rows)
        if onnx_reason:
            row["onnx"] = onnx_reason
            continue
        from belamy.export.onnx import export_generator

        try:
            engine = OnnxEngine(export_generator(gen, ctx.work / f"style-{res}.onnx"), device=str(ctx.device))
            row["onnx_provider"] = engine.session.get_providers()[0]
            row["onnx_fps"] = _rounded(frame_rates(engine, s.gen_seconds))
        except Exception as exc:  # the export or the session: PyTorch's figures stand without it
            row["onnx"] = f"{type(exc).__name__}: {exc}"
        note("rows", rows)
    return {"rows": rows, "peak_gpu_mib": most(row["peak_gpu_mib"] for row in rows.values()), "columns": "fps: gen bN = the generator alone, N frames per call; R² = the whole "
                                      "frame path (generate, resize to R², JPEG)"}


def _onnx_unavailable(ctx: ProofContext) -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    if ctx.cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"onnxruntime {ort.__version__} has no CUDA provider (install onnxruntime-gpu)"
    return None


def _rounded(row: dict) -> dict:
    return {k: round(v, 2) for k, v in row.items()}


def ddp(ctx: ProofContext, note) -> dict:
    """torchrun over every GPU (NCCL), or 2 processes sharing one GPU or the CPU (gloo)."""
    from gpu_proof import child_env

    s = ctx.sizes
    gpus = torch.cuda.device_count() if ctx.cuda else 0
    nproc = gpus if gpus >= 2 else 2
    work = ctx.folder("ddp")
    corpus = synthetic_corpus(work / "corpus", 64, s.ddp_res)
    note("processes", nproc)
    note("backend_expected", "nccl" if gpus >= 2 else
         "gloo (one GPU: NCCL refuses two processes on the same GPU)" if gpus else "gloo (CPU)")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               str(BENCH / "ddp_check.py"), "--work", str(work), "--corpus", str(corpus), "--size", s.name]
    env = dict(child_env(), BELAMY_RANK_CHECKSUMS=str(work / "sums"), OMP_NUM_THREADS="1" if not ctx.cuda else
               str(max(1, torch.get_num_threads() // nproc)))
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=max(1.0, ctx.left()))
    except subprocess.TimeoutExpired:
        raise ProofError("torchrun did not finish before the item's deadline") from None
    if done.returncode != 0:
        raise ProofError(f"torchrun exited {done.returncode}: {done.stderr.strip()[-800:]}")
    ranks = [json.loads((work / f"rank{r}.json").read_text()) for r in range(nproc)]
    sums = [(work / "sums" / f"rank{r}.sha256").read_text() for r in range(nproc)]
    figures = {"backend": ranks[0]["backend"], "devices": [r["device"] for r in ranks],
               "same_as_one_process": ranks[0]["same_as_one_process"],
               "ranks_end_identical": len(set(sums)) == 1, "train": ranks[0]["train"],
               "peak_gpu_mib_per_rank": [r["peak_gpu_mib"] for r in ranks],
               "peak_gpu_mib": most(r["peak_gpu_mib"] for r in ranks)}
    if not figures["same_as_one_process"]["within_tolerance"] or not figures["ranks_end_identical"]:
        raise ProofError(f"the processes disagree: {json.dumps(figures)}")
    return figures


def train_widths(sizes: Sizes) -> dict:
    """The style widths `belamy train` has flags for."""
    return {k: v for k, v in sizes.widths["style"].items() if k in ("nz", "ngf", "ndf", "map_layers")}


def _resume_settings(ctx: ProofContext) -> dict:
    s = ctx.sizes
    return {"arch": "style", "res": s.resume_res, "batch": s.resume_batch, "tick_kimg": s.resume_tick_kimg,
            "snapshot_ticks": 1, "seed": 5, "device": "auto", "grid_size": 4, **train_widths(s)}


RESUME_TICKS = 5  # the runs compared end here; the killed one is killed after its second


def resume(ctx: ProofContext, note) -> dict:
    """kill -9 a training run (`belamy train`) after two checkpoints, --resume it to five ticks, and
    compare it with the same run never killed (trained in this process while the other starts)."""
    from gpu_proof import child_env
    from safetensors.torch import load_file

    from belamy.gan import train
    from belamy.gan.options import TrainOptions
    from belamy.trainer.checkpoint import latest_checkpoint, list_checkpoints

    work = ctx.folder("resume")
    corpus = synthetic_corpus(work / "corpus", 64, ctx.sizes.resume_res)
    settings = _resume_settings(ctx)
    target_kimg = RESUME_TICKS * settings["tick_kimg"]
    flags = [x for k, v in settings.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    killed = work / "killed"
    command = [sys.executable, "-m", "belamy", "train", str(corpus), "--out", str(killed), "--kimg", "100000", *flags]
    log = open(work / "killed.log", "wb")  # noqa: SIM115 - the process writes to it until killed
    proc = subprocess.Popen(command, env=child_env(), stdout=log, stderr=log)
    try:
        train(TrainOptions.of(corpus=corpus, out=work / "whole", kimg=target_kimg, **settings))
        while len(list_checkpoints(killed / "checkpoints")) < 2:
            if proc.poll() is not None:
                raise ProofError(f"training exited ({proc.returncode}) before it could be killed: "
                                 f"{(work / 'killed.log').read_text()[-800:]}")
            if ctx.left() < 0:
                raise ProofError("no second checkpoint before the item's deadline")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        log.close()
    reached = json.loads(latest_checkpoint(killed / "checkpoints").read_text())["nimg"] / 1000
    note("killed_at_kimg", reached)
    if reached >= target_kimg:
        raise ProofError(f"the run reached {reached:g} kimg before it was killed: raise RESUME_TICKS")
    train(TrainOptions.of(corpus=corpus, out=killed, resume=True, kimg=target_kimg, device="auto"))
    a, b = (load_file(str(latest_checkpoint(run / "checkpoints").with_suffix(".safetensors")))
            for run in (killed, work / "whole"))
    if a.keys() != b.keys():
        raise ProofError("the resumed checkpoint holds other tensors than the uninterrupted one")
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    max_diff = max((float((a[k].double() - b[k].double()).abs().max()) for k in differ if a[k].is_floating_point()),
                   default=0.0)
    figures = {"kimg": target_kimg, "tensors": len(a), "tensors_differing": len(differ), "bitwise_equal": not differ,
               "max_abs_diff": max_diff, "differing": differ[:8]}
    if differ:
        raise ProofError(f"the resumed run differs from the uninterrupted one in {len(differ)} of {len(a)} tensors "
                         f"(max |Δ| {max_diff:.3g}): {json.dumps(figures)}")
    return figures


def quality(ctx: ProofContext, note) -> dict:
    """`--preset auto` trained for a few minutes (less if the limit is short: recorded), scored against
    the held-out fifth of the paintings, with its contact sheet."""
    from heldout import HeldOutSplit, split_corpus
    from quality_per_compute import build, file_stem
    from quality_per_compute import measure as train_and_score

    from belamy.corpus.store import open_corpus

    s = ctx.sizes
    work = ctx.folder("quality")
    if ctx.corpus is None:
        if s is FULL:
            raise ProofError("no paintings: pass --corpus (the portraits, a folder of images or a corpus built at "
                             f"{s.quality_res}²)")
        source = "synthetic pictures (no --corpus)"
        corpus = synthetic_corpus(ctx.folder("quality-corpus"), 40, s.quality_res)
    elif (ctx.corpus / "corpus.json").exists():
        source, corpus = str(ctx.corpus), ctx.corpus
        if open_corpus(corpus).size != s.quality_res:
            raise ProofError(f"the corpus at {corpus} is not at {s.quality_res}²: build it at that size")
    else:
        source, corpus = str(ctx.corpus), build(ctx.corpus, work, s.quality_res)
    note("paintings", source)
    train_dir, held_dir = split_corpus(corpus, work / "split")
    budget = min(s.quality_s, ctx.left() - s.quality_reserve_s)
    if budget < s.quality_s / 10:
        raise ProofError(f"{ctx.left():.0f} s left: too little for a quality run of {s.quality_s:g} s")
    note("train_s", round(budget, 1))
    spec, stamp = "preset=auto", "proof"
    run = work / f"{file_stem(spec)}-{stamp}"
    rows = train_and_score(spec, train_dir.parent, work, stamp, s.quality_res, [budget], False, 0)
    if not rows:
        raise ProofError("the quality run stopped before its budget")
    split = HeldOutSplit.open(train_dir, held_dir)
    sheet = work / f"{file_stem(spec)}-{stamp}-{budget / 60:g}min.png"
    shutil.copyfile(sheet, ctx.out / "contact-sheet.png")
    preset = json.loads((run / "run.json").read_text()).get("preset", {})
    return {"res": s.quality_res, "preset": {k: preset.get(k) for k in ("name", "why", "settings")}, **rows[-1],
            "real_vs_real": {k: round(v, 3) for k, v in split.real_vs_real().items()},
            "train_count": len(split.train), "heldout_count": len(split.heldout),
            "scores": "SWD×10³ against the held-out fifth (lower is better; real_vs_real is the floor), "
                      "memorisation: nearest training painting, relative (~1: no copying)"}


ITEMS = {"training": training, "generation": generation, "ddp": ddp, "resume": resume, "quality": quality}
