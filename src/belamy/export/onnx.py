"""`belamy export --onnx`: a generator, with its mapping network and truncation, as one ONNX graph.

Inputs: ``z`` float32 [N, z_dim] and, for a class-conditional model, ``labels`` float32 [N, classes]
(one-hot, or a blend of classes). Output ``image``: uint8 [N, H, W, 3] (ready to encode) or float32
[N, 3, H, W] in [-1, 1]. Truncation ψ is folded into the graph (toward ``w_avg`` in the mapping
network for a style model, toward the origin for a DCGAN); what was baked in is recorded in the
model's metadata under ``belamy``.

We use the TorchScript-based exporter (``dynamo=False``): it ships with torch and works offline,
whereas the dynamo exporter needs the separate ``onnxscript`` package.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from belamy.errors import BelamyError
from belamy.generate.loader import LoadedGenerator, load_generator
from belamy.utils import untrusted
from belamy.utils.atomic import atomic_path
from belamy.utils.grid import to_pictures

OPSET = 17
META_KEY = "belamy"
OUTPUTS = ("uint8", "float")


class ExportableGenerator(nn.Module):
    """z (+ labels) → image, with ψ and the output format fixed, for tracing."""

    def __init__(self, G: nn.Module, truncation: float, output: str):
        super().__init__()
        self.G, self.truncation, self.output = G, float(truncation), output

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        # Batched: a per-image loop would be traced at the dummy input's batch size and fix it.
        x = self.G.synthesize(z, labels=labels, truncation=self.truncation, batch_invariant=False)
        if self.output == "float":
            return x
        # to uint8 NHWC in the graph, so the runtime hands back pixels ready to encode
        x = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return x.permute(0, 2, 3, 1).to(torch.uint8)


@contextlib.contextmanager
def _static_channel_filters() -> Iterator[None]:
    """Trace the style model's depthwise blur filters with a fixed channel count.

    ``style_layers._depthwise`` builds its filter bank with ``expand(x.shape[1], ...)``; traced, that
    size becomes a graph value and ONNX refuses a convolution whose kernel shape is unknown. The channel
    count is fixed per layer, so while exporting we swap in the same function with ``int(...)`` (a
    constant in the trace). Nothing changes for training or for PyTorch inference.
    """
    try:
        from belamy.models import style_layers
    except ImportError:
        yield
        return
    if not hasattr(style_layers, "_depthwise"):
        yield
        return
    F = torch.nn.functional

    def depthwise(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], stride: int = 1) -> torch.Tensor:
        channels = int(x.shape[1])
        weight = f.to(dtype=x.dtype, device=x.device)[None, None].expand(channels, 1, *f.shape)
        return F.conv2d(F.pad(x, pad), weight, stride=stride, groups=channels)

    original = style_layers._depthwise
    style_layers._depthwise = depthwise
    try:
        yield
    finally:
        style_layers._depthwise = original


def label_names(gen: LoadedGenerator) -> list[str]:
    """The class names of a conditional model (from the model, else its config), or index strings."""
    names = list(getattr(gen.G, "label_names", None) or gen.meta.get("model", {}).get("label_names") or [])
    if len(names) != gen.num_classes:
        names = [str(i) for i in range(gen.num_classes)]
    return names


def _onnx():
    try:
        import onnx
    except ImportError:
        raise BelamyError("ONNX export needs the onnx package", "pip install 'belamy[onnx]'") from None
    return onnx


def export_generator(gen: LoadedGenerator, out: Path, truncation: float = 1.0, output: str = "uint8",
                     opset: int = OPSET) -> Path:
    """Write ``gen`` as ONNX to ``out`` (atomically); returns ``out``."""
    _onnx()  # a clear error when the onnx extra is missing, before any work

    if output not in OUTPUTS:
        raise BelamyError(f"output {output!r} is not known", f"use one of {', '.join(OUTPUTS)}")
    if not 0.0 <= truncation <= 2.0:
        raise BelamyError(f"--truncation {truncation} is out of range", "use ψ between 0 and 2 (1 = none)")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise BelamyError(f"{out} does not end in .onnx", "name the output file something.onnx")
    if out.is_dir():
        raise BelamyError(f"{out} is a folder", "give a file name ending in .onnx")
    wrapper = ExportableGenerator(gen.G.to("cpu").eval(), truncation, output).eval()
    z = torch.zeros(2, gen.z_dim)
    args: tuple = (z,)
    names = ["z"]
    axes = {"z": {0: "batch"}, "image": {0: "batch"}}
    if gen.num_classes:
        args = (z, torch.nn.functional.one_hot(torch.arange(2) % gen.num_classes, gen.num_classes).float())
        names.append("labels")
        axes["labels"] = {0: "batch"}
    meta = {
        "format": "belamy-onnx", "version": 1, "arch": gen.arch, "res": gen.res, "z_dim": gen.z_dim,
        "num_classes": gen.num_classes, "label_names": label_names(gen), "truncation": truncation,
        "output": output, "checkpoint": gen.checkpoint_path.with_suffix(".safetensors").name,
        "checkpoint_sha256": gen.checkpoint_sha256, "run": str(gen.run_dir), "kimg": gen.kimg,
    }
    try:
        with _static_channel_filters():
            write_onnx(wrapper, args, out, opset, names, axes, meta)
    finally:
        gen.G.to(gen.device)
    return out


def write_onnx(wrapper: nn.Module, args: tuple, out: Path, opset: int, input_names: list[str], axes: dict,
               meta: dict) -> None:
    """Trace ``wrapper`` on ``args`` into ``out`` (atomically), with belamy's metadata; one output, "image"."""
    onnx = _onnx()
    try:
        with atomic_path(out) as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer chatter
            torch.onnx.export(wrapper, args, str(tmp), dynamo=False, opset_version=opset, input_names=input_names,
                              output_names=["image"], dynamic_axes=axes, do_constant_folding=True)
            model = onnx.load(str(tmp))
            entry = model.metadata_props.add()
            entry.key, entry.value = META_KEY, json.dumps(meta)
            onnx.save(model, str(tmp))
    except PermissionError as err:
        raise BelamyError(f"cannot write {out}: {err.strerror}", "choose a folder you can write to") from None


