"""`belamy attribute`: could this model have made this picture? (Tom White's test, measured.)

Each picture is projected into the run's generator (belamy.attribute.project). The residual alone
means little; it is calibrated against reference residuals of the same projection: the model's own
samples (half of them through JPEG at quality 75, as a shared picture would be) on one side, real
paintings from the run's corpus (and samples of other runs, with ``reference_runs``) on the other.
A Gaussian fitted to each side's log residuals gives the score: the probability that the picture is
the model's own, with equal priors. The calibration is cached in RUN/attribution/.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from belamy.attribute.project import Projector, load_discriminator
from belamy.errors import BelamyError
from belamy.generate.loader import LoadedGenerator, load_generator
from belamy.provenance.embed import save_png
from belamy.utils import untrusted
from belamy.utils.atomic import write_json
from belamy.utils.grid import to_uint8
from belamy.utils.imageio import open_rgb
from belamy.utils.progress import console

CALIBRATION_VERSION = 1
REFERENCE_SEED = 2_000_000  # far from the seeds people generate with
BATCH = 16


@dataclass
class Calibration:
    own: list[float]  # residuals of the model's own samples
    other: list[float]  # residuals of real paintings and other models' samples
    settings: dict = field(default_factory=dict)

    def _fit(self, values: list[float]) -> tuple[float, float]:
        logs = np.log(np.asarray(values, dtype=np.float64) + 1e-12)
        return float(logs.mean()), max(float(logs.std()), 0.05)

    def score(self, residual: float) -> float:
        """P(own | residual) from two Gaussians on log residuals, equal priors; in (0, 1)."""
        x = math.log(residual + 1e-12)
        (m1, s1), (m0, s0) = self._fit(self.own), self._fit(self.other)
        log_own = -0.5 * ((x - m1) / s1) ** 2 - math.log(s1)
        log_other = -0.5 * ((x - m0) / s0) ** 2 - math.log(s0)
        # Beyond the own samples' side of the threshold, the smaller residual always counts for the model.
        if x < m1:
            log_own = max(log_own, log_other)
        return float(1.0 / (1.0 + math.exp(max(-60.0, min(60.0, log_other - log_own)))))


@dataclass
class Attribution:
    image: Path
    residual: float
    rmse: float  # pixel RMSE of the closest reconstruction, in 0-255 levels
    score: float  # probability that the run's generator made it
    reconstruction: Path | None

    @property
    def verdict(self) -> str:
        if self.score >= 0.9:
            return "this model could have made it"
        if self.score <= 0.1:
            return "not this model's"
        return "undecided"


def prepare(image: Image.Image, shape: tuple[int, int]) -> torch.Tensor:
    """A picture as the generator would draw it: centre-cropped to its proportions, resized, [3, H, W] in [-1, 1]."""
    h, w = shape
    im = image.convert("RGB")
    aspect = w / h
    if abs(im.width / im.height - aspect) > 1e-3:
        if im.width / im.height > aspect:
            new_w = max(1, round(im.height * aspect))
            left = (im.width - new_w) // 2
            im = im.crop((left, 0, left + new_w, im.height))
        else:
            new_h = max(1, round(im.width / aspect))
            top = (im.height - new_h) // 2
            im = im.crop((0, top, im.width, top + new_h))
    if im.size != (w, h):
        im = im.resize((w, h), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(im, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1.0


def jpeg(picture: np.ndarray, quality: int = 75) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return im.convert("RGB")


def samples(gen: LoadedGenerator, seeds: list[int]) -> np.ndarray:
    """uint8 [N, H, W, 3] pictures of a generator, as `belamy generate` draws them."""
    from belamy.generate.sample import generate_images

    return np.stack([p for _, p in generate_images(gen, seeds, batch=BATCH)])


def project_all(projector: Projector, pictures: list[torch.Tensor], what: str = "project"):
    """Project a list of [3, H, W] targets in batches; returns (residuals, rmse, reconstructions)."""
    from belamy.utils.progress import make_progress

    residual, rmse, recon = [], [], []
    with make_progress("img") as progress:
        task = progress.add_task(what, total=len(pictures))
        for start in range(0, len(pictures), BATCH):
            result = projector.project(torch.stack(pictures[start : start + BATCH]))
            residual += result.residual.tolist()
            rmse += result.rmse.tolist()
            recon.append(result.reconstructions)
            progress.advance(task, len(result.residual))
    return residual, rmse, (torch.cat(recon) if recon else torch.empty(0))


def reference_pictures(gen: LoadedGenerator, n: int, reference_runs: list[Path], seed: int) -> tuple[list, list]:
    """(own, other) reference targets: the model's samples (half JPEG q75), corpus paintings and other runs' samples."""
    from belamy.corpus.store import open_corpus

    shape = _shape(gen)
    seeds = list(range(REFERENCE_SEED + seed * 10_000, REFERENCE_SEED + seed * 10_000 + n))
    own_pics = samples(gen, seeds)
    own = [prepare(jpeg(p) if i % 2 else Image.fromarray(p), shape) for i, p in enumerate(own_pics)]
    other: list[torch.Tensor] = []
    corpus = gen.record().corpus.get("path")
    if corpus and Path(corpus).is_dir():
        images = open_corpus(corpus).images
        pick = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
        other += [prepare(Image.fromarray(np.asarray(images[i])), shape) for i in sorted(pick)]
    for run in reference_runs:
        other_gen = load_generator(Path(run), device=str(gen.device))
        other += [prepare(Image.fromarray(p), shape) for p in samples(other_gen, seeds[: max(2, n // 2)])]
    if not other:
        raise BelamyError(f"nothing to calibrate against: the corpus {corpus or '(none recorded)'} is not here",
                          "keep the run's corpus where it was trained, or give --reference-run OTHER_RUN")
    return own, other


def _shape(gen: LoadedGenerator) -> tuple[int, int]:
    with torch.no_grad():
        labels = torch.zeros(1, dtype=torch.long, device=gen.device) if gen.num_classes else None
        return tuple(gen.synthesize(gen.latents([0]), labels=labels).shape[-2:])


def calibrate(gen: LoadedGenerator, projector: Projector, references: int = 16,
              reference_runs: list[Path] = (), seed: int = 0, cache: bool = True) -> Calibration:
    settings = {"version": CALIBRATION_VERSION, "checkpoint_sha256": gen.checkpoint_sha256, "references": references,
                "restarts": projector.restarts, "steps": projector.steps, "crop": projector.crop, "seed": seed,
                "reference_runs": sorted(str(Path(r).resolve()) for r in reference_runs)}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = gen.run_dir / "attribution" / f"calibration-{key}.json"
    if cache and path.is_file():
        try:
            data = untrusted.read_json(path, str(path), finite=False)
            return Calibration(own=data["own"], other=data["other"], settings=data["settings"])
        except (OSError, ValueError, KeyError):
            pass
    console.print(f"calibrating against {references} of the model's own samples and {references} others "
                  f"(cached in {path.parent})")
    own, other = reference_pictures(gen, references, list(reference_runs), seed)
    own_res, _, _ = project_all(projector, own, "calibrate: own")
    other_res, _, _ = project_all(projector, other, "calibrate: others")
    result = Calibration(own=own_res, other=other_res, settings=settings)
    if cache:
        try:
            write_json(path, asdict(result))
        except OSError:
            pass  # a read-only run folder: calibrate again next time
    return result


def attribute_images(images: list[str | Path], run: str | Path, checkpoint: str = "latest", restarts: int = 4,
                     steps: int = 200, references: int = 16, reference_runs: list[str | Path] = (),
                     out: Path | None = None, device: str = "cpu", crop: bool = True,
                     write: bool = True) -> tuple[list[Attribution], Calibration]:
    """Project each image into ``run``'s generator, score it against the calibration, write its reconstruction."""
    images = [Path(p) for p in images]
    if not images:
        raise BelamyError("no images given", "e.g. belamy attribute picture.jpg --run RUN")
    pictures = [open_rgb(p) for p in images]  # one clear error for a missing or broken file, before any work
    if not 2 <= references <= 512:
        raise BelamyError(f"--references {references} is not valid", "use 2 to 512")
    gen = load_generator(Path(run), checkpoint, device)
    projector = Projector(gen, load_discriminator(gen), restarts=restarts, steps=steps, crop=crop)
    calibration = calibrate(gen, projector, references, [Path(r) for r in reference_runs])
    shape = _shape(gen)
    residuals, rmse, recon = project_all(projector, [prepare(p, shape) for p in pictures], "attribute")
    results = []
    for i, image in enumerate(images):
        target = None
        if write:
            folder = Path(out) if out is not None else image.parent
            target = folder / f"{image.stem}.reconstruction.png"
            record = gen.record(projection={"of": image.name, "residual": round(residuals[i], 6),
                                            "rmse": round(rmse[i], 3)})
            save_png(to_uint8(recon[i : i + 1])[0], target, record.to_dict())
        results.append(Attribution(image, residuals[i], rmse[i], calibration.score(residuals[i]), target))
    return results, calibration
