"""Reading and writing videos through imageio-ffmpeg (it bundles its own ffmpeg binary)."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from belamy.errors import BelamyError
from belamy.utils import untrusted

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm")


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise BelamyError("videos need imageio-ffmpeg", "pip install 'belamy[video]'") from None
    return imageio_ffmpeg


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _open_video(path: str | Path):
    """An ffmpeg frame reader on ``path`` and the metadata it reads first; one clear line when it cannot."""
    imageio_ffmpeg = _ffmpeg()
    path = Path(path)
    if not path.is_file():
        raise BelamyError(f"video not found: {path}", "check the path")
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        return reader, next(reader)
    except (OSError, RuntimeError, StopIteration) as exc:
        reader.close()
        raise BelamyError(f"cannot read the video {path}: {str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else exc}",
                          "is it a video ffmpeg can decode (MP4, MOV, WebM...)?") from None


def video_frames(path: str | Path) -> tuple[Iterator[np.ndarray], float, int]:
    """(frames as uint8 [H, W, 3], frames per second, frame count estimate) of a video file."""
    reader, meta = _open_video(path)
    width, height = meta["size"]
    fps = float(meta.get("fps") or 25.0)
    count = int(round(float(meta.get("duration") or 0) * fps))

    def frames() -> Iterator[np.ndarray]:
        try:
            for data in reader:
                yield np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
        finally:
            reader.close()

    return frames(), fps, count


def video_info(path: str | Path) -> tuple[float, int, tuple[int, int]]:
    """(frames per second, frame count estimate, (width, height)) of a video, without decoding it."""
    reader, meta = _open_video(path)
    reader.close()
    fps = float(meta.get("fps") or 25.0)
    return fps, int(round(float(meta.get("duration") or 0) * fps)), tuple(meta["size"])


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float, metadata: dict | None = None,
              quality: int = 8) -> int:
    """H.264 MP4 of uint8 [H, W, 3] frames (odd sides padded by a pixel); ``metadata`` goes, as JSON,
    into the file's ``comment`` tag. Returns the number of frames written. Not atomic: write to a
    temporary path and rename."""
    imageio_ffmpeg = _ffmpeg()
    frames = iter(frames)
    try:
        first = next(frames)
    except StopIteration:
        raise BelamyError(f"no frames to write to {path}", "is the input video empty?") from None
    height, width = first.shape[:2]
    params = ["-movflags", "+faststart"]
    if metadata:
        params += ["-metadata", "comment=" + json.dumps(metadata, sort_keys=True)]
    writer = imageio_ffmpeg.write_frames(str(path), (width + width % 2, height + height % 2), fps=fps, codec="libx264",
                                         pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=quality,
                                         macro_block_size=1, ffmpeg_log_level="error", output_params=params)
    writer.send(None)
    count = 0
    try:
        for frame in itertools.chain([first], frames):
            if height % 2 or width % 2:
                frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
            writer.send(np.ascontiguousarray(frame))
            count += 1
    finally:
        writer.close()
    return count


def read_comment(path: str | Path) -> dict | None:
    """The JSON a video carries in its ``comment`` tag (as :func:`write_mp4` writes it), or None."""
    imageio_ffmpeg = _ffmpeg()
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                            capture_output=True, text=True, timeout=60, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("comment="):
            text = line[len("comment="):].replace("\\=", "=").replace("\\;", ";").replace("\\#", "#").replace("\\\\", "\\")
            try:
                return untrusted.loads_json(text, f"the record in {Path(path).name}")
            except ValueError:
                return None
    return None
