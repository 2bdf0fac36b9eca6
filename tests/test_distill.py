"""`belamy distill`: a light DCGAN student that draws what its teacher draws, in an ordinary run folder."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_run
from PIL import Image
from typer.testing import CliRunner

from belamy.cli import app
from belamy.distill import DistillOptions, distill
from belamy.distill.student import make_student
from belamy.exhibit.engine import OnnxEngine, TorchEngine, make_engine
from belamy.generate.loader import load_generator
from belamy.models.dcgan import DCGANConfig, DCGANGenerator
from belamy.models.registry import get_architecture
from belamy.provenance import Record
from belamy.provenance.embed import read_provenance
from belamy.trainer import checkpoint as ck
from belamy.utils.imageio import file_sha256

STYLE = dict(res=32, nz=32, w_dim=32, map_layers=2, ngf=8, ndf=8)
TEST_SEEDS = list(range(5000, 5016))  # neither the training latents nor the loop's own held-out seeds


def with_discriminator(run: Path) -> Path:
    """Add a (random) discriminator to the run's checkpoint, as `belamy train` saves one."""
    path = ck.latest_checkpoint(run / "checkpoints")
    tensors, meta = ck.load_checkpoint(path)
    arch = get_architecture(meta["arch"])
    torch.manual_seed(1)
    D = arch.make_discriminator(arch.config_from_dict(meta["model"]))
    tensors.update(ck.module_tensors("D", D))
    path.unlink()
    ck.save_checkpoint(run / "checkpoints", meta["nimg"], tensors,
                       {k: v for k, v in meta.items() if k not in ("format", "version", "nimg")})
    return run


def options(teacher: Path, out: Path, **overrides) -> DistillOptions:
    settings = dict(teacher=teacher, out=out, kimg=6.0, batch=16, tick_kimg=2.0, device="cpu")
    settings.update(overrides)
    return DistillOptions(**settings)


def teacher_images(run: Path, seeds: list[int], truncation: float = 1.0, label: int | None = None) -> torch.Tensor:
    gen = load_generator(run, device="cpu")
    labels = torch.full((len(seeds),), label) if label is not None else None
    return gen.synthesize(gen.latents(seeds), labels, truncation=truncation)


def student_images(run: Path, seeds: list[int], label: int | None = None) -> torch.Tensor:
    gen = load_generator(run, device="cpu")
    labels = torch.full((len(seeds),), label) if label is not None else None
    return gen.synthesize(gen.latents(seeds), labels)


def l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().mean())


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    torch.set_num_threads(1)  # a tiny model on a shared machine: more threads spin, not work
    return with_discriminator(random_run(tmp_path_factory.mktemp("distill") / "teacher", "style", **STYLE))


@pytest.fixture(scope="module")
def student(teacher: Path, tmp_path_factory) -> Path:
    """The teacher at ψ 0.7 distilled for 6 kimg (a few seconds)."""
    result = distill(options(teacher, tmp_path_factory.mktemp("distill") / "student", truncation=0.7))
    assert not result.interrupted
    return result.run_dir


# --------------------------------------------------------------------------- learning


def test_student_learns_to_draw_the_teachers_pictures(teacher: Path, student: Path):
    target = teacher_images(teacher, TEST_SEEDS, truncation=0.7)
    learned = l1(student_images(student, TEST_SEEDS), target)
    # The same student before learning: same config, same initial weights.
    torch.manual_seed(0)
    untrained = make_student(load_generator(student, device="cpu").G.cfg).eval()
    before = l1(untrained(load_generator(student, device="cpu").latents(TEST_SEEDS)), target)
    assert learned < 0.7 * before
    # Better than the best single picture for all seeds: it follows z, not just the average look.
    gen = load_generator(teacher, device="cpu")
    many = gen.synthesize(gen.latents(list(range(20_000, 20_400))), truncation=0.7)
    assert learned < 0.85 * l1(many.median(dim=0).values.expand_as(target), target)
    # ψ is baked in: the student is nearer the truncated teacher than the untruncated one.
    assert learned < l1(student_images(student, TEST_SEEDS), teacher_images(teacher, TEST_SEEDS, truncation=1.0))
    metrics = [json.loads(line) for line in (student / "metrics.jsonl").read_text().splitlines()]
    assert [m["kimg"] for m in metrics][-1] == pytest.approx(6.0, abs=0.02)
    assert metrics[-1]["heldout_l1"] < metrics[0]["heldout_l1"] and "feature" in metrics[-1]


# --------------------------------------------------------------------------- an ordinary run


