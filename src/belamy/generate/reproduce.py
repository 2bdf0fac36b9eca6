"""`belamy reproduce`: draw an image again from the checkpoint and seed it records, and compare bit for bit.

The checkpoint is found by its SHA-256 (in the run the record names, or under ``--run``: a run, a
checkpoint file, or a folder of runs), rendered with belamy.generate exactly as `belamy generate` does,
and compared pixel for pixel. When it differs, the answer says what: another checkpoint, a missing
run, an edit (how many pixels, where), or a latent the seed no longer gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from belamy.errors import BelamyError
from belamy.generate.loader import load_generator
from belamy.generate.sample import generate_images, label_index
from belamy.provenance.embed import save_png
from belamy.provenance.record import Record, latent_sha256, read_record
from belamy.trainer.checkpoint import list_checkpoints
from belamy.utils.imageio import file_sha256, open_rgb

IDENTICAL, EDITED, OTHER_CHECKPOINT, MISSING_RUN, NO_RECORD, NOT_SINGLE, DERIVED = (
    "identical", "edited", "other-checkpoint", "missing-run", "no-record", "not-a-single-image", "derived")


@dataclass
class Reproduction:
    image: Path
    status: str
    message: str
    checkpoint: Path | None = None
    rendered: Path | None = None  # the re-rendered picture, written beside the image when it differs
    diff: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == IDENTICAL


def candidate_checkpoints(rec: Record, run: Path | None) -> tuple[list[Path], list[Path]]:
    """(checkpoint JSONs to look through, run folders looked in): ``run`` if given, else the recorded run."""
    places: list[Path] = []
    if run is not None:
        run = Path(run)
        if not run.exists():
            raise BelamyError(f"no run or checkpoint at {run}", "give a run folder made by `belamy train`")
        if run.is_file():
            return [run.with_suffix(".json")], [run.parent]
        places = [run] + sorted(p.parent for p in run.glob("*/run.json"))
        if (run / "checkpoints").is_dir() or list_checkpoints(run):
            places = [run]
    elif rec.run:
        places = [Path(rec.run)]
    found = []
    for place in places:
        ckpt_dir = place / "checkpoints" if (place / "checkpoints").is_dir() else place
        found += list_checkpoints(ckpt_dir)
        best = ckpt_dir / "best.json"
        if best.is_file() and best.with_suffix(".safetensors").is_file():
            found.append(best)
    return found, [p for p in places if p.is_dir()]


def reproduce_image(image: str | Path, run: str | Path | None = None, device: str = "cpu",
                    write: bool = True) -> Reproduction:
    """Render ``image`` again from its record and compare; ``write``: put the re-render beside it when they differ."""
    image = Path(image)
    picture = np.asarray(open_rgb(image))
    rec = read_record(image)
    if not rec.is_generated or not rec.checkpoint_sha256:
        return Reproduction(image, NO_RECORD, f"{image.name} carries no belamy generation record (run, checkpoint "
                            "hash, seed): nothing to reproduce it from")
    if rec.seed is None:
        what = "a grid" if rec.generation.get("seeds") else "not a single generated image"
        return Reproduction(image, NOT_SINGLE, f"{image.name} is {what}: reproduce re-renders single images "
                            "written by `belamy generate`")
    want = rec.checkpoint_sha256
    candidates, places = candidate_checkpoints(rec, Path(run) if run else None)
    if not places:
        where = Path(run) if run else rec.run
        return Reproduction(image, MISSING_RUN, f"the run {where} that drew {image.name} is not on this machine "
                            f"(checkpoint {rec.checkpoint}, sha256 {want[:12]})", diff={"run": str(where)})
    match = next((c for c in candidates if file_sha256(c.with_suffix(".safetensors")) == want), None)
    if match is None:
        held = ", ".join(f"{c.stem} ({file_sha256(c.with_suffix('.safetensors'))[:12]})" for c in candidates[-5:])
        return Reproduction(image, OTHER_CHECKPOINT,
                            f"{image.name} was drawn by checkpoint {rec.checkpoint} (sha256 {want[:12]}), which is not in "
                            f"{', '.join(str(p) for p in places)}: it holds {held or 'no checkpoints'}",
                            diff={"wanted_sha256": want})
    gen = load_generator(match, device=device)
    notes = []
    recorded_latent = rec.generation.get("latent_sha256")
    if recorded_latent and recorded_latent != latent_sha256(gen.latents([rec.seed])[0]):
        notes.append(f"seed {rec.seed} no longer gives the recorded latent here (another torch random generator?)")
    label = label_index(gen, rec.label) if gen.num_classes and rec.label is not None else None
    (_, again), = generate_images(gen, [rec.seed], batch=1, truncation=rec.truncation, label=label)
    if rec.steps:
        stages = " -> ".join(rec.stages())
        rendered = _write(image, again, gen, rec, label) if write else None
        return Reproduction(image, DERIVED, f"{image.name} went through {stages} after generation: the generated "
                            f"original (seed {rec.seed}) was rendered again" + (f" to {rendered}" if rendered else "")
                            + ", but only a generated image can be compared bit for bit", match, rendered)
    if again.shape == picture.shape and np.array_equal(again, picture):
        return Reproduction(image, IDENTICAL, f"{image.name} is identical, bit for bit, to seed {rec.seed} of "
                            f"{match.stem} (sha256 {want[:12]}) rendered again", match)
    diff = describe_difference(picture, again)
    rendered = _write(image, again, gen, rec, label) if write else None
    cause = "the image was edited after generation" if not notes else notes[0]
    return Reproduction(image, EDITED, f"{image.name} differs from seed {rec.seed} of {match.stem} rendered again: "
                        f"{diff['text']}; {cause}" + (f" (the re-render is {rendered})" if rendered else ""),
                        match, rendered, diff)


def describe_difference(picture: np.ndarray, again: np.ndarray) -> dict:
    if picture.shape != again.shape:
        h, w = picture.shape[:2]
        return {"text": f"it is {w}×{h} pixels, the render {again.shape[1]}×{again.shape[0]}", "size": [w, h]}
    delta = np.abs(picture.astype(np.int16) - again.astype(np.int16)).max(axis=2)
    ys, xs = np.nonzero(delta)
    box = [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]
    text = (f"{len(xs)} of {delta.size} pixels changed (by up to {int(delta.max())} levels), "
            f"within x {box[0]}-{box[2]}, y {box[1]}-{box[3]}")
    return {"text": text, "pixels": int(len(xs)), "of": int(delta.size), "max": int(delta.max()), "box": box}


def _write(image: Path, picture: np.ndarray, gen, rec: Record, label: int | None) -> Path | None:
    target = image.with_name(f"{image.stem}.reproduced.png")
    try:
        save_png(picture, target, gen.provenance(seed=rec.seed, label=rec.label, truncation=rec.truncation))
    except (BelamyError, OSError):
        return None  # the comparison is the answer; a read-only folder must not turn it into an error
    return target
