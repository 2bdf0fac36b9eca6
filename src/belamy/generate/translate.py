"""`belamy translate`: sketches, face markers or poses in, paintings out, through a pix2pix run.

Inputs are prepared the way the pairs were: any size and mode is fitted to the run's picture
shape (``pad``: scaled inside, the rest filled with the condition's background, white for line
drawings and black for figures; ``crop``: scaled to cover, the middle kept; ``none``: kept at its
own size, which the U-Net pads to its multiple and crops back). ``derive`` first turns a photo or
painting into the run's kind of condition (a line drawing; keypoints through ``--model``), exactly
as ``belamy corpus pairs`` did. A ``.json`` file of keypoints becomes a figure.

Every output carries its provenance: the run, the checkpoint and its hash, the input and its hash
(PNG: an iTXt chunk; MP4: the ``comment`` tag).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from belamy.corpus.pairs import BACKGROUNDS, fit_image
from belamy.errors import BelamyError
from belamy.models.pix2pix import Pix2PixConfig, UNetGenerator
from belamy.provenance.embed import save_png
from belamy.trainer import checkpoint as ck
from belamy.utils import untrusted
from belamy.utils.grid import to_pictures
from belamy.utils.imageio import file_sha256, open_rgb
from belamy.utils.progress import make_progress
from belamy.utils.video import is_video, video_frames, write_mp4

TRANSLATE_FITS = ("pad", "crop", "none")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif")


@dataclass
class Translator:
    """A pix2pix generator loaded from a run, with what its outputs' provenance needs."""

    G: UNetGenerator
    cfg: Pix2PixConfig
    run_dir: Path
    checkpoint_path: Path
    checkpoint_sha256: str
    device: torch.device
    kimg: float
    meta: dict = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.cfg.shape

    @property
    def condition(self) -> str:
        return self.cfg.condition

    @property
    def background(self) -> tuple[int, int, int]:
        return BACKGROUNDS.get(self.cfg.condition, (255, 255, 255))

    def prepare(self, image, fit: str = "pad") -> np.ndarray:
        """Any picture (PIL image or array, any size and mode) as a condition: uint8 [H, W, 3]."""
        if fit not in TRANSLATE_FITS:
            raise BelamyError(f"--fit {fit} is not known", f"use one of {', '.join(TRANSLATE_FITS)}")
        if fit == "none":
            from PIL import Image

            from belamy.utils.imageio import to_rgb

            im = Image.fromarray(np.asarray(image, dtype=np.uint8)) if isinstance(image, np.ndarray) else image
            return np.asarray(to_rgb(im, background=self.background), dtype=np.uint8).copy()
        height, width = self.shape
        return fit_image(image, height, width, fit, self.background)

    @torch.inference_mode()
    def render(self, conditions: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] conditions → uint8 [N, H, W, 3] paintings (the PyTorch engine)."""
        x = torch.from_numpy(np.ascontiguousarray(conditions)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0).contiguous(memory_format=torch.channels_last)
        return to_pictures(self.G(x))

    def provenance(self, **extra) -> dict:
        record = {
            "generator": "belamy", "arch": "pix2pix", "condition": self.cfg.condition, "res": self.cfg.res,
            "aspect": self.cfg.aspect, "run": str(self.run_dir),
            "checkpoint": self.checkpoint_path.with_suffix(".safetensors").name,
            "checkpoint_sha256": self.checkpoint_sha256, "kimg": self.kimg,
        }
        corpus = self._run_corpus()
        if corpus:
            record["corpus"] = corpus
        record.update(extra)
        return record

    def _run_corpus(self):
        try:
            return untrusted.read_json(self.run_dir / "run.json", "run.json", finite=False).get("corpus")
        except (OSError, ValueError):
            return None


def checkpoint_arch(run_or_ckpt: Path, checkpoint: str = "latest") -> str | None:
    """The architecture a run's checkpoint was trained as, read from its JSON alone (no tensors)."""
    json_path = ck.resolve_checkpoint(Path(run_or_ckpt), checkpoint)
    try:
        return untrusted.read_json(json_path, f"checkpoint metadata {json_path}", finite=False).get("arch")
    except (OSError, ValueError):
        return None


