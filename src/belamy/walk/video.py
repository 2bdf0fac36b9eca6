"""`belamy walk`: a video of the generator walking between keyframe seeds.

``slerp`` mode joins the seeds' latents by eased spherical interpolation; ``--loop`` adds the first
seed again at the end so the video can repeat without a seam. ``noise`` mode travels a circle
through latent space, z(t) = a·cos 2πt + b·sin 2πt (a, b from two seeds), closed by construction.
Looping videos sample t in [0, 1) so the last frame is one step before the first, never a copy of it.
"""

from __future__ import annotations

import errno
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from belamy.errors import BelamyError
from belamy.exhibit.frames import resize_frame
from belamy.generate.latent_paths import circle_point, slerp, smoothstep
from belamy.models.latents import check_seed
from belamy.provenance.c2pa import seal
from belamy.utils.atomic import atomic_path
from belamy.utils.progress import make_progress

MODES = ("slerp", "noise")
VIDEO_SUFFIXES = (".mp4", ".gif")
MAX_FRAMES = 100_000


def parse_seeds(text: str) -> list[int]:
    """``1,7,42`` → [1, 7, 42], with a clear error for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        raise BelamyError(f"--seeds {text!r} is not a list of whole numbers", "write them like 1,7,42") from None
    return [check_seed(s, "--seeds: seed") for s in seeds]


def check_walk(seeds: list[int], seconds: float, fps: float, loop: bool, mode: str, out: Path) -> int:
    """Validate the options; returns the number of frames."""
    if mode not in MODES:
        raise BelamyError(f"--mode {mode} is not known", f"use one of {', '.join(MODES)}")
    if mode == "slerp" and len(seeds) < 2:
        raise BelamyError(f"--seeds needs at least 2 seeds to walk between (got {len(seeds)})", "e.g. --seeds 1,7,42")
    if mode == "noise" and not 1 <= len(seeds) <= 2:
        raise BelamyError(f"--mode noise takes 1 or 2 seeds (got {len(seeds)})", "e.g. --seeds 3,8")
    if not 1 <= fps <= 120:
        raise BelamyError(f"--fps {fps:g} is out of range", "use 1 to 120 frames per second")
    if not 0 < seconds <= 3600:
        raise BelamyError(f"--seconds {seconds:g} is out of range", "use more than 0 and at most 3600")
    frames = round(seconds * fps)
    if frames < 2:
        raise BelamyError(f"{seconds:g} s at {fps:g} fps is fewer than 2 frames", "ask for a longer video")
    if frames > MAX_FRAMES:
        raise BelamyError(f"{frames} frames is too many", f"keep seconds × fps at or below {MAX_FRAMES}")
    out = Path(out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise BelamyError(f"{out.name} is not .mp4 or .gif", "name the output walk.mp4 or walk.gif")
    if out.is_dir():
        raise BelamyError(f"{out} is a folder", "give a file name ending in .mp4 or .gif")
    check_writable(out)
    return frames


def check_writable(out: Path) -> None:
    """Fail before minutes of rendering, not after, when the output cannot be written."""
    import tempfile

    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise BelamyError(f"cannot write {out}: {err.strerror or err}", "choose a folder you can write to") from None


def walk_latents(keyframes: np.ndarray, frames: int, loop: bool, mode: str) -> Iterator[np.ndarray]:
    """The z of each frame (float32), from keyframe latents [K, z_dim]."""
    if mode == "noise":
        a = keyframes[0]
        b = keyframes[1] if len(keyframes) > 1 else np.roll(keyframes[0], 1)
        radius = float(np.sqrt(keyframes.shape[1]))  # where Gaussian latents live
        span = frames if loop else frames - 1
        for i in range(frames):
            yield circle_point(a, b, i / span, radius).astype(np.float32)
        return
    points = list(keyframes) + ([keyframes[0]] if loop else [])
    segments = len(points) - 1
    span = frames if loop else frames - 1
    for i in range(frames):
        pos = i / span * segments
        k = min(int(pos), segments - 1)
        t = float(smoothstep(pos - k))
        yield slerp(points[k], points[k + 1], t).astype(np.float32)


def walk_frames(gen, seeds: list[int], frames: int, loop: bool = False, mode: str = "slerp", label: int | None = None,
                truncation: float = 1.0, res: int | None = None, batch: int = 8) -> Iterator[np.ndarray]:
    """uint8 [H, W, 3] frames of the walk, in order, rendered ``batch`` at a time."""
    from belamy.exhibit.engine import TorchEngine

    engine = TorchEngine(gen, truncation)
    keyframes = gen.latents(seeds).cpu().numpy().astype(np.float64)
    labels_row = None
    if gen.num_classes:
        labels_row = np.eye(gen.num_classes, dtype=np.float32)[label or 0]
    pending: list[np.ndarray] = []

    def flush():
        z = np.stack(pending)
        labels = None if labels_row is None else np.repeat(labels_row[None], len(z), axis=0)
        for frame in engine.render(z, labels):
            yield frame if res is None or res == max(frame.shape[:2]) else np.asarray(resize_frame(frame, res))
        pending.clear()

    for z in walk_latents(keyframes, frames, loop, mode):
        pending.append(z)
        if len(pending) == batch:
            yield from flush()
    if pending:
        yield from flush()


def resolve_label(gen, label: str | None) -> int | None:
    from belamy.export.onnx import label_names

    if label is None:
        return 0 if gen.num_classes else None
    if not gen.num_classes:
        raise BelamyError("--label needs a class-conditional model, and this run is unconditional", "leave out --label")
    names = label_names(gen)
    if label in names:
        return names.index(label)
    if label.isdigit() and int(label) < len(names):
        return int(label)
    raise BelamyError(f"unknown label {label!r}", f"this run's labels are: {', '.join(names)}")


def write_walk(run: Path, out: Path, seeds: list[int] | str, seconds: float = 10.0, fps: float = 30.0,
               loop: bool = False, mode: str = "slerp", label: str | None = None, truncation: float = 1.0,
               res: int | None = None, checkpoint: str = "latest", device: str = "auto", quality: int = 8) -> Path:
    """Render the walk and write it to ``out`` (.mp4 through ffmpeg, or .gif), atomically."""
    from belamy.export.onnx import label_names
    from belamy.generate.loader import load_generator

    if isinstance(seeds, str):
        seeds = parse_seeds(seeds)
    out = Path(out)
    frames = check_walk(seeds, seconds, fps, loop, mode, out)
    if res is not None and not 8 <= res <= 4096:
        raise BelamyError(f"--res {res} is out of range", "use 8 to 4096 pixels")
    if not 0.0 <= truncation <= 2.0:
        raise BelamyError(f"--truncation {truncation} is out of range", "use ψ between 0 and 2 (1 = none)")
    gen = load_generator(Path(run), checkpoint, device)
    label_index = resolve_label(gen, label)
    label_name = label_names(gen)[label_index] if label_index is not None and gen.num_classes else None
    provenance = gen.record(label=label_name, truncation=truncation, seeds=",".join(str(s) for s in seeds),
                            walk={"mode": mode, "seconds": seconds, "fps": fps, "frames": frames, "loop": loop,
                                  "res": res}).to_dict()
    comment = json.dumps(provenance, sort_keys=True)
    pictures = walk_frames(gen, seeds, frames, loop, mode, label_index, truncation, res)
    try:
        with atomic_path(out) as tmp, make_progress("frame") as progress:
            task = progress.add_task("walk", total=frames)
            counted = _counting(pictures, progress, task)
            if out.suffix.lower() == ".gif":
                _write_gif(counted, tmp, fps, comment)
            else:
                _write_mp4(counted, tmp, fps, quality, comment)
            seal(tmp, out, provenance)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EROFS, errno.ENOSPC, errno.ENOENT, errno.EPERM):
            raise BelamyError(f"cannot write {out}: {err.strerror}", "choose a folder you can write to") from None
        raise
    return out


def _counting(frames: Iterator[np.ndarray], progress, task) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame
        progress.advance(task)


def _write_mp4(frames: Iterator[np.ndarray], path: Path, fps: float, quality: int, comment: str = "") -> None:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise BelamyError("MP4 videos need imageio-ffmpeg", "pip install 'belamy[video]', or write a .gif") from None
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    # H.264 in yuv420p plays everywhere, but needs even sides: pad odd sizes by one pixel.
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    writer = imageio_ffmpeg.write_frames(str(path), (width + width % 2, height + height % 2), fps=fps, codec="libx264",
                                         pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=quality,
                                         macro_block_size=1, ffmpeg_log_level="error",
                                         output_params=["-movflags", "+faststart", "-metadata", f"comment={comment}"])
    writer.send(None)  # start ffmpeg
    try:
        for frame in itertools.chain([first], frames):
            if height % 2 or width % 2:
                frame = np.pad(frame, pad, mode="edge")
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def _write_gif(frames: Iterator[np.ndarray], path: Path, fps: float, comment: str = "") -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration = max(20, 10 * round(100 / fps))  # GIF delays are whole centiseconds; browsers slow < 20 ms
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                   optimize=False, disposal=1, comment=comment.encode("utf-8"))
