"""`belamy exhibit RUN --poses FOLDER_OR_VIDEO`: a pix2pix run paints a sequence of sketches or poses, forever.

The sequence is a video (played frame by frame, from the start again at its end), or a folder of
sketches, figure images or keypoint ``.json`` files in name order. Keypoint files are keyframes:
the figure moves smoothly from one to the next over ``frames_per_pose`` frames (eased), and from
the last back to the first, so the loop has no seam. Images are held for ``frames_per_pose`` frames
(rendered once). Each screen starts at its own place in the sequence. Everything is read as it is
needed, so a long video does not fill the memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from belamy.corpus.skeleton import read_keypoints_file
from belamy.errors import BelamyError
from belamy.exhibit.frames import FORMATS, ScreenSpec, encode_frame, resize_frame
from belamy.utils.imageio import open_rgb
from belamy.utils.video import is_video, video_frames, video_info

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


def _ease(t: float) -> float:
    return 0.5 - 0.5 * np.cos(np.pi * t)


def _read_points(path: Path) -> tuple[np.ndarray, float, float]:
    keypoints = read_keypoints_file(path)
    return keypoints.points, keypoints.width, keypoints.height


class ConditionSequence:
    """An endless stream of conditions (uint8 [H, W, 3] at the run's shape) from a folder or a video."""

    def __init__(self, source: str | Path, translator, frames_per_pose: int = 48, start: int = 0):
        self.source, self.tr, self.frames_per_pose = Path(source).expanduser(), translator, max(1, frames_per_pose)
        self.height, self.width = translator.shape
        if not self.source.exists():
            raise BelamyError(f"--poses {self.source} does not exist", "give a folder of sketches or poses, or a video")
        self.files: list[Path] = []
        self.keypoints = False
        if self.source.is_dir():
            files = sorted(p for p in self.source.iterdir() if p.is_file() and not p.name.startswith("."))
            jsons = [p for p in files if p.suffix.lower() == ".json"]
            images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
            if jsons and translator.condition in ("pose", "landmarks"):
                self.files, self.keypoints = jsons, True
                self._poses = [_read_points(p) for p in jsons]
            elif images:
                self.files = images
            else:
                raise BelamyError(f"no sketches, figure images or keypoint files in {self.source}",
                                  "put PNG/JPEG images (or keypoint .json files for a pose run) there")
        elif not is_video(self.source):
            raise BelamyError(f"--poses {self.source} is neither a folder nor a video",
                              "give a folder of sketches or poses, or an MP4/MOV/WebM video")
        self._frames = self._generate(start)

    def __next__(self) -> np.ndarray:
        return next(self._frames)

    def __iter__(self):
        return self

    def _generate(self, start: int) -> Iterator[np.ndarray]:
        if not self.files:
            yield from self._video(start)
        elif self.keypoints:
            yield from self._keyframes(start)
        else:
            yield from self._images(start)

    def _video(self, start: int) -> Iterator[np.ndarray]:
        skip = start
        while True:
            frames, _, _ = video_frames(self.source)
            shown = 0
            for frame in frames:
                if skip:
                    skip -= 1
                    continue
                shown += 1
                yield self.tr.prepare(frame, "pad")
            if shown == 0 and skip == 0:
                raise BelamyError(f"the video {self.source} has no frames", "give another video")
            skip = 0

    def _images(self, start: int) -> Iterator[np.ndarray]:
        i = start // self.frames_per_pose
        while True:
            condition = self.tr.prepare(open_rgb(self.files[i % len(self.files)]), "pad")
            for _ in range(self.frames_per_pose):
                yield condition  # the same object: the frame generator renders it once
            i += 1

    def _keyframes(self, start: int) -> Iterator[np.ndarray]:
        from belamy.corpus.skeleton import draw_skeleton

        n = len(self._poses)
        placed = [self._place(*pose) for pose in self._poses]
        if len({len(p) for p in placed}) != 1:
            raise BelamyError(f"the keypoint files in {self.source} have different numbers of points",
                              "use one skeleton (e.g. 17 COCO or 18 OpenPose points) in every file")
        step = start
        while True:
            i, k = divmod(step, self.frames_per_pose)
            a, b = placed[i % n], placed[(i + 1) % n]
            t = _ease(k / self.frames_per_pose)
            points = a * (1 - t) + b * t
            points[:, 2] = np.minimum(a[:, 2], b[:, 2])  # a joint missing at either end stays hidden
            yield draw_skeleton(self.tr.condition, points, self.height, self.width)
            step += 1

    def _place(self, points: np.ndarray, src_w: float, src_h: float) -> np.ndarray:
        scale = min(self.width / src_w, self.height / src_h)
        out = points.copy()
        out[:, 0] = points[:, 0] * scale + (self.width - src_w * scale) / 2
        out[:, 1] = points[:, 1] * scale + (self.height - src_h * scale) / 2
        return out


class PoseFrameGenerator:
    """``next_frames()`` → one encoded painting per screen, each a step further along its sequence."""

    def __init__(self, engine, sequences: list[ConditionSequence], res: int | None = None, fmt: str = "jpeg",
                 quality: int = 85):
        if fmt not in FORMATS:
            raise BelamyError(f"format {fmt!r} is not supported", f"use one of {', '.join(FORMATS)}")
        if not 1 <= quality <= 100:
            raise BelamyError(f"--quality {quality} is out of range", "use 1 to 100")
        self.engine, self.sequences = engine, sequences
        self.res = res or max(engine.height, engine.width)
        if not 8 <= self.res <= 4096:
            raise BelamyError(f"--res {self.res} is out of range", "use 8 to 4096 pixels")
        self.fmt, self.quality = fmt, quality
        self.screens = [ScreenSpec(number=i + 1, seed=0) for i in range(len(sequences))]
        self.frames = 0
        self._last: list[tuple[object, np.ndarray] | None] = [None] * len(sequences)

    @property
    def mime(self) -> str:
        return FORMATS[self.fmt][1]

    @property
    def model_res(self) -> int:
        """The longer side of the paintings the run makes (translate engines know a height and a width)."""
        return max(self.engine.height, self.engine.width)

    def next_pixels(self):
        conditions = [next(seq) for seq in self.sequences]
        paintings = []
        todo = [i for i, c in enumerate(conditions) if self._last[i] is None or self._last[i][0] is not c]
        if todo:
            rendered = self.engine.render(np.stack([conditions[i] for i in todo]))
            for i, picture in zip(todo, rendered, strict=True):
                self._last[i] = (conditions[i], picture)
        paintings = [self._last[i][1] for i in range(len(conditions))]
        self.frames += 1
        return [resize_frame(p, self.res) for p in paintings]

    def next_frames(self) -> list[bytes]:
        return [encode_frame(img, self.fmt, self.quality) for img in self.next_pixels()]


def build_pose_generator(config) -> PoseFrameGenerator:
    """The frame generator of ``belamy exhibit RUN --poses ...`` (``config`` is an ExhibitConfig)."""
    from belamy.export.pix2pix import make_translate_engine
    from belamy.generate.translate import load_translator

    translator = load_translator(Path(config.run), config.checkpoint, config.device)
    if config.labels:
        raise BelamyError("--labels is for class-conditional runs", "a pix2pix run follows its --poses: drop --labels")
    frames_per_pose = max(1, round(config.seconds_per_face * config.fps))
    probe = ConditionSequence(config.poses, translator, frames_per_pose)
    length = _sequence_length(probe, frames_per_pose)
    sequences = [probe] + [ConditionSequence(config.poses, translator, frames_per_pose, start=length * i // config.screens)
                           for i in range(1, config.screens)]
    engine = make_translate_engine(translator, config.engine, onnx_model=config.onnx_model)
    return PoseFrameGenerator(engine, sequences, res=config.res, fmt=config.format, quality=config.quality)


def _sequence_length(seq: ConditionSequence, frames_per_pose: int) -> int:
    if seq.files:
        return len(seq.files) * frames_per_pose
    return max(1, video_info(seq.source)[1])