def test_student_run_names_its_teacher_and_keeps_comparisons(teacher: Path, student: Path):
    run = json.loads((student / "run.json").read_text())
    teacher_ckpt = ck.latest_checkpoint(teacher / "checkpoints").with_suffix(".safetensors")
    assert run["arch"] == "dcgan" and run["model"]["res"] == 32 and run["model"]["nz"] == 32 and run["model"]["ngf"] == 16
    origin = run["distilled_from"]
    assert origin["run"] == str(teacher) and origin["checkpoint"] == teacher_ckpt.name
    assert origin["sha256"] == file_sha256(teacher_ckpt) and origin["truncation"] == 0.7
    grids = sorted((student / "samples").glob("grid-*.png"))
    assert grids[0].name == "grid-000000000.png" and grids[-1].name == "grid-000006000.png"
    with Image.open(grids[-1]) as im:  # teacher row over student row, 8 seeds, 2-pixel gutters
        assert im.size == (8 * 32 + 9 * 2, 2 * 32 + 3 * 2)
        top = np.asarray(im.convert("RGB"))[2:34, 2:34]
    from belamy.utils.grid import to_uint8

    # (batched there, one by one here: float rounding may move a pixel by one level)
    assert np.abs(top.astype(int) - to_uint8(teacher_images(teacher, [0], truncation=0.7))[0]).max() <= 1
    assert read_provenance(grids[-1])["distilled_from"]["sha256"] == origin["sha256"]


