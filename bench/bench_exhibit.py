"""Exhibit speed: frames per second of the live installation, per generator, engine and resolution.

For each generator (random weights: speed does not depend on training) and engine (PyTorch with
channels-last and inference mode; ONNX Runtime with all graph optimisations), it measures
  gen b1   the generator alone, one frame per call (one screen)
  gen b2   the generator alone, two frames per call (two screens), in frames per second
  R²       the whole frame path at output side R: generate, resize (bilinear) and JPEG-encode (q85)
The reference is the installation's target: 24 fps at 256² on this machine's CPU.

The last two rows are a style model at 256² (a CPU-light config) and the student `belamy distill`
makes of it (a DCGAN, ngf 16, at the teacher's latent size and resolution): the student is built by
the real distillation code (one step: its speed does not depend on how long it learned).

    python bench/bench_exhibit.py [--seconds 1.0] [--only dcgan-256-ngf16] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from machine import cpu_name
from torch import nn

from belamy.exhibit.engine import OnnxEngine, TorchEngine, cpu_threads
from belamy.exhibit.frames import encode_frame, resize_frame
from belamy.generate.loader import load_generator
from belamy.models.registry import get_architecture
from belamy.trainer.checkpoint import module_tensors, save_checkpoint

TARGET_FPS, TARGET_RES = 24.0, 256
OUT_RES = (128, 256, 512)

# name -> (architecture, config options)
GENERATORS = {
    "dcgan-128 art-DCGAN (ngf 160)": ("dcgan", dict(res=128, ngf=160)),
    "dcgan-128 ngf 64": ("dcgan", dict(res=128, ngf=64)),
    "dcgan-128 ngf 32": ("dcgan", dict(res=128, ngf=32)),
    "dcgan-256 ngf 16": ("dcgan", dict(res=256, ngf=16)),
    "style-128 ngf 16 (map 8)": ("style", dict(res=128, nz=256, w_dim=256, ngf=16, channel_max=256)),
    "style-256 ngf 16 (teacher)": ("style", dict(res=256, nz=256, w_dim=256, ngf=16, channel_max=256)),
    "distilled-256 ngf 16 (student)": ("distill", dict(teacher="style-256 ngf 16 (teacher)", ngf=16)),
}


def make_run(folder: Path, arch_name: str, options: dict) -> Path:
    arch = get_architecture(arch_name)
    config = arch.make_config(**options)
    torch.manual_seed(0)
    G = arch.make_generator(config)
    for m in G.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.1)
    save_checkpoint(folder / "checkpoints", 0, module_tensors("G", G), {"arch": arch_name, "model": config.to_dict(), "kimg": 0})
    return folder


def slug(name: str) -> str:
    """A folder name for one generator row (each row its own folder: rows differ in width, not only in name)."""
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def make_student(folder: Path, teacher_name: str, ngf: int) -> Path:
    """A student run made by `belamy distill` (one step) from the named teacher, built first if needed."""
    from belamy.distill import DistillOptions, distill

    arch, options = GENERATORS[teacher_name]
    teacher = folder.parent / slug(teacher_name)
    if not (teacher / "checkpoints").is_dir():
        make_run(teacher, arch, options)
    return distill(DistillOptions(teacher=teacher, out=folder, ngf=ngf, kimg=0.002, batch=2, device="cpu")).run_dir


def rate(fn, frames_per_call: int, seconds: float) -> float:
    fn()  # warm-up
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls * frames_per_call / (time.perf_counter() - start)


def measure(engine, seconds: float) -> dict:
    rng = np.random.default_rng(0)
    row = {}
    for batch in (1, 2):
        z = rng.standard_normal((batch, engine.z_dim)).astype(np.float32)
        labels = np.eye(engine.num_classes, dtype=np.float32)[[0] * batch] if engine.num_classes else None
        row[f"gen b{batch}"] = rate(lambda z=z, labels=labels: engine.render(z, labels), batch, seconds)
    z = rng.standard_normal((1, engine.z_dim)).astype(np.float32)
    for res in OUT_RES:
        row[f"{res}²"] = rate(lambda res=res: encode_frame(resize_frame(engine.render(z)[0], res)), 1, seconds)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per figure")
    parser.add_argument("--only", nargs="*", help="generator names (substring match)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (torch engine; ONNX Runtime uses CUDA when its build has it)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    device = args.device
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    print(f"machine: {cpu_name()}, {cpu_threads()} cores{f', GPU {gpu}' if gpu else ''}; torch {torch.__version__}", end="")
    try:
        import onnxruntime as ort

        print(f", onnxruntime {ort.__version__} ({', '.join(ort.get_available_providers())})")
    except ImportError:
        ort = None
        print(", onnxruntime not installed")
    print(f"reference: the installation's target, {TARGET_FPS:g} fps at {TARGET_RES}² (generate + resize + JPEG)\n")
    columns = ["gen b1", "gen b2", *[f"{r}²" for r in OUT_RES]]
    print(f"{'generator':32} {'engine':6} " + " ".join(f"{c:>8}" for c in columns) + "   (frames per second)")
    best = (0.0, "")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (arch, options) in GENERATORS.items():
            if args.only and not any(o in name for o in args.only):
                continue
            folder = Path(tmp) / slug(name)
            if arch == "distill":
                run = make_student(folder, options["teacher"], options["ngf"])
            elif (folder / "checkpoints").is_dir():  # already built as a student's teacher
                run = folder
            else:
                run = make_run(folder, arch, options)
            gen = load_generator(run, device=device)
            engines = [TorchEngine(gen)]
            if ort is not None:
                from belamy.export.onnx import export_generator

                path = export_generator(gen, Path(tmp) / f"{slug(name)}.onnx")
                engines.append(OnnxEngine(path, device=device))
            for engine in engines:
                row = measure(engine, args.seconds)
                print(f"{name:32} {engine.name:6} " + " ".join(f"{row[c]:8.1f}" for c in columns), flush=True)
                if row[f"{TARGET_RES}²"] > best[0]:
                    best = (row[f"{TARGET_RES}²"], f"{name}, {engine.name}")
    met = best[0] >= TARGET_FPS
    print(f"\nfastest at {TARGET_RES}²: {best[0]:.1f} fps ({best[1]}) — target {TARGET_FPS:g} fps "
          f"{'MET' if met else 'NOT met'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
