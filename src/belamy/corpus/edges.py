"""Line drawings from paintings: the condition of an ``edges`` pair corpus (no model, no download).

The drawing should look like what a person sketches on the studio's canvas: thin dark lines on
white, around the shapes that matter (the face, the eyes, the hair, the shoulders), without the
brush texture and craquelure of the painting. Two methods, both through OpenCV:

- ``xdog`` (default): an eXtended Difference of Gaussians (Winnemöller et al. 2012). The painting
  is first smoothed by an edge-preserving filter (texture goes, contours stay); the DoG response is
  thresholded into lines, and specks shorter than a few pixels are erased.
- ``canny``: Canny edges with thresholds from the picture's own gradient statistics, thickened to the
  same line width. Crisper and sparser; faint features are lost first.

Both give a uint8 RGB image (black lines on white) of the painting's size. The line width scales
with the picture (about 1 px per 128 px of side), as a pen on a canvas of that size would.
"""

from __future__ import annotations

import numpy as np

from belamy.errors import BelamyError

EDGE_METHODS = ("xdog", "canny")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise BelamyError("line drawings need OpenCV", "pip install 'belamy[pairs]'") from None
    return cv2


def _gray(rgb: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def _smooth(rgb: np.ndarray, scale: float) -> np.ndarray:
    """Edge-preserving smoothing: brush strokes and cracks go, the contours of forms stay."""
    cv2 = _cv2()
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    d = max(3, int(round(5 * scale)) | 1)
    for _ in range(2):
        img = cv2.bilateralFilter(img, d, 40, 3.0 * scale)
    return img


def _remove_specks(lines: np.ndarray, min_area: int) -> np.ndarray:
    """``lines`` is a boolean mask; connected bits smaller than ``min_area`` pixels are dropped."""
    cv2 = _cv2()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(lines.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def _thicken(lines: np.ndarray, width: int) -> np.ndarray:
    """1-px lines (a boolean mask) drawn with a round pen ``width`` pixels wide."""
    cv2 = _cv2()
    mask = lines.astype(np.uint8)
    if width > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
        mask = cv2.dilate(mask, kernel)
    return mask.astype(bool)


def xdog_lines(rgb: np.ndarray, sigma: float | None = None, k: float = 1.6, tau: float = 0.985,
               epsilon: float = -0.005, min_area: int | None = None) -> np.ndarray:
    """The XDoG line mask (True = ink) of an RGB painting, before line-width shaping."""
    cv2 = _cv2()
    h, w = rgb.shape[:2]
    scale = max(h, w) / 256.0
    sigma = sigma if sigma is not None else max(0.6, 0.9 * scale)  # below 0.6 px the DoG sees nothing
    # Local contrast equalised first, so a dark, low-contrast painting draws as fully as a bright one.
    clahe = cv2.createCLAHE(clipLimit=1.5, tileGridSize=(4, 4))
    gray = clahe.apply(_gray(_smooth(rgb, scale))).astype(np.float32) / 255.0
    g1 = cv2.GaussianBlur(gray, (0, 0), sigma)
    g2 = cv2.GaussianBlur(gray, (0, 0), sigma * k)
    dog = g1 - tau * g2
    # Where the narrow blur is darker than the wide one by more than the threshold: the dark side of an edge.
    lines = dog < epsilon
    return _remove_specks(lines, min_area if min_area is not None else max(4, int(round(18 * scale * scale))))


def canny_lines(rgb: np.ndarray, sigma: float = 0.33, min_area: int | None = None) -> np.ndarray:
    """Canny edges (True = ink) with thresholds around the median gradient, specks removed."""
    cv2 = _cv2()
    h, w = rgb.shape[:2]
    scale = max(h, w) / 256.0
    gray = _gray(_smooth(rgb, scale))
    gray = cv2.GaussianBlur(gray, (0, 0), 1.0 * scale)
    median = float(np.median(gray))
    low, high = int(max(0, (1.0 - sigma) * median) * 0.5), int(min(255, (1.0 + sigma) * median) * 0.5)
    edges = cv2.Canny(gray, max(10, low), max(30, high), L2gradient=True) > 0
    return _remove_specks(edges, min_area if min_area is not None else max(4, int(round(10 * scale))))


def line_width(height: int, width: int) -> int:
    """Pen width in pixels for a picture of this size: 1 up to 191 px, 2 at 256, 4 at 512."""
    return max(1, int(round(max(height, width) / 128)))


def line_drawing(rgb: np.ndarray, method: str = "xdog") -> np.ndarray:
    """A sketch of ``rgb`` (uint8 [H, W, 3]): black lines on white, uint8 [H, W, 3]."""
    if method not in EDGE_METHODS:
        raise BelamyError(f"unknown edge method {method!r}", f"use one of {', '.join(EDGE_METHODS)}")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise BelamyError(f"a line drawing needs a uint8 RGB image, not {rgb.shape} {rgb.dtype}", "convert it to RGB")
    h, w = rgb.shape[:2]
    if method == "xdog":
        mask = xdog_lines(rgb)
        if line_width(h, w) > 2:
            mask = _thicken(mask, line_width(h, w) - 1)
    else:
        mask = _thicken(canny_lines(rgb), line_width(h, w))
    out = np.full((h, w, 3), 255, dtype=np.uint8)
    out[mask] = 0
    return out