def load_translator(run_or_ckpt: str | os.PathLike, checkpoint: str = "latest", device: str = "auto") -> Translator:
    """The generator of a pix2pix run (its latest checkpoint, or the one named), in eval mode."""
    from belamy.trainer.modules import load_module

    loaded = load_module(Path(run_or_ckpt), "generator", checkpoint, device)
    if not getattr(loaded.module, "condition_channels", 0):
        raise BelamyError(f"{run_or_ckpt} is a {loaded.arch.name} run, not an image-to-image (pix2pix) one",
                          "translate with a run trained by `belamy train PAIRS --arch pix2pix`; "
                          "a run that draws from noise works with `belamy generate`")
    meta = loaded.meta
    G = loaded.module.to(memory_format=torch.channels_last)
    return Translator(G=G, cfg=loaded.cfg, run_dir=loaded.run_dir.resolve(),
                      checkpoint_path=loaded.checkpoint_path.resolve(), checkpoint_sha256=loaded.weights_sha256(),
                      device=loaded.device, kimg=meta.get("kimg", meta.get("nimg", 0) / 1000), meta=meta)


# --------------------------------------------------------------------------- inputs


def keypoints_condition(path: Path, kind: str, height: int, width: int) -> np.ndarray:
    """A figure drawn from a keypoints JSON file: ``{"keypoints": [[x, y(, c)], ...], "width": W, "height": H}``
    (pixels of a W×H picture, scaled to the run's shape), or coordinates in [0, 1] without width/height."""
    from belamy.corpus.skeleton import draw_skeleton, read_keypoints_file

    if kind not in ("pose", "landmarks"):
        raise BelamyError(f"{path.name} holds keypoints, but this run translates {kind}",
                          "give keypoint files to a run trained on pose or landmarks pairs")
    keypoints = read_keypoints_file(path)
    points, src_w, src_h = keypoints.points.copy(), keypoints.width, keypoints.height
    # Fit the source frame inside the run's shape (as pad does for pictures).
    scale = min(width / src_w, height / src_h)
    points[:, 0] = points[:, 0] * scale + (width - src_w * scale) / 2
    points[:, 1] = points[:, 1] * scale + (height - src_h * scale) / 2
    return draw_skeleton(kind, points, height, width, threshold=keypoints.threshold)