def export_onnx(run: Path, out: Path, truncation: float = 1.0, checkpoint: str = "latest", output: str = "uint8",
                opset: int = OPSET) -> Path:
    """Load the run's generator and export it; see :func:`export_generator` (and, for an image-to-image
    run, :func:`belamy.export.pix2pix.export_translator`)."""
    from belamy.generate.translate import checkpoint_arch

    if checkpoint_arch(Path(run), checkpoint) == "pix2pix":
        from belamy.export.pix2pix import export_translator
        from belamy.generate.translate import load_translator

        if truncation != 1.0 or output != "uint8":
            raise BelamyError("--truncation and --output are for runs that draw from noise",
                              "a pix2pix model always maps uint8 conditions to uint8 paintings: drop them")
        return export_translator(load_translator(Path(run), checkpoint, device="cpu"), out, opset)
    gen = load_generator(Path(run), checkpoint, device="cpu")
    # A model that draws NaN or one flat colour would make a show of black frames: refuse it before writing.
    labels = torch.arange(2) % gen.num_classes if gen.num_classes else None
    with torch.inference_mode():
        to_pictures(gen.synthesize(gen.latents([0, 1]), labels=labels, truncation=truncation))
    return export_generator(gen, out, truncation, output, opset)


def _checked_export_meta(path: Path, text: str) -> dict:
    """The metadata a model carries, every value the exhibit relies on checked (a file may hold anything)."""
    from belamy.models import limits

    what = f"{Path(path).name} metadata"
    try:
        meta = limits.config_dict(untrusted.loads_json(text, what, finite=False), what)
    except ValueError:
        raise BelamyError(f"{path} carries damaged belamy metadata", "export it again") from None
    if meta.get("arch") != "pix2pix":  # drawn from a latent (pix2pix is drawn from a condition image instead)
        limits.whole("z_dim", meta.get("z_dim"), 1, 4096, what)
    limits.whole("num_classes", meta.get("num_classes", 0), 0, limits.MAX_CLASSES, what)
    limits.power_of_two("res", meta.get("res"), 8, 2048, what)
    limits.names("label_names", meta.get("label_names") or [], what=what)
    limits.choice("output", meta.get("output", "uint8"), ("uint8", "float"), what)
    return meta


def read_export_meta(path: Path) -> dict:
    """The ``belamy`` metadata of an exported model (BelamyError if it is not one of ours)."""
    onnx = _onnx()

    path = Path(path)
    if not path.is_file():
        raise BelamyError(f"no ONNX model at {path}", "export one with `belamy export RUN --onnx OUT.onnx`")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises its own DecodeError types
        raise BelamyError(f"{path} is not a readable ONNX model ({type(err).__name__})", "export it again") from None
    for entry in model.metadata_props:
        if entry.key == META_KEY:
            return _checked_export_meta(path, entry.value)
    raise BelamyError(f"{path} was not exported by belamy", "export it with `belamy export RUN --onnx OUT.onnx`")
