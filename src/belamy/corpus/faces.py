"""Head-and-shoulders crops around the faces in a painting, framed like a painted bust portrait.

Faces are found with OpenCV's bundled Haar cascade (frontal faces; it ships inside the
opencv-python wheel, so nothing is downloaded). Each face box is grown to a square ``scale`` times
its width and moved down by ``shift`` times its height, so that the hair above and the shoulders
below come in, then clamped inside the picture.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from belamy.errors import BelamyError

Box = tuple[float, float, float, float]  # left, top, right, bottom

# Detection runs on a copy no larger than this: faces worth a crop are big enough to be found there.
_DETECT_SIDE = 640
MAX_FACES = 8


@lru_cache(maxsize=1)
def _cascade():
    hint = "pip install 'belamy[face]' (OpenCV 4: OpenCV 5 no longer ships the Haar face cascades)"
    try:
        import cv2
    except ImportError:
        raise BelamyError("--crop face needs OpenCV", hint) from None
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise BelamyError(f"--crop face needs OpenCV's Haar cascades, missing from OpenCV {cv2.__version__}", hint)
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise BelamyError(f"cannot load OpenCV's face model from {path}", "reinstall opencv-python-headless")
    return cascade


def detect_faces(rgb: np.ndarray, min_face: float = 24) -> list[Box]:
    """Face boxes in ``rgb`` (HxWx3 uint8) pixels, largest first. ``min_face``: smallest side looked for."""
    import cv2

    h, w = rgb.shape[:2]
    factor = min(1.0, _DETECT_SIDE / max(h, w))
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if factor < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)  # varnish, dark grounds and faded prints: even out the contrast
    smallest = max(20, int(min_face * factor))
    if min(gray.shape) < smallest:
        return []
    found = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=8, minSize=(smallest, smallest))
    boxes = [(x / factor, y / factor, (x + fw) / factor, (y + fh) / factor) for x, y, fw, fh in np.asarray(found).reshape(-1, 4)]
    boxes.sort(key=lambda b: (-(b[2] - b[0]), b[0], b[1]))
    kept: list[Box] = []
    for b in boxes:  # a face found inside another face's box is the same face (or an eye)
        if all(_overlap(b, k) < 0.3 for k in kept):
            kept.append(b)
    return kept[:MAX_FACES]


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def frame_face(face: Box, bounds: Box, scale: float = 2.2, shift: float = 0.25, ratio: float = 1.0) -> Box:
    """The head-and-shoulders crop (width / height = ``ratio``) for one face, kept inside ``bounds``.

    The crop is ``scale`` face boxes wide. It is shrunk (keeping the face centred as far as
    possible) when the picture is too small for the full framing, and slid back inside when it
    would cross an edge.
    """
    fl, ft, fr, fb = face
    bl, bt, br, bb = bounds
    fw, fh = fr - fl, fb - ft
    width = min(scale * max(fw, fh), br - bl, (bb - bt) * ratio)
    height = width / ratio
    cx = (fl + fr) / 2
    cy = (ft + fb) / 2 + shift * fh
    left = min(max(cx - width / 2, bl), br - width)
    top = min(max(cy - height / 2, bt), bb - height)
    return (left, top, left + width, top + height)


def face_crops(
    rgb: np.ndarray, bounds: tuple[int, int, int, int], scale: float = 2.2, shift: float = 0.25, min_side: float = 0,
    ratio: float = 1.0,
) -> list[tuple[Box, Box]]:
    """(crop box, face box) for each usable face inside ``bounds`` (the picture without its borders).

    A face whose framed crop would be under ``min_side`` pixels is left out (too small to train on).
    """
    bl, bt, br, bb = bounds
    region = rgb[bt:bb, bl:br]
    out = []
    for fl, ft, fr, fb in detect_faces(region, min_face=max(24.0, min_side / max(scale, 1.0))):
        face = (fl + bl, ft + bt, fr + bl, fb + bt)
        crop = frame_face(face, tuple(map(float, bounds)), scale, shift, ratio)
        if min(crop[2] - crop[0], crop[3] - crop[1]) >= min_side:
            out.append((crop, face))
    return out
