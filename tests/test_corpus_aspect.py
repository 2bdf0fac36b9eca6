"""Portrait-shaped corpora (`corpus build --aspect 4:5|3:4`) and what trains, generates and
evaluates from them: painted portraits are rarely square."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_portraits
from PIL import Image

from belamy.corpus.build import build_corpus
from belamy.corpus.faces import frame_face
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.gan import train
from belamy.gan.options import TrainOptions
from belamy.utils.aspect import aspect_of, shape_for, size_of


def write_paintings(folder: Path, count: int, width: int, height: int) -> Path:
    """Tall 'paintings': a synthetic portrait in the middle, a red band along the top and a blue one
    along the bottom (each under a tenth of the height, outside any centred 4:5 or 3:4 crop)."""
    folder.mkdir(parents=True, exist_ok=True)
    faces = synthetic_portraits(count, width, seed=5)
    for i, face in enumerate(faces):
        canvas = np.full((height, width, 3), 90, dtype=np.uint8)
        top = (height - width) // 2
        canvas[top : top + width] = face
        band = height // 10
        canvas[:band] = (200, 30, 30)
        canvas[height - band :] = (30, 30, 200)
        Image.fromarray(canvas).save(folder / f"painting-{i:02d}.png")
    return folder


def test_shapes_follow_the_aspect():
    assert shape_for(128, "1:1") == (128, 128)
    assert shape_for(128, "4:5") == (160, 128)  # 128 wide, 160 tall
    assert shape_for(128, "3:4") == (128, 96)  # 96 wide, 128 tall
    assert aspect_of(160, 128) == "4:5" and aspect_of(128, 96) == "3:4" and aspect_of(100, 90) is None
    assert size_of(160, 128) == 128 and size_of(128, 96) == 128
    with pytest.raises(BelamyError, match="16:9"):
        shape_for(128, "16:9")
    with pytest.raises(BelamyError, match="multiple of 4"):
        shape_for(130, "4:5")


@pytest.mark.parametrize(("aspect", "shape"), [("4:5", (40, 32)), ("3:4", (32, 24))])
def test_corpus_build_keeps_the_portrait_shape(tmp_path: Path, aspect: str, shape: tuple[int, int]):
    src = write_paintings(tmp_path / "src", 6, 80, 160)
    report = build_corpus([src], tmp_path / "corpus", size=32, min_size=16, aspect=aspect, workers=1,
                          dedupe_distance=-1)
    assert report.accepted == 6
    corpus = open_corpus(tmp_path / "corpus")
    assert corpus.images.shape == (6, *shape, 3)
    assert (corpus.height, corpus.width, corpus.aspect, corpus.size) == (*shape, aspect, 32)
    info = json.loads((tmp_path / "corpus" / "corpus.json").read_text())
    assert (info["aspect"], info["height"], info["width"]) == (aspect, *shape)
    # The centred crop of a 80×160 painting keeps its full width and cuts top and bottom evenly:
    # 4:5 → 80×100 from y=30; 3:4 → 80×106.7 from y≈26.7. The red and blue bands stay out.
    crop = corpus.manifest[0]["crop_box"]
    assert crop[0] == 0 and crop[2] == 80
    assert abs((crop[3] - crop[1]) - 80 * shape[0] / shape[1]) <= 1
    assert abs(crop[1] - (160 - crop[3])) <= 1
    picture = corpus.images[0].astype(int)
    assert picture[0, :, 0].mean() < 150 and picture[-1, :, 2].mean() < 150  # no red top, no blue bottom
    sheet = Image.open(tmp_path / "corpus" / "contact_sheet.png")
    assert sheet.width > 0


def test_crop_none_pads_the_whole_picture_into_the_portrait_frame(tmp_path: Path):
    src = write_paintings(tmp_path / "src", 2, 80, 80 * 3)  # 1:3, taller than 4:5
    build_corpus([src], tmp_path / "corpus", size=32, min_size=16, aspect="4:5", crop="none", workers=1)
    corpus = open_corpus(tmp_path / "corpus")
    assert corpus.images.shape[1:] == (40, 32, 3)
    picture = corpus.images[0].astype(int)
    # The whole painting is there (red top, blue bottom), narrower than the frame and padded.
    assert picture[0, 16, 0] > 150 and picture[-1, 16, 2] > 150
    assert np.abs(picture[:, 0] - picture[:, 1]).max() < 3  # a padded column of one colour


def test_face_framing_takes_the_portrait_shape():
    face = (40.0, 40.0, 60.0, 60.0)  # a 20-pixel face
    left, top, right, bottom = frame_face(face, (0.0, 0.0, 200.0, 300.0), scale=2.2, shift=0.25, ratio=0.8)
    assert right - left == pytest.approx(44.0)
    assert (right - left) / (bottom - top) == pytest.approx(0.8)
    assert left <= 40 and right >= 60 and top <= 40 and bottom >= 60  # the face is inside
    # In a small picture the crop shrinks but keeps its shape and stays inside.
    left, top, right, bottom = frame_face(face, (30.0, 30.0, 80.0, 80.0), scale=3.0, shift=0.25, ratio=0.75)
    assert (right - left) / (bottom - top) == pytest.approx(0.75)
    assert left >= 30 and top >= 30 and right <= 80 and bottom <= 80


def test_corpus_build_refuses_unknown_aspects_in_one_line(tmp_path: Path):
    src = write_paintings(tmp_path / "src", 1, 80, 160)
    for args in (["--aspect", "16:9"], ["--aspect", "4:5", "--size", "30"]):
        done = subprocess.run([sys.executable, "-m", "belamy", "corpus", "build", str(src), "--out",
                               str(tmp_path / "corpus"), *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and args[1] in done.stderr
    assert not (tmp_path / "corpus").exists()


def style_options(corpus: Path, out: Path, **overrides) -> TrainOptions:
    settings = dict(corpus=corpus, out=out, arch="style", res=16, ngf=4, ndf=4, nz=16, w_dim=16, map_layers=1,
                    channel_max=32, batch=8, kimg=0.032, tick_kimg=0.016, snapshot_ticks=1, grid_size=4,
                    r1_interval=2, seed=3, device="cpu")
    settings.update(overrides)
    return TrainOptions.of(**settings)


@pytest.fixture(scope="module")
def portrait_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("portrait")
    src = write_paintings(root / "src", 16, 64, 128)
    build_corpus([src], root / "corpus", size=16, min_size=16, aspect="4:5", workers=1, dedupe_distance=-1)
    return root / "corpus"


def test_style_trains_on_a_portrait_corpus_in_its_shape(portrait_corpus: Path, tmp_path: Path):
    from belamy.generate.loader import load_generator
    from belamy.metrics.evaluate import evaluate_run

    run = train(style_options(portrait_corpus, tmp_path / "run")).run_dir  # no --aspect: the corpus's
    stored = json.loads((run / "run.json").read_text())
    assert stored["options"]["aspect"] == "4:5" and stored["model"]["aspect"] == "4:5"
    gen = load_generator(run, device="cpu")
    assert tuple(gen.synthesize(gen.latents([0, 1])).shape) == (2, 3, 20, 16)
    record = evaluate_run(run, portrait_corpus, n=16, device="cpu", write=False)
    assert record["swd"] > 0 and record["n_real"] == 16


@pytest.mark.parametrize(("aspect", "shape"), [("4:5", (80, 64)), ("3:4", (64, 48)), ("1:1", (64, 64))])
def test_dcgan_draws_and_judges_portrait_shapes(aspect: str, shape: tuple[int, int]):
    import torch

    from belamy.models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator, dcgan_config

    cfg = dcgan_config(64, nz=8, ngf=4, ndf=4, aspect=aspect)
    images = DCGANGenerator(cfg)(torch.randn(2, 8))
    assert tuple(images.shape) == (2, 3, *shape)
    assert tuple(DCGANDiscriminator(cfg)(images).shape) == (2,)
    assert DCGANConfig.from_dict(cfg.to_dict()) == cfg
    assert ("aspect" in cfg.to_dict()) == (aspect != "1:1")  # square configs are written as they always were


def test_dcgan_trains_a_portrait_corpus_in_its_shape_or_in_square_crops(portrait_corpus: Path, tmp_path: Path):
    from belamy.generate.loader import load_generator

    def run(folder: str, **extra) -> Path:
        return train(TrainOptions.of(corpus=portrait_corpus, out=tmp_path / folder, arch="dcgan", res=16, kimg=0.016,
                                  batch=8, ngf=4, ndf=4, nz=8, tick_kimg=0.016, snapshot_ticks=1, grid_size=4,
                                  device="cpu", **extra)).run_dir

    portrait = load_generator(run("portrait"), device="cpu")
    assert tuple(portrait.synthesize(portrait.latents([0])).shape) == (1, 3, 20, 16)
    square = load_generator(run("square", aspect="1:1"), device="cpu")
    assert tuple(square.synthesize(square.latents([0])).shape) == (1, 3, 16, 16)


def test_generate_walk_and_exhibit_keep_the_portrait_shape(portrait_corpus: Path, tmp_path: Path):
    import imageio_ffmpeg

    from belamy.exhibit.frames import resize_frame

    run = train(style_options(portrait_corpus, tmp_path / "run", kimg=0.016)).run_dir
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "belamy", "generate", str(run), "--n", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pictures = sorted(out.glob("seed-*.png"))
    assert len(pictures) == 2 and Image.open(pictures[0]).size == (16, 20)
    video = tmp_path / "walk.mp4"
    done = subprocess.run([sys.executable, "-m", "belamy", "walk", str(run), "--seeds", "0,1", "--seconds", "0.5",
                           "--fps", "8", "--res", "40", "--out", str(video)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    assert tuple(meta["size"]) == (32, 40)  # width × height: a portrait, not a stretched square
    reader.close()
    # The installation's frames keep the shape too: the longer side is the screen's --res.
    assert resize_frame(np.zeros((20, 16, 3), np.uint8), 100).size == (80, 100)


def test_a_corpus_too_small_for_the_portrait_shape_says_what_it_can_give():
    from belamy.trainer.data import fit_shape

    with pytest.raises(BelamyError, match=r"at most 51×64 in that shape"):
        fit_shape(np.zeros((2, 64, 64, 3), np.uint8), 80, 64)