def expand_inputs(inputs: list[str | os.PathLike]) -> list[Path]:
    """Files from the given files and folders (a folder's images, videos and keypoint files, sorted)."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            children = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                              and (p.suffix.lower() in (*IMAGE_SUFFIXES, ".json") or is_video(p)))
            if not children:
                raise BelamyError(f"no images, videos or keypoint files in {path}", "point at a folder of sketches")
            found.extend(children)
        elif path.is_file():
            found.append(path)
        else:
            raise BelamyError(f"input not found: {path}", "give images, folders or videos of sketches or poses")
    return found


def _unique_name(out: Path, stem: str, suffix: str, taken: set[str]) -> Path:
    name, n = f"{stem}{suffix}", 2
    while name in taken:
        name, n = f"{stem}-{n}{suffix}", n + 1
    taken.add(name)
    return out / name


@dataclass
class TranslateReport:
    written: list[Path] = field(default_factory=list)
    frames: int = 0


def translate(run: str | os.PathLike, inputs: list[str | os.PathLike], out: str | os.PathLike, *, fit: str = "pad",
              derive: bool = False, model: str | os.PathLike | None = None, checkpoint: str = "latest",
              device: str = "auto", side_by_side: bool = False) -> TranslateReport:
    """Translate every input (image, folder, video, keypoints JSON) into ``out``; see the module docstring."""
    if fit not in TRANSLATE_FITS:
        raise BelamyError(f"--fit {fit} is not known", f"use one of {', '.join(TRANSLATE_FITS)}")
    files = expand_inputs(list(inputs))
    if not files:
        raise BelamyError("no inputs given", "give images, folders or videos of sketches or poses")
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise BelamyError(f"--out {out} is a file", "give a folder for the paintings")
    translator = load_translator(run, checkpoint, device)
    maker = None
    if derive:
        from belamy.corpus.pairs import ConditionMaker

        if translator.condition == "folders":
            raise BelamyError("--derive needs a run trained on edges, landmarks or pose pairs",
                              "this run learned from paired folders: give its own kind of condition")
        maker = ConditionMaker(translator.condition, model)
    elif model is not None:
        raise BelamyError("--model is used with --derive", "add --derive to find keypoints in the inputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BelamyError(f"cannot write to {out}: {exc.strerror or exc}", "choose another --out") from None
    report = TranslateReport()
    taken: set[str] = set()
    with make_progress("img") as progress:
        task = progress.add_task("translating", total=len(files))
        for path in files:
            if is_video(path):
                target = _unique_name(out, path.stem, ".mp4", taken)
                report.frames += _translate_video(translator, path, target, fit, maker, side_by_side)
            else:
                target = _unique_name(out, path.stem, ".png", taken)
                _translate_image(translator, path, target, fit, maker, side_by_side)
                report.frames += 1
            report.written.append(target)
            progress.advance(task)
    return report


def _condition_of(translator: Translator, picture, fit: str, maker) -> np.ndarray:
    if maker is None:
        return translator.prepare(picture, fit)
    painting_like = translator.prepare(picture, fit) if fit != "none" else np.asarray(picture)
    condition, record = maker.make(np.ascontiguousarray(painting_like))
    if condition is None:  # no figure found: an empty condition (a blank page) rather than a crash mid-video
        condition = np.empty_like(painting_like)
        condition[:] = translator.background
    return condition


def _compose(condition: np.ndarray, painting: np.ndarray, side_by_side: bool) -> np.ndarray:
    if not side_by_side:
        return painting
    gap = np.full((painting.shape[0], 4, 3), 16, np.uint8)
    return np.concatenate([condition, gap, painting], axis=1)


def _translate_image(translator: Translator, path: Path, target: Path, fit: str, maker, side_by_side: bool) -> None:
    if path.suffix.lower() == ".json":
        if maker is not None:
            raise BelamyError(f"{path.name} is already keypoints", "leave out --derive for keypoint files")
        condition = keypoints_condition(path, translator.condition, *translator.shape)
    else:
        condition = _condition_of(translator, open_rgb(path), fit, maker)
    painting = translator.render(condition[None])[0]
    save_png(_compose(condition, painting, side_by_side), target,
             translator.provenance(input=str(path.resolve()), input_sha256=file_sha256(path), fit=fit,
                                   derived=maker is not None))


def _translate_video(translator: Translator, path: Path, target: Path, fit: str, maker, side_by_side: bool) -> int:
    from belamy.utils.atomic import atomic_path

    frames, fps, _ = video_frames(path)
    provenance = translator.provenance(input=str(path.resolve()), input_sha256=file_sha256(path), fit=fit,
                                       derived=maker is not None, fps=fps)

    def paintings() -> Iterator[np.ndarray]:
        for frame in frames:
            condition = _condition_of(translator, frame, fit, maker)
            yield _compose(condition, translator.render(condition[None])[0], side_by_side)

    try:
        with atomic_path(target) as tmp:
            return write_mp4(paintings(), tmp, fps, metadata=provenance)
    except OSError as exc:
        raise BelamyError(f"cannot write {target}: {exc.strerror or exc}", "choose another --out") from None

