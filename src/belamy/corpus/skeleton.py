"""Stick figures and face markers: how keypoints become a condition image.

One drawing for everything that makes or shows a pose condition (the pair builder, the studio's
draw page, ``belamy translate`` of keypoint files), so a figure the artist drags is drawn exactly
like the figures the model was trained on.

- ``pose``: the 18-point OpenPose body layout, drawn as OpenPose draws it: black background,
  a colour per limb (a semi-transparent ellipse along the bone) and a colour per joint (a dot).
  COCO's 17 points (most top-down pose models: HRNet, ViTPose, RTMPose) are mapped to it, the
  neck being the middle of the shoulders.
- ``landmarks``: face markers on black: the 68-point iBUG layout as coloured polylines (jaw,
  brows, nose, eyes, lips), any other count (5, 98, 468, ...) as white dots.

Keypoints are float arrays [K, 3] of (x, y, confidence) in pixels of the picture; a point with
confidence below ``threshold`` (or NaN) is not drawn, nor is any limb that touches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from belamy.errors import BelamyError
from belamy.utils import untrusted

SKELETON_KINDS = ("pose", "landmarks")

# OpenPose body-18 order.
OPENPOSE_NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
                  "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                  "right_eye", "left_eye", "right_ear", "left_ear")
# Bones as pairs of OpenPose indices, in OpenPose's drawing order (each has its own colour).
OPENPOSE_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
                  (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
# One hue step per joint / limb around the colour wheel, red through yellow, green, blue to magenta.
OPENPOSE_COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
                   (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
                   (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
# COCO-17 index for each OpenPose-18 joint (None: the neck, made from the two shoulders).
COCO_TO_OPENPOSE = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)

# iBUG 68-point face layout: (first, last, closed) runs drawn as polylines, with their colours.
FACE68_PARTS = (
    ((0, 16, False), (255, 255, 255)),   # jaw
    ((17, 21, False), (255, 170, 0)),    # right brow
    ((22, 26, False), (255, 170, 0)),    # left brow
    ((27, 30, False), (0, 255, 255)),    # nose bridge
    ((31, 35, False), (0, 255, 255)),    # nostrils
    ((36, 41, True), (0, 255, 0)),       # right eye
    ((42, 47, True), (0, 255, 0)),       # left eye
    ((48, 59, True), (255, 0, 85)),      # outer lips
    ((60, 67, True), (255, 0, 255)),     # inner lips
)


def _cv2():
    try:
        import cv2
    except ImportError:
        raise BelamyError("drawing poses needs OpenCV", "pip install 'belamy[pairs]'") from None
    return cv2


def as_keypoints(points, threshold: float = 0.0) -> np.ndarray:
    """[K, 2] or [K, 3] (x, y[, confidence]) as float32 [K, 3]; invisible points get confidence 0."""
    arr = np.asarray(points, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] not in (2, 3) or len(arr) == 0:
        raise BelamyError(f"keypoints must be a list of [x, y] or [x, y, confidence], not shape {arr.shape}",
                          "e.g. [[120, 40, 0.9], [118, 70, 0.8], ...]")
    if arr.shape[1] == 2:
        arr = np.concatenate([arr, np.ones((len(arr), 1), np.float32)], axis=1)
    # a point far off the canvas is not drawn: OpenCV takes 32-bit pixel coordinates
    bad = ~np.isfinite(arr).all(axis=1) | (arr[:, 2] < threshold) | (np.abs(arr[:, :2]).max(axis=1) > 1e5)
    arr[bad] = (0.0, 0.0, 0.0)
    return arr


def to_openpose(points: np.ndarray) -> np.ndarray:
    """COCO-17 or OpenPose-18 keypoints [K, 3] as OpenPose-18."""
    if len(points) == 18:
        return points
    if len(points) != 17:
        raise BelamyError(f"a body pose has 17 (COCO) or 18 (OpenPose) points, not {len(points)}",
                          "use a COCO or OpenPose body model")
    out = np.zeros((18, 3), np.float32)
    for i, src in enumerate(COCO_TO_OPENPOSE):
        if src is not None:
            out[i] = points[src]
    left, right = points[5], points[6]
    if left[2] > 0 and right[2] > 0:
        out[1] = ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2, min(left[2], right[2]))
    return out


def draw_pose(points, height: int, width: int, threshold: float = 0.3) -> np.ndarray:
    """An OpenPose-style stick figure (uint8 [H, W, 3], black background) of COCO-17 or OpenPose-18 points."""
    cv2 = _cv2()
    kp = to_openpose(as_keypoints(points, threshold))
    canvas = np.zeros((height, width, 3), np.uint8)
    stick = max(1, int(round(max(height, width) / 128)))  # 4 px at 512, as OpenPose draws there
    for (a, b), color in zip(OPENPOSE_LIMBS, OPENPOSE_COLORS, strict=False):
        if kp[a, 2] <= 0 or kp[b, 2] <= 0:
            continue
        (xa, ya), (xb, yb) = kp[a, :2], kp[b, :2]
        length = float(np.hypot(xb - xa, yb - ya))
        angle = float(np.degrees(np.arctan2(yb - ya, xb - xa)))
        center = (int(round((xa + xb) / 2)), int(round((ya + yb) / 2)))
        polygon = cv2.ellipse2Poly(center, (max(1, int(length / 2)), stick), int(angle), 0, 360, 1)
        layer = canvas.copy()
        cv2.fillConvexPoly(layer, polygon, color)
        canvas = cv2.addWeighted(canvas, 0.4, layer, 0.6, 0)
    radius = max(2, stick + 1)
    for i, (x, y, c) in enumerate(kp):
        if c > 0:
            cv2.circle(canvas, (int(round(x)), int(round(y))), radius, OPENPOSE_COLORS[i], thickness=-1)
    return canvas


def draw_landmarks(points, height: int, width: int, threshold: float = 0.3) -> np.ndarray:
    """Face markers (uint8 [H, W, 3], black background): 68 iBUG points as coloured contours, else dots."""
    cv2 = _cv2()
    kp = as_keypoints(points, threshold)
    canvas = np.zeros((height, width, 3), np.uint8)
    pen = max(1, int(round(max(height, width) / 256)))
    if len(kp) == 68:
        for (first, last, closed), color in FACE68_PARTS:
            run = kp[first : last + 1]
            visible = run[:, 2] > 0
            if visible.sum() < 2:
                continue
            line = np.round(run[visible, :2]).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [line], closed and bool(visible.all()), color, pen, lineType=cv2.LINE_AA)
    radius = max(1, pen)
    for x, y, c in kp:
        if c > 0:
            cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (255, 255, 255), thickness=-1)
    return canvas


def draw_skeleton(kind: str, points, height: int, width: int, threshold: float = 0.3) -> np.ndarray:
    if kind == "pose":
        return draw_pose(points, height, width, threshold)
    if kind == "landmarks":
        return draw_landmarks(points, height, width, threshold)
    raise BelamyError(f"unknown skeleton kind {kind!r}", f"use one of {', '.join(SKELETON_KINDS)}")


def template(kind: str) -> list[list[float]]:
    """A neutral figure to start dragging from, in [0, 1] picture coordinates: a head-and-shoulders
    body (OpenPose-18; hips and legs below the frame) or a frontal face (iBUG 68)."""
    if kind == "pose":
        return [[0.50, 0.34], [0.50, 0.58], [0.30, 0.60], [0.22, 0.84], [0.26, 1.05], [0.70, 0.60], [0.78, 0.84],
                [0.74, 1.05], [0.38, 1.10], [0.38, 1.40], [0.38, 1.70], [0.62, 1.10], [0.62, 1.40], [0.62, 1.70],
                [0.45, 0.29], [0.55, 0.29], [0.40, 0.31], [0.60, 0.31]]
    if kind == "landmarks":
        return _face68_template()
    raise BelamyError(f"unknown skeleton kind {kind!r}", f"use one of {', '.join(SKELETON_KINDS)}")


def _face68_template() -> list[list[float]]:
    """A plausible frontal face in the iBUG 68 layout, built from arcs and ellipses."""
    pts: list[list[float]] = []
    cx, cy = 0.5, 0.5
    for t in np.linspace(np.pi * 1.02, np.pi * 1.98, 17):  # jaw: the lower half of an oval, ear to ear
        pts.append([cx + 0.27 * np.cos(t), cy + 0.05 - 0.33 * np.sin(t)])
    for side in (-1, 1):  # brows
        xs = np.linspace(0.23, 0.43, 5) if side < 0 else np.linspace(0.57, 0.77, 5)
        for i, x in enumerate(xs):
            pts.append([x, 0.38 - 0.03 * np.sin(np.pi * i / 4)])
    for i in range(4):  # nose bridge
        pts.append([0.5, 0.44 + 0.045 * i])
    for i in range(5):  # nostrils
        pts.append([0.44 + 0.03 * i, 0.60 + 0.015 * (1 - abs(i - 2) / 2)])
    # Eyes and lips run from their left corner (in the picture) over the top and back along the bottom.
    for ex in (0.36, 0.64):
        for k in range(6):
            a = np.pi - k * np.pi / 3
            pts.append([ex + 0.07 * np.cos(a), 0.45 - 0.025 * np.sin(a)])
    for k in range(12):  # outer lips
        a = np.pi - k * np.pi / 6
        pts.append([0.5 + 0.11 * np.cos(a), 0.71 - 0.045 * np.sin(a)])
    for k in range(8):  # inner lips
        a = np.pi - k * np.pi / 4
        pts.append([0.5 + 0.07 * np.cos(a), 0.71 - 0.015 * np.sin(a)])
    return [[round(float(x), 4), round(float(y), 4)] for x, y in pts]


# Keypoint files are small: a body has 17-18 points, a face 68. Beyond ±1e6 pixels nothing is drawn, and
# float32 (what the drawing uses) turns 1e39 into infinity.
MAX_KEYPOINTS = 10_000
MAX_COORDINATE = 1e6
KEYPOINTS_HINT = 'write {"keypoints": [[x, y], ...], "width": W, "height": H}'


@dataclass(frozen=True)
class KeypointsFile:
    """A keypoints JSON file: ``{"keypoints": [[x, y(, c)], ...], "width": W, "height": H}`` (pixels of a
    W×H picture), or a bare list of points in [0, 1] coordinates (width and height 1)."""

    points: np.ndarray  # float32 [K, 3]: x, y, confidence (1 where the file gives none)
    width: float
    height: float
    threshold: float


def read_keypoints_file(path: Path) -> KeypointsFile:
    """The keypoints in ``path``, every value checked: a bad file is one line saying what is wrong."""
    try:
        data = untrusted.read_json(path, f"keypoints file {path}")
    except (OSError, ValueError) as exc:
        raise BelamyError(f"cannot read keypoints from {path}: {exc}", KEYPOINTS_HINT) from None
    if isinstance(data, list):
        data = {"keypoints": data}
    if not isinstance(data, dict) or "keypoints" not in data:
        raise BelamyError(f"{path} has no \"keypoints\"", KEYPOINTS_HINT)
    rows = data["keypoints"]
    if not isinstance(rows, list) or not rows or not all(
            isinstance(r, list) and len(r) in (2, 3) and all(_is_number(v) for v in r) for r in rows):
        raise BelamyError(f"{path}: keypoints must be [x, y] or [x, y, confidence] lists of numbers", "fix the file")
    if len(rows) > MAX_KEYPOINTS or any(abs(v) > MAX_COORDINATE for r in rows for v in r):
        raise BelamyError(f"{path}: more than {MAX_KEYPOINTS} keypoints, or a value beyond ±{MAX_COORDINATE:g}",
                          "give pixel coordinates of the picture named by width and height")
    points = np.array([[*r, 1.0] if len(r) == 2 else r for r in rows], dtype=np.float32)
    sizes = {}
    for name, default in (("width", 1.0), ("height", 1.0), ("threshold", 0.3)):
        value = data.get(name, default)
        if value is None and name != "threshold":
            value = default
        if (not _is_number(value) or not math.isfinite(value) or value < 0 or value > MAX_COORDINATE
                or (name != "threshold" and value == 0)):
            raise BelamyError(f"{path}: \"{name}\" is {value!r}", "give a positive number (or leave it out)")
        sizes[name] = float(value)
    return KeypointsFile(points=points, **sizes)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
