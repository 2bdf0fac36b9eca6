"""A pix2pix generator as ONNX, and the engines that run a translator (PyTorch or ONNX Runtime).

The graph takes ``condition`` uint8 [N, H, W, 3] (pixels as an image decoder gives them) and returns
``image`` uint8 [N, H, W, 3]: the scaling to [-1, 1] and back is inside, so a caller only moves bytes.
The batch is dynamic, the size the run's. The ``belamy`` metadata names the run, checkpoint and hash,
the shape and the kind of condition.

Engines share one call, ``render(conditions uint8 [N, H, W, 3]) -> uint8 [N, H, W, 3]``, so the
studio and the exhibit do not care which one runs; ``auto`` measures both and keeps the faster.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from belamy.errors import BelamyError
from belamy.generate.translate import Translator
from belamy.utils.grid import check_pictures

OPSET = 17
ENGINES = ("torch", "onnx", "auto")


class _Uint8Translator(nn.Module):
    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        x = condition.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        y = self.G(x)
        return ((y.clamp(-1.0, 1.0) + 1.0) * 127.5).round().permute(0, 2, 3, 1).to(torch.uint8)


def export_translator(tr: Translator, out: Path, opset: int = OPSET) -> Path:
    """Write the translator's generator as ONNX to ``out`` (atomically); returns ``out``."""
    from belamy.export.onnx import _onnx, write_onnx

    _onnx()  # a clear error when the onnx extra is missing, before any work
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise BelamyError(f"{out} does not end in .onnx", "name the output file something.onnx")
    if out.is_dir():
        raise BelamyError(f"{out} is a folder", "give a file name ending in .onnx")
    height, width = tr.shape
    wrapper = _Uint8Translator(tr.G.to("cpu").to(memory_format=torch.contiguous_format).eval()).eval()
    dummy = torch.full((1, height, width, 3), 255, dtype=torch.uint8)
    meta = {
        "format": "belamy-onnx", "version": 1, "arch": "pix2pix", "res": tr.cfg.res, "aspect": tr.cfg.aspect,
        "height": height, "width": width, "condition": tr.cfg.condition, "input": "condition",
        "checkpoint": tr.checkpoint_path.with_suffix(".safetensors").name,
        "checkpoint_sha256": tr.checkpoint_sha256, "run": str(tr.run_dir), "kimg": tr.kimg,
    }
    try:
        write_onnx(wrapper, (dummy,), out, opset, ["condition"], {"condition": {0: "batch"}, "image": {0: "batch"}},
                   meta)
    finally:
        tr.G.to(tr.device).to(memory_format=torch.channels_last)
    return out


def cpu_threads() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class TorchTranslateEngine:
    name = "torch"

    def __init__(self, tr: Translator):
        # PyTorch's thread count is the process's (torch.set_num_threads), not an engine's.
        self.tr = tr
        self.height, self.width = tr.shape

    def render(self, conditions: np.ndarray) -> np.ndarray:
        return self.tr.render(conditions)


class OnnxTranslateEngine:
    name = "onnx"

    def __init__(self, model_path: Path, threads: int | None = None):
        import onnxruntime as ort

        from belamy.export.onnx import read_export_meta

        self.meta = read_export_meta(model_path)
        if self.meta.get("arch") != "pix2pix":
            raise BelamyError(f"{model_path} is not an exported pix2pix model", "export the pix2pix run again")
        self.height, self.width = int(self.meta["height"]), int(self.meta["width"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or cpu_threads()
        # Idle threads sleep instead of spinning: spinning wins on an idle machine by a little and loses
        # by a lot when other work (a second request, the browser, a training run) wants the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def render(self, conditions: np.ndarray) -> np.ndarray:
        conditions = np.ascontiguousarray(conditions, dtype=np.uint8)
        if conditions.shape[1:3] != (self.height, self.width):
            raise BelamyError(f"the ONNX model takes {self.width}×{self.height} conditions, not "
                              f"{conditions.shape[2]}×{conditions.shape[1]}", "fit the input to the run's shape")
        (image,) = self.session.run(["image"], {"condition": conditions})
        return check_pictures(image)


def measure(engine, seconds: float = 0.75) -> float:
    """Paintings per second of ``engine.render`` at batch 1, after one warm-up call."""
    condition = np.full((1, engine.height, engine.width, 3), 255, np.uint8)
    condition[:, engine.height // 4 : 3 * engine.height // 4, engine.width // 2] = 0
    engine.render(condition)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        engine.render(condition)
        calls += 1
    return calls / (time.perf_counter() - start)


def make_translate_engine(tr: Translator, kind: str = "auto", onnx_model: Path | None = None,
                          threads: int | None = None, cache_dir: Path | None = None):
    """The engine asked for; ``auto`` exports (once per checkpoint), measures both and keeps the faster."""
    if kind not in ENGINES:
        raise BelamyError(f"--engine {kind} is not known", f"use one of {', '.join(ENGINES)}")
    if kind == "torch" or tr.device.type != "cpu":
        return TorchTranslateEngine(tr)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if kind == "auto":
            return TorchTranslateEngine(tr)
        raise BelamyError("--engine onnx needs ONNX Runtime", "pip install 'belamy[onnx]', or use --engine torch") from None
    if onnx_model is None:
        folder = Path(cache_dir or tempfile.mkdtemp(prefix="belamy-onnx-"))
        onnx_model = folder / f"pix2pix-{tr.checkpoint_sha256[:16]}.onnx"
        if not onnx_model.exists():
            export_translator(tr, onnx_model)
    engine = OnnxTranslateEngine(onnx_model, threads)
    if engine.meta.get("checkpoint_sha256") != tr.checkpoint_sha256:
        raise BelamyError(f"{onnx_model} was exported from another checkpoint", "export this run again")
    if kind == "onnx":
        return engine
    candidates = [TorchTranslateEngine(tr), engine]
    if threads is None and cpu_threads() > 1:
        # On a busy machine one thread can beat several that wait for each other: try it too.
        candidates.append(OnnxTranslateEngine(onnx_model, threads=1))
    return max(candidates, key=measure)
