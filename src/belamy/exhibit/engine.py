"""Engines that turn latents into pixels: PyTorch, or ONNX Runtime from an exported graph.

Both take float32 numpy ``z`` [N, z_dim] (and ``labels`` [N, classes] for a conditional model) and
return uint8 [N, H, W, 3], so the exhibit never needs to know which one is running.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from belamy.errors import BelamyError
from belamy.generate.loader import LoadedGenerator
from belamy.utils.grid import check_pictures, to_pictures

ENGINES = ("torch", "onnx", "auto")


def cpu_threads() -> int:
    """Cores this process may use (respects CPU affinity and container limits where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class TorchEngine:
    name = "torch"

    def __init__(self, gen: LoadedGenerator, truncation: float = 1.0, threads: int | None = None):
        self.gen, self.truncation = gen, truncation
        self.z_dim, self.num_classes, self.res = gen.z_dim, gen.num_classes, gen.res
        if gen.device.type == "cpu":
            torch.set_num_threads(threads or cpu_threads())
        # Channels-last runs PyTorch's CPU convolutions through oneDNN: 2-3× faster at batch 1 here.
        gen.G.to(memory_format=torch.channels_last)

    def render(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        with torch.inference_mode():
            zt = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)).to(self.gen.device)
            lt = None
            if self.num_classes and labels is not None:
                lt = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32)).to(self.gen.device)
            return to_pictures(self.gen.synthesize(zt, lt, truncation=self.truncation))


class OnnxEngine:
    name = "onnx"

    def __init__(self, model_path: Path, device: str = "cpu"):
        import onnxruntime as ort

        from belamy.export.onnx import read_export_meta

        self.meta = read_export_meta(model_path)
        self.z_dim, self.num_classes, self.res = self.meta["z_dim"], self.meta["num_classes"], self.meta["res"]
        self.output = self.meta.get("output", "uint8")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = cpu_threads()
        options.log_severity_level = 3  # errors only: no warnings on the gallery's console
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(model_path), options, providers=providers)

    def render(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        feeds = {"z": np.ascontiguousarray(z, dtype=np.float32)}
        if self.num_classes:
            if labels is None:
                raise BelamyError("this model is class-conditional: a label is needed", "pass --labels")
            feeds["labels"] = np.ascontiguousarray(labels, dtype=np.float32)
        (image,) = self.session.run(["image"], feeds)
        if self.output == "float":
            return to_pictures(torch.from_numpy(image))
        return check_pictures(image)


def onnx_engine_for(gen: LoadedGenerator, truncation: float, cache_dir: Path | None = None) -> OnnxEngine:
    """Export ``gen`` (with ψ baked in) to a temporary ONNX file and open it with ONNX Runtime."""
    from belamy.export.onnx import export_generator

    folder = Path(cache_dir or tempfile.mkdtemp(prefix="belamy-onnx-"))
    path = folder / f"{gen.checkpoint_sha256[:12]}-psi{truncation:g}.onnx"
    if not path.exists():
        export_generator(gen, path, truncation=truncation, output="uint8")
    return OnnxEngine(path, device=str(gen.device))


def measure_fps(engine, batch: int, seconds: float = 1.0, rng: np.random.Generator | None = None) -> float:
    """Frames per second of ``engine.render`` at this batch size, after one warm-up call."""
    rng = rng or np.random.default_rng(0)
    z = rng.standard_normal((batch, engine.z_dim)).astype(np.float32)
    labels = np.eye(engine.num_classes, dtype=np.float32)[np.arange(batch) % engine.num_classes] if engine.num_classes else None
    engine.render(z, labels)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        engine.render(z, labels)
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def make_engine(gen: LoadedGenerator, kind: str = "torch", truncation: float = 1.0, batch: int = 1,
                onnx_model: Path | None = None):
    """The engine asked for; ``auto`` measures both briefly and keeps the faster."""
    if kind not in ENGINES:
        raise BelamyError(f"--engine {kind} is not known", f"use one of {', '.join(ENGINES)}")
    if kind == "torch":
        return TorchEngine(gen, truncation)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if kind == "auto":
            return TorchEngine(gen, truncation)
        raise BelamyError("--engine onnx needs ONNX Runtime", "pip install 'belamy[onnx]', or use --engine torch") from None
    if onnx_model is not None:
        engine = OnnxEngine(onnx_model, device=str(gen.device))
        if engine.meta.get("checkpoint_sha256") != gen.checkpoint_sha256:
            raise BelamyError(f"{onnx_model} was exported from another checkpoint", "export this run again")
    else:
        engine = onnx_engine_for(gen, truncation)
    if kind == "onnx":
        return engine
    torch_engine = TorchEngine(gen, truncation)
    return max((torch_engine, engine), key=lambda e: measure_fps(e, batch, seconds=0.75))
