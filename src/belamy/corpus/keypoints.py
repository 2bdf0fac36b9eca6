"""Keypoints from a local ONNX model file, run by ONNX Runtime: the detector behind ``landmarks`` and ``pose`` pairs.

Nothing is downloaded: the user names a model file (``--model PATH``). What belamy expects of it:

- **one image input**, float32, ``[1, 3, H, W]`` (or ``[1, H, W, 3]``); H and W are read from the model
  (a dynamic size means 256×256). The picture is letterboxed into it (scaled to fit, centred, black
  bars), in RGB, as ``(pixel - mean) / std`` with pixels in 0-255; by default mean 0 and std 255 (inputs
  in [0, 1]). An integer input (MoveNet's int32 ``[1, H, W, 3]``) gets the pixels as they are, 0-255.
- **outputs**, any one of the usual forms (the first matching one is used):
  - heatmaps ``[1, K, h, w]``: a keypoint is the peak of its map (with a quarter-pixel step toward the
    higher neighbour), its confidence the peak value (HRNet, ViTPose, OpenPose-style body models,
    HRNet/AdaptiveWing face alignment);
  - SimCC, two outputs ``[1, K, Wx]`` and ``[1, K, Hy]``: x and y are the peaks of the two 1-D
    distributions, at Wx/W bins per pixel (RTMPose);
  - coordinates ``[1, K, 2]``, ``[1, K, 3]`` (x, y, confidence) or flat ``[1, 2K]``: in pixels of the
    model input, or in [0, 1] of it when every value is within [-0.5, 1.5] (PFLD-style landmark models);
  - MoveNet: ``[1, 1, K, 3]`` (SinglePose: y, x, score, in [0, 1] of the input) or ``[1, 6, 3K + 5]``
    (MultiPose: each person's K × (y, x, score), then its box and score; the best-scoring person is used);
  - YOLO-pose detections ``[1, 5 + 3K, N]`` (Ultralytics YOLOv8/YOLO11-pose export: box centre and
    size, score, then K × (x, y, visibility), in input pixels) or ``[1, N, 5 + 3K]``: the best-scoring
    detection is used.
- K = 17 (COCO) or 18 (OpenPose) for bodies; 68 (iBUG) draws face contours, any other count dots.

A JSON file beside the model (``MODEL.onnx.json`` or ``MODEL.json``) may override the defaults:
``{"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "bgr": false}`` (ImageNet
normalisation, as HRNet, ViTPose and RTMPose expect). The model sees the whole picture, as a
top-down pose model sees one person's box: it suits corpora where one figure or face fills the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from belamy.errors import BelamyError
from belamy.utils import untrusted

DEFAULT_SIDE = 256


@dataclass
class ModelSettings:
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    bgr: bool = False

    @classmethod
    def beside(cls, model: Path) -> ModelSettings:
        for path in (model.with_name(model.name + ".json"), model.with_suffix(".json")):
            if path.is_file():
                try:
                    data = untrusted.read_json(path, f"model settings {path}")
                    mean = tuple(float(v) for v in data.get("mean", cls.mean))
                    std = tuple(float(v) for v in data.get("std", cls.std))
                    bgr = bool(data.get("bgr", False))
                except (ValueError, TypeError, AttributeError) as exc:
                    raise BelamyError(f"{path} is not valid model settings ({exc})",
                                      'write e.g. {"mean": [0, 0, 0], "std": [255, 255, 255], "bgr": false}') from None
                if len(mean) != 3 or len(std) != 3 or any(s == 0 for s in std):
                    raise BelamyError(f"{path}: mean and std need three values each, std non-zero", "fix the file")
                return cls(mean=mean, std=std, bgr=bgr)  # type: ignore[arg-type]
        return cls()


@dataclass
class KeypointModel:
    """A keypoint model file opened with ONNX Runtime; :meth:`detect` gives [K, 3] (x, y, confidence)."""

    path: Path
    session: object
    input_name: str
    input_hw: tuple[int, int]
    channels_last: bool
    settings: ModelSettings = field(default_factory=ModelSettings)
    integer_input: np.dtype | None = None  # MoveNet: raw 0-255 pixels as int32
    sha256: str = ""

    def _letterbox(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        import cv2

        h, w = rgb.shape[:2]
        in_h, in_w = self.input_hw
        scale = min(in_h / h, in_w / w)
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        resized = cv2.resize(np.ascontiguousarray(rgb), (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        top, left = (in_h - new_h) // 2, (in_w - new_w) // 2
        canvas = np.zeros((in_h, in_w, 3), np.uint8)
        canvas[top : top + new_h, left : left + new_w] = resized
        return canvas, scale, left, top

    def prepare(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        canvas, scale, left, top = self._letterbox(rgb)
        if self.integer_input is not None:
            x = canvas[None] if self.channels_last else canvas.transpose(2, 0, 1)[None]
            return np.ascontiguousarray(x, dtype=self.integer_input), scale, left, top
        x = canvas.astype(np.float32)
        if self.settings.bgr:
            x = x[..., ::-1]
        x = (x - np.array(self.settings.mean, np.float32)) / np.array(self.settings.std, np.float32)
        x = x[None] if self.channels_last else x.transpose(2, 0, 1)[None]
        return np.ascontiguousarray(x, dtype=np.float32), scale, left, top

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        x, scale, left, top = self.prepare(rgb)
        try:
            outputs = self.session.run(None, {self.input_name: x})
        except Exception as exc:  # onnxruntime's own error types
            raise BelamyError(f"the keypoint model {self.path.name} failed: {str(exc).splitlines()[0][:200]}",
                              "does it take one [1, 3, H, W] float image? see `belamy corpus pairs --help`") from None
        points = decode_outputs(outputs, self.input_hw, self.path.name)
        points[:, 0] = (points[:, 0] - left) / scale
        points[:, 1] = (points[:, 1] - top) / scale
        return points


def open_keypoint_model(path: str | Path) -> KeypointModel:
    """Open ``path`` with ONNX Runtime (CPU), with a clear error for a missing or unusable file."""
    from belamy.utils.imageio import file_sha256

    path = Path(path)
    if not path.is_file():
        raise BelamyError(f"no model file at {path}", "pass --model PATH to a local .onnx keypoint model")
    try:
        import onnxruntime as ort
    except ImportError:
        raise BelamyError("landmark and pose pairs need ONNX Runtime", "pip install 'belamy[onnx]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BelamyError(f"{path} is not a model ONNX Runtime can open ({type(exc).__name__})",
                          "give an .onnx keypoint model file") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        shapes = ", ".join(f"{i.name} {i.shape}" for i in inputs)
        raise BelamyError(f"{path.name} takes {shapes}: belamy needs one image input [1, 3, H, W]",
                          "use a single-image keypoint model")
    shape = inputs[0].shape
    channels_last = shape[3] == 3 and shape[1] != 3
    dims = shape[1:3] if channels_last else shape[2:4]
    in_h, in_w = (int(d) if isinstance(d, int) and d > 0 else DEFAULT_SIDE for d in dims)
    integer = _INTEGER_INPUTS.get(inputs[0].type)
    return KeypointModel(path=path, session=session, input_name=inputs[0].name, input_hw=(in_h, in_w),
                         channels_last=channels_last, settings=ModelSettings.beside(path), sha256=file_sha256(path),
                         integer_input=None if integer is None else np.dtype(integer))


_INTEGER_INPUTS = {"tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(int64)": np.int64}


def _best_detection(rows: np.ndarray, score_at: int) -> np.ndarray:
    """The row (one person) with the highest score."""
    return rows[int(np.argmax(rows[:, score_at]))]


def _movenet_or_yolo(a: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray | None:
    """MoveNet's and YOLO-pose's layouts (see the module docstring), or None for any other array."""
    in_h, in_w = input_hw
    if a.ndim == 4 and a.shape[:2] == (1, 1) and a.shape[3] == 3:  # MoveNet SinglePose: y, x, score
        yxs = a[0, 0]
        return np.stack([yxs[:, 1] * in_w, yxs[:, 0] * in_h, yxs[:, 2]], axis=1).astype(np.float32)
    if a.ndim != 3 or a.shape[0] != 1:
        return None
    rows, cols = a.shape[1:]
    if cols > rows and (cols - 5) % 3 == 0 and cols >= 8 and (rows - 5) % 3 != 0:  # MoveNet MultiPose
        yxs = _best_detection(a[0], cols - 1)[: cols - 5].reshape(-1, 3)
        return np.stack([yxs[:, 1] * in_w, yxs[:, 0] * in_h, yxs[:, 2]], axis=1).astype(np.float32)
    for detections, width in ((a[0].T, rows), (a[0], cols)):  # YOLO-pose, channels first (the export) or last
        if width >= 8 and (width - 5) % 3 == 0 and len(detections) > width:
            return _best_detection(detections, 4)[5:].reshape(-1, 3).astype(np.float32)
    return None


def _heatmap_peaks(maps: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray:
    k, h, w = maps.shape
    flat = maps.reshape(k, -1)
    idx = flat.argmax(axis=1)
    conf = flat[np.arange(k), idx]
    ys, xs = np.divmod(idx, w)
    xs, ys = xs.astype(np.float32), ys.astype(np.float32)
    for i in range(k):  # a quarter step toward the higher neighbour: finer than one heatmap cell
        x, y = int(xs[i]), int(ys[i])
        if 0 < x < w - 1:
            xs[i] += 0.25 * np.sign(maps[i, y, x + 1] - maps[i, y, x - 1])
        if 0 < y < h - 1:
            ys[i] += 0.25 * np.sign(maps[i, y + 1, x] - maps[i, y - 1, x])
    in_h, in_w = input_hw
    return np.stack([(xs + 0.5) * in_w / w - 0.5, (ys + 0.5) * in_h / h - 0.5, conf], axis=1).astype(np.float32)


def decode_outputs(outputs: list[np.ndarray], input_hw: tuple[int, int], name: str = "model") -> np.ndarray:
    """Keypoints [K, 3] in model-input pixels from the raw outputs of one image (see the module docstring)."""
    arrays = [np.asarray(o, dtype=np.float32) for o in outputs]
    in_h, in_w = input_hw
    if len(arrays) == 1 and (points := _movenet_or_yolo(arrays[0], input_hw)) is not None:
        return points
    for a in arrays:
        if a.ndim == 4 and a.shape[0] == 1 and a.shape[1] >= 1 and min(a.shape[2:]) > 1:
            return _heatmap_peaks(a[0], input_hw)
    rank3 = [a for a in arrays if a.ndim == 3 and a.shape[0] == 1]
    if len(rank3) >= 2 and rank3[0].shape[1] == rank3[1].shape[1] and rank3[0].shape[2] > 3:
        sx, sy = rank3[0][0], rank3[1][0]
        x = sx.argmax(axis=1) / (sx.shape[1] / in_w)
        y = sy.argmax(axis=1) / (sy.shape[1] / in_h)
        conf = np.minimum(sx.max(axis=1), sy.max(axis=1))
        return np.stack([x, y, conf], axis=1).astype(np.float32)
    for a in arrays:
        coords = None
        if a.ndim == 3 and a.shape[0] == 1 and a.shape[2] in (2, 3):
            coords = a[0]
        elif a.ndim == 2 and a.shape[0] == 1 and a.shape[1] % 2 == 0 and a.shape[1] >= 4:
            coords = a[0].reshape(-1, 2)
        if coords is None:
            continue
        xy = coords[:, :2].copy()
        if np.all((xy >= -0.5) & (xy <= 1.5)):
            xy *= np.array([in_w, in_h], np.float32)
        conf = coords[:, 2] if coords.shape[1] == 3 else np.ones(len(coords), np.float32)
        return np.concatenate([xy, conf[:, None]], axis=1).astype(np.float32)
    shapes = ", ".join(str(list(a.shape)) for a in arrays)
    raise BelamyError(f"{name} gives outputs {shapes}, none of them keypoints belamy can read",
                      "use a model with heatmaps [1, K, h, w], SimCC [1, K, W] ×2, coordinates [1, K, 2|3], "
                      "MoveNet [1, 1, K, 3] or YOLO-pose [1, 5+3K, N] outputs")