def test_student_renders_through_the_exhibit_engines_and_generate(student: Path, tmp_path: Path):
    gen = load_generator(student, device="cpu")
    assert gen.arch == "dcgan" and gen.res == 32 and gen.num_classes == 0
    assert gen.provenance(seed=3)["model"]["parents"]["distilled_from"]["truncation"] == 0.7
    z = np.random.default_rng(0).standard_normal((2, 32)).astype(np.float32)
    torch_frames = TorchEngine(gen, threads=1).render(z)
    onnx_engine = make_engine(load_generator(student, device="cpu"), "onnx")
    assert isinstance(onnx_engine, OnnxEngine)
    onnx_frames = onnx_engine.render(z)
    assert torch_frames.shape == onnx_frames.shape == (2, 32, 32, 3) and torch_frames.dtype == np.uint8
    assert np.abs(torch_frames.astype(int) - onnx_frames).max() <= 2
    assert torch_frames.std() > 5  # pictures, not a flat field

    result = CliRunner().invoke(app, ["generate", str(student), "--out", str(tmp_path / "png"), "--n", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    prov = Record.from_dict(read_provenance(tmp_path / "png" / "seed-000001.png"))
    assert prov.model["arch"] == "dcgan" and prov.model["parents"]["distilled_from"]["run"] == json.loads((student / "run.json").read_text())["distilled_from"]["run"]


# --------------------------------------------------------------------------- conditional teachers


def test_conditional_teacher_gives_a_student_that_follows_the_label(tmp_path: Path):
    teacher = random_run(tmp_path / "teacher", "style", **STYLE, label_names=["portrait", "landscape"])
    run = distill(options(teacher, tmp_path / "student", kimg=8.0)).run_dir
    gen = load_generator(run, device="cpu")
    assert gen.num_classes == 2 and json.loads((run / "run.json").read_text())["label_names"] == ["portrait", "landscape"]
    targets = [teacher_images(teacher, TEST_SEEDS, label=c) for c in (0, 1)]
    assert l1(targets[0], targets[1]) > 0.1  # the teacher's classes differ, so following the label is visible
    for c in (0, 1):
        drawn = student_images(run, TEST_SEEDS, label=c)
        assert l1(drawn, targets[c]) < 0.8 * l1(drawn, targets[1 - c])
    # The exhibit hands labels as one-hot (or blended) vectors; `generate --label` by name.
    frames = TorchEngine(gen, threads=1).render(np.zeros((2, 32), np.float32), np.eye(2, dtype=np.float32))
    assert np.abs(frames[0].astype(int) - frames[1]).mean() > 2
    result = CliRunner().invoke(app, ["generate", str(run), "--out", str(tmp_path / "png"), "--n", "1", "--label",
                                      "landscape", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert Record.from_dict(read_provenance(tmp_path / "png" / "seed-000000.png")).label == "landscape"


def test_a_dcgan_teacher_distils_to_a_lower_resolution(tmp_path: Path):
    teacher = with_discriminator(random_run(tmp_path / "teacher", "dcgan", res=32, nz=16, ngf=8, ndf=8))
    run = distill(options(teacher, tmp_path / "student", res=16, kimg=1.0, tick_kimg=0.5)).run_dir
    gen = load_generator(run, device="cpu")
    assert gen.res == 16 and gen.z_dim == 16
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["heldout_l1"] < metrics[0]["heldout_l1"]
    with Image.open(sorted((run / "samples").glob("grid-*.png"))[-1]) as im:
        top = np.asarray(im.convert("RGB"), dtype=np.float32)[2:18, 2:18]
    # The teacher's row is its 32² picture averaged down to 16².
    full = teacher_images(teacher, [0])
    expected = torch.nn.functional.avg_pool2d(full, 2)
    from belamy.utils.grid import to_uint8

    assert np.abs(top - to_uint8(expected)[0]).max() <= 1


# --------------------------------------------------------------------------- resume


class StopAfter:
    """Asks the loop to stop (as Ctrl-C does) once it has checked ``steps`` times."""

    def __init__(self, steps: int):
        self.left = steps

    @property
    def requested(self) -> bool:
        self.left -= 1
        return self.left < 0

    @contextmanager
    def installed(self):
        yield self


def test_resume_goes_on_exactly_as_if_never_stopped(teacher: Path, tmp_path: Path):
    settings = dict(kimg=0.8, tick_kimg=0.25, truncation=0.8)
    whole = distill(options(teacher, tmp_path / "whole", **settings))
    part = distill(options(teacher, tmp_path / "split", **settings), stop=StopAfter(21))
    assert part.interrupted and part.nimg == 22 * 16
    done = distill(options(teacher, tmp_path / "split", **settings, resume=True))
    assert not done.interrupted and done.nimg == whole.nimg
    a, _ = ck.load_checkpoint(whole.last_checkpoint)
    b, _ = ck.load_checkpoint(done.last_checkpoint)
    for key in ("G", "G_ema"):
        names = [k for k in a if k.startswith(key + ".")]
        assert names and all(torch.equal(a[k], b[k]) for k in names), key
    assert done.heldout_l1 == whole.heldout_l1


def test_an_existing_student_needs_resume_and_a_moved_teacher_is_checked(teacher: Path, student: Path, tmp_path: Path):
    from belamy.errors import BelamyError

    with pytest.raises(BelamyError, match="already holds a run"):
        distill(options(teacher, student))
    other = random_run(tmp_path / "other", "style", **{**STYLE, "ngf": 4})
    with pytest.raises(BelamyError, match="not the one this student learned from"):
        distill(options(other, student, resume=True, kimg=7.0))


# --------------------------------------------------------------------------- bad input


def test_a_portrait_shaped_teacher_gives_a_portrait_student(tmp_path: Path):
    teacher = with_discriminator(random_run(tmp_path / "teacher", "style", **{**STYLE, "res": 32}, aspect="4:5"))
    run = distill(options(teacher, tmp_path / "student", kimg=0.032, tick_kimg=0.032, res=16)).run_dir
    gen = load_generator(run, device="cpu")
    assert gen.G.cfg.aspect == "4:5"
    assert tuple(gen.synthesize(gen.latents([0, 1])).shape) == (2, 3, 20, 16)  # 16 wide, 20 tall


def test_old_dcgan_configs_load_and_unconditional_ones_are_written_as_before():
    old = {"res": 32, "nz": 16, "ngf": 8, "ndf": 8, "channels": 3}
    cfg = DCGANConfig.from_dict(old)
    assert cfg.num_classes == 0 and cfg.to_dict() == old
    assert DCGANGenerator(cfg).embed is None
    cond = DCGANConfig(res=32, nz=16, ngf=8, ndf=8, num_classes=2, label_names=("a", "b"))
    assert DCGANConfig.from_dict(json.loads(json.dumps(cond.to_dict()))) == cond


@pytest.mark.parametrize(
    "args,message",
    [
        (["{missing}", "--out", "{out}"], "no run or checkpoint"),
        (["{teacher}", "--out", "{out}", "--res", "64"], "larger than the teacher's 32"),
        (["{teacher}", "--out", "{out}", "--res", "24"], "not a power of two"),
        (["{teacher}", "--out", "{student}"], "already holds a run"),
        (["{teacher}", "--out", "{out}", "--ngf", "0"], "--ngf 0"),
        (["{teacher}", "--out", "{out}", "--kimg", "-1"], "--kimg -1"),
        (["{teacher}", "--out", "{teacher}"], "into the teacher's run"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(teacher: Path, student: Path, tmp_path: Path, args, message):
    values = {"missing": tmp_path / "nope", "out": tmp_path / "out", "teacher": teacher, "student": student}
    argv = [a.format(**values) for a in args]
    result = subprocess.run([sys.executable, "-m", "belamy", "distill", *argv, "--device", "cpu"],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_train_resume_on_a_student_points_to_distill(student: Path, tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "belamy", "train", str(tmp_path), "--out", str(student), "--resume"],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "made by `belamy distill`" in lines[0] and "--resume" in lines[0]
