"""One file in, one (or, with face crops, several) clean square training images out — or a reason why not.

Runs in worker processes, so everything here is a plain function of its arguments and returns
picklable results. Order of work, chosen for speed and correctness:

1. size from the header (no decoding): empty, not-an-image, decompression bomb and too-small files
   are turned away before a pixel is decoded;
2. JPEG ``draft``: decode at 1/2, 1/4 or 1/8 scale when the target is much smaller (the big win);
3. EXIF orientation, then colour: embedded ICC profiles (CMYK ones included) to sRGB, every mode to RGB;
4. trim uniform black/white borders (letterbox bars, mount margins);
5. crop (centre square, or head-and-shoulders around each face) and resample with Lanczos.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from belamy.corpus.phash import dhash, phash
from belamy.corpus.sources import not_regular_reason
from belamy.utils.aspect import shape_for
from belamy.utils.imageio import to_rgb

CROPS = ("center", "face", "none")


@dataclass(frozen=True)
class PrepareOptions:
    size: int = 128
    min_size: int = 64
    max_pixels: int = 178_956_970
    crop: str = "center"
    # Picture shape (width:height): the crop takes this shape and is resampled to ``shape``.
    aspect: str = "1:1"
    # Face framing (crop="face"): the square side is ``face_scale`` × the face box, its centre moved
    # down by ``face_shift`` × the box so that shoulders come in, as in painted bust portraits.
    face_scale: float = 2.2
    face_shift: float = 0.25
    # Border trimming: a line is border when ≥ 98% of its pixels lie within ``trim_tolerance``
    # (max over channels, 0-255) of a pure black or white border colour (see ``border_box``).
    trim: bool = True
    trim_tolerance: int = 12
    # Decode JPEGs at 1/2-1/8 scale when the target allows (off only to measure what it saves).
    draft: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of each corpus picture."""
        return shape_for(self.size, self.aspect)

    @property
    def ratio(self) -> float:
        """Width / height of each corpus picture."""
        height, width = self.shape
        return width / height


@dataclass
class Prepared:
    """An image ready for the corpus, with what the manifest needs to know about it."""

    pixels: np.ndarray  # [height, width, 3] uint8 (PrepareOptions.shape)
    phash: int
    dhash: int
    crop_box: tuple[int, int, int, int]  # in original (oriented) pixels: left, top, right, bottom
    trimmed: tuple[int, int, int, int]  # pixels cut off left, top, right, bottom (original units)
    face_index: int | None = None
    face_box: tuple[int, int, int, int] | None = None


@dataclass
class FileResult:
    """Everything learned from one source file: accepted crops, or the reason it was turned away."""

    path: str
    sha256: str | None = None
    width: int | None = None  # original size, after EXIF orientation
    height: int | None = None
    mode: str | None = None
    format: str | None = None
    reject: str | None = None
    crops: list[Prepared] = field(default_factory=list)


class Reject(Exception):
    """Raised inside the pipeline with the one-line reason the file is turned away."""


# ICC transforms are costly to build and most files share a few profiles: cache them per worker.
_SRGB = ImageCms.createProfile("sRGB")
_TRANSFORMS: dict[tuple[bytes, str], ImageCms.ImageCmsTransform | None] = {}


def _icc_to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """Apply the image's embedded profile to get sRGB; a broken profile falls back to a plain conversion."""
    key = (hashlib.sha1(icc).digest(), im.mode)
    if key not in _TRANSFORMS:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            _TRANSFORMS[key] = ImageCms.buildTransform(
                src, _SRGB, im.mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            _TRANSFORMS[key] = None
    transform = _TRANSFORMS[key]
    if transform is None:
        return to_rgb(im)
    try:
        return ImageCms.applyTransform(im, transform)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return to_rgb(im)


def to_srgb(im: Image.Image) -> Image.Image:
    """Any mode, with or without an embedded ICC profile, to 8-bit sRGB.

    Alpha is composited over white first (a transparent background is paper, not black); 16-bit
    greys are scaled down; CMYK goes through its profile when it has one (plain inversion otherwise).
    """
    icc = im.info.get("icc_profile")
    if im.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La") or im.mode.startswith("I") or im.mode == "F":
        im = to_rgb(im)
    if icc and im.mode in ("RGB", "CMYK", "L"):
        return _icc_to_srgb(im, icc)
    return to_rgb(im)


def _is_bar_colour(color: np.ndarray) -> bool:
    # Letterbox bars and mount margins are (near) pure black or white; a painted dark ground is
    # rarely below 10 in every channel, and it is never trimmed.
    return bool(color.max() <= 8 or color.min() >= 243)


def border_box(arr: np.ndarray, tolerance: int = 12, content_fraction: float = 0.02) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) inside uniform black or white borders, or None when the whole
    image is border.

    Each side is looked at separately, with its own border colour (the median of its outermost line),
    and trimmed only when that colour is (near) pure black or white: letterbox bars and mount margins go,
    a painted ground (a dark Netherlandish background, a blue sky, an ukiyo-e paper tone) stays. Lines
    count as border while ≤ ``content_fraction`` of their pixels are further than ``tolerance`` from
    that colour; then a few more lines (3% of the side) within 3 × ``tolerance`` are taken too, for the
    JPEG ringing along a bar's edge, without eating into a dark painting behind it.
    """
    h, w = arr.shape[:2]
    a = arr.astype(np.int16)

    def lines_inside(lines: np.ndarray) -> int:
        """How many leading lines (axis 0 of ``lines``: [n, len, 3]) are border."""
        ref = np.median(lines[0], axis=0)
        if not _is_bar_colour(ref):
            return 0
        dist = np.abs(lines - ref.astype(np.int16)).max(axis=2)  # [n, len]
        is_content = (dist > tolerance).mean(axis=1) > content_fraction
        if not is_content.any():
            return len(lines)
        depth = int(np.argmax(is_content))
        if depth == 0:
            return 0
        ringing = (dist[depth:] > 3 * tolerance).mean(axis=1) > content_fraction
        limit = max(2, round(0.03 * len(lines)))
        extra = int(np.argmax(ringing)) if ringing.any() else len(ringing)
        return depth + min(extra, limit)

    top = lines_inside(a)
    if top == h:
        return None
    bottom = lines_inside(a[::-1])
    left = lines_inside(a.transpose(1, 0, 2))
    right = lines_inside(a.transpose(1, 0, 2)[::-1])
    box = [left, top, w - right, h - bottom]
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    return (box[0], box[1], box[2], box[3])


def _open_checked(data: bytes, opts: PrepareOptions) -> Image.Image:
    """Open from the header only, turning away what must not be decoded."""
    if not data:
        raise Reject("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Past the limit PIL only warns (up to twice it); the size check below rejects those.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise Reject("not an image (unrecognised format)") from None
    except Image.DecompressionBombError as exc:  # over twice the limit: PIL refuses to open it at all
        raise Reject(f"decompression bomb: {_short(exc)}") from None
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise Reject(f"unreadable image header: {_short(exc)}") from None
    w, h = im.size
    if w * h > opts.max_pixels:
        raise Reject(f"decompression bomb: {w}x{h} = {w * h} pixels, over the limit of {opts.max_pixels} (--max-pixels)")
    if min(w, h) < opts.min_size:
        raise Reject(f"too small: {w}x{h}, short side under --min-size {opts.min_size}")
    return im


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block must not lose the painting; it just stays as stored
        return 1


def _decode(im: Image.Image, opts: PrepareOptions) -> tuple[Image.Image, float]:
    """Decode (JPEG at reduced scale when the target allows it), orient and convert to sRGB.

    Returns the image and the scale from its pixels back to the original's.
    """
    ow, oh = im.size
    if im.format == "JPEG" and opts.crop != "none" and opts.draft:
        # Decode big enough that the square crop keeps ≥ 2× the target side (Lanczos from there is
        # as good as from full size); face crops are a fraction of the picture, so keep more.
        need = max(opts.shape) * (8 if opts.crop == "face" else 2)
        im.draft(im.mode, (need, need))
    im.load()  # first: reading EXIF from a PNG loads it, and a failure there must not be swallowed
    if _orientation(im) != 1:
        im = ImageOps.exif_transpose(im)
    scale = max(ow, oh) / max(im.size)
    return to_srgb(im), scale


def prepare_bytes(name: str, data: bytes, opts: PrepareOptions) -> FileResult:
    """The whole pipeline for one file's bytes. Never raises for a bad file: it returns a reject."""
    result = FileResult(path=name, sha256=hashlib.sha256(data).hexdigest())
    # PIL's own bomb guard (a warning past the limit, an error past twice it) follows ours.
    saved_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, opts.max_pixels
    try:
        im = _open_checked(data, opts)
        result.format = im.format
        result.mode = im.mode
        w, h = im.size
        result.width, result.height = w, h
        rgb, scale = _decode(im, opts)
        if (rgb.width > rgb.height) != (w > h):  # turned by its EXIF orientation
            result.width, result.height = h, w
        result.crops = _crop_all(rgb, scale, opts)
    except Reject as exc:
        result.reject = str(exc)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        result.reject = f"decompression bomb: {_short(exc)}"
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, struct.error,
            ZeroDivisionError, MemoryError, ImageCms.PyCMSError) as exc:
        # Truncated or corrupt data shows up as any of these from the decoders.
        result.reject = f"corrupt or truncated image: {_short(exc)}"
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit
    if result.reject:
        result.crops = []
    return result


def max_file_bytes(opts: PrepareOptions) -> int:
    """The largest file worth reading: an uncompressed 16-bit RGBA image at ``max_pixels``, plus room
    for metadata. Anything bigger (a huge or sparse file) is turned away before it is read."""
    return opts.max_pixels * 8 + 64 * 2**20


def read_regular_file(path: str, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Opened without blocking and checked on the open descriptor: a FIFO, socket or device (even one
    swapped in after the folder was listed) is refused instead of hanging the worker or never ending.
    Raises :class:`Reject` with the reason.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise Reject(f"cannot read file: {_short(exc)}") from None
    try:
        info = os.fstat(fd)
        reason = not_regular_reason(info.st_mode)
        if reason:
            raise Reject(reason)
        if info.st_size > limit:
            raise Reject(f"too large: a {info.st_size / 2**20:,.0f} MB file, over the {limit / 2**20:,.0f} MB "
                         "that --max-pixels allows")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise Reject(f"too large: over the {limit / 2**20:,.0f} MB that --max-pixels allows")
        return data
    except OSError as exc:
        raise Reject(f"cannot read file: {_short(exc)}") from None
    finally:
        os.close(fd)


def prepare_file(path: str, opts: PrepareOptions) -> FileResult:
    try:
        data = read_regular_file(path, max_file_bytes(opts))
    except Reject as exc:
        return FileResult(path=path, reject=str(exc))
    return prepare_bytes(path, data, opts)


def _crop_all(rgb: Image.Image, scale: float, opts: PrepareOptions) -> list[Prepared]:
    arr = np.asarray(rgb)
    w, h = rgb.size
    inner = (0, 0, w, h)
    if float(arr[::4, ::4].std()) < 2.0:
        raise Reject("blank: the whole image is one uniform colour")
    if opts.trim:
        box = border_box(arr, opts.trim_tolerance)
        if box is None:
            raise Reject("blank: the whole image is border (black or white)")
        inner = box
    iw, ih = inner[2] - inner[0], inner[3] - inner[1]
    if min(iw, ih) * scale < opts.min_size - 0.5:
        raise Reject(
            f"too small: {round(iw * scale)}x{round(ih * scale)} after trimming borders, "
            f"short side under --min-size {opts.min_size}"
        )
    trimmed = tuple(round(v * scale) for v in (inner[0], inner[1], w - inner[2], h - inner[3]))

    boxes: list[tuple[tuple[int, int, int, int], int | None, tuple[int, int, int, int] | None]] = []
    if opts.crop == "face":
        from belamy.corpus.faces import face_crops

        for i, (crop, face) in enumerate(face_crops(arr, inner, opts.face_scale, opts.face_shift,
                                                    min_side=opts.min_size / scale, ratio=opts.ratio)):
            boxes.append((crop, i, face))
    if not boxes:
        boxes.append((_center_box(inner, opts.ratio) if opts.crop != "none" else inner, None, None))

    out = []
    for crop, face_index, face in boxes:
        pixels = _resample(rgb, crop, opts.shape)
        out.append(Prepared(
            pixels=pixels, phash=phash(pixels), dhash=dhash(pixels),
            crop_box=tuple(round(v * scale) for v in crop),
            trimmed=trimmed, face_index=face_index,
            face_box=tuple(round(v * scale) for v in face) if face else None,
        ))
    return out


def _center_box(box: tuple[float, float, float, float], ratio: float) -> tuple[float, float, float, float]:
    """The largest centred box of width / height = ``ratio`` inside ``box``."""
    # Sub-pixel: with a JPEG decoded at reduced scale, half a pixel there is 4 original pixels.
    left, top, right, bottom = box
    width = min(right - left, (bottom - top) * ratio)
    height = width / ratio
    x = left + (right - left - width) / 2
    y = top + (bottom - top - height) / 2
    return (x, y, x + width, y + height)


def _resample(im: Image.Image, box: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
    """Crop ``box`` and resample to ``shape`` (height, width) with Lanczos (after a box-filter
    pre-reduction for big shrinks).

    A box of another shape (``crop="none"``) is fitted inside and padded with its mean colour,
    never stretched.
    """
    height, width = shape
    bw, bh = box[2] - box[0], box[3] - box[1]
    if abs(bw * height - bh * width) < 1e-6 * max(bw, bh) * max(shape):
        out = im.resize((width, height), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
        return np.asarray(out, dtype=np.uint8)
    # Whole picture, not cropped: fit it inside the frame and pad with its own mean colour.
    scale = min(width / bw, height / bh)
    tw, th = max(1, round(bw * scale)), max(1, round(bh * scale))
    fitted = im.resize((tw, th), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    mean = tuple(int(v) for v in np.asarray(fitted).reshape(-1, 3).mean(axis=0))
    canvas = Image.new("RGB", (width, height), mean)
    canvas.paste(fitted, ((width - tw) // 2, (height - th) // 2))
    return np.asarray(canvas, dtype=np.uint8)
