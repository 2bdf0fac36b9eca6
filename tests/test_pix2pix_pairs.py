"""`belamy corpus pairs`: line drawings, keypoint figures from a model file, and two folders paired by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_CORPORA, synthetic_portraits, write_corpus
from PIL import Image
from pix2pix_util import CoordsModel, HeatmapModel, MoveNetModel, YoloPoseModel, export_model

from belamy.corpus.pairs import build_pairs, build_pairs_from_folders, fit_image, open_pairs
from belamy.corpus.skeleton import OPENPOSE_COLORS, template
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError


def belamy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAMY_QUIET": "1"}
    env.pop("BELAMY_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "belamy", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", synthetic_portraits(10, 64))


def test_edge_pairs_draw_lines_where_the_painting_has_edges(corpus: Path, tmp_path: Path):
    run = belamy("corpus", "pairs", str(corpus), "--out", str(tmp_path / "pairs"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    pairs = open_pairs(tmp_path / "pairs")
    paintings = open_corpus(corpus).images
    assert pairs.conditions.shape == paintings.shape == (10, 64, 64, 3)
    assert np.array_equal(np.asarray(pairs.corpus.images), np.asarray(paintings))  # paintings kept as they were
    info = json.loads((tmp_path / "pairs" / "corpus.json").read_text())
    assert (info["kind"], info["from"], info["count"]) == ("pairs", "edges", 10)
    for cond, painting in zip(pairs.conditions, paintings, strict=True):
        assert (cond == cond[..., :1]).all()  # black and white
        ink = cond[..., 0] < 128
        assert 0.01 < ink.mean() < 0.4, "a sketch: some lines, mostly paper"
        gray = painting.astype(np.float32).mean(axis=2)
        gradient = np.hypot(*np.gradient(gray))
        # The lines follow the painting's contours: the face, the shoulders.
        assert gradient[ink].mean() > 2.5 * gradient.mean()
    manifest = [json.loads(line) for line in (tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()]
    assert [m["index"] for m in manifest] == list(range(10))
    assert manifest[3]["source"] == "synthetic/all/img-0003.png" and manifest[3]["condition"]["from"] == "edges"
    sheet = Image.open(tmp_path / "pairs" / "contact_sheet.png")
    assert sheet.width > sheet.height  # condition | painting side by side


def test_real_portraits_give_sketches(tmp_path: Path):
    from belamy.corpus.build import build_corpus

    build_corpus(SHARED_CORPORA / "portraits", tmp_path / "c", size=64, workers=1, limit=6)
    build_pairs(tmp_path / "c", tmp_path / "p", edge_method="canny")
    pairs = open_pairs(tmp_path / "p")
    ink = (pairs.conditions[..., 0] < 128).mean(axis=(1, 2))
    assert len(pairs) == 6 and (ink > 0.01).all() and (ink < 0.4).all()


def test_a_plain_corpus_is_not_pairs(corpus: Path):
    with pytest.raises(BelamyError, match="without conditions"):
        open_pairs(corpus)


def test_pairs_rebuild_keeps_the_old_on_failure(corpus: Path, tmp_path: Path):
    build_pairs(corpus, tmp_path / "pairs")
    with pytest.raises(BelamyError, match="needs a keypoint model"):
        build_pairs(corpus, tmp_path / "pairs", source="pose")
    assert len(open_pairs(tmp_path / "pairs")) == 10


def test_pose_pairs_from_a_heatmap_model(tmp_path: Path):
    # A top-down pose model: input 256×192 (h×w), COCO-17 heatmaps at a quarter of that.
    coco = np.array(template("pose"))[[0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]]
    coco = np.clip(coco, 0.05, 0.95)  # the legs of the template leave the frame: keep every joint inside
    peaks = [(int(x * 47), int(8 + y * 47)) for x, y in coco]  # the picture fills heatmap rows 8-55
    model = export_model(HeatmapModel(peaks, (64, 48)), tmp_path / "pose.onnx", (256, 192))
    images = synthetic_portraits(4, 64)
    images[2] = 0  # nothing to see: no figure
    corpus = write_corpus(tmp_path / "corpus", images)
    report = build_pairs(corpus, tmp_path / "pairs", source="pose", model=model)
    assert (report.accepted, len(report.rejects)) == (3, 1)
    assert report.rejects[0]["reason"].startswith("no figure found")
    pairs = open_pairs(tmp_path / "pairs")
    assert pairs.source == "pose" and len(pairs) == 3
    manifest = [json.loads(line) for line in (tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()]
    assert [m["corpus_index"] for m in manifest] == [0, 1, 3]
    # Letterbox 64² into 256×192: scale 3, 32 px bars above and below. Heatmap cell (x, y) is input 4x+1.5.
    for (hx, hy), (x, y, c) in zip(peaks, manifest[0]["condition"]["keypoints"], strict=True):
        assert abs(x - ((hx + 0.5) * 4 - 0.5) / 3) < 1.0 and abs(y - ((hy + 0.5) * 4 - 0.5 - 32) / 3) < 1.0
        assert c > 0.9
    cond = pairs.conditions[0]
    # OpenPose colours: the right shoulder joint (OpenPose 2, COCO 6) is drawn in its own colour.
    x, y, _ = manifest[0]["condition"]["keypoints"][6]
    patch = cond[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2].reshape(-1, 3)
    assert (np.abs(patch.astype(int) - OPENPOSE_COLORS[2]).max(axis=1) < 60).any()
    assert (cond.reshape(-1, 3).max(axis=1) == 0).mean() > 0.6  # black ground


def test_landmark_pairs_from_a_coordinate_model(tmp_path: Path):
    face = np.array(template("landmarks"), dtype=np.float32)
    model = export_model(CoordsModel(face), tmp_path / "face.onnx", (128, 128))
    corpus = write_corpus(tmp_path / "corpus", synthetic_portraits(3, 64))
    build_pairs(corpus, tmp_path / "pairs", source="landmarks", model=model)
    pairs = open_pairs(tmp_path / "pairs")
    cond = pairs.conditions[0]
    lit = cond.max(axis=2) > 60
    assert 0.02 < lit.mean() < 0.3
    # The eyes are closed green contours; the jaw a white one.
    eye = face[36:42].mean(axis=0) * 64
    region = cond[int(eye[1]) - 4 : int(eye[1]) + 5, int(eye[0]) - 6 : int(eye[0]) + 7].reshape(-1, 3).astype(int)
    assert ((region[:, 1] > 150) & (region[:, 0] < 100)).any()


COCO_FIGURE = np.clip(np.array(template("pose"))[[0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]], 0.05, 0.95)


@pytest.mark.parametrize("multipose", [False, True])
def test_pose_pairs_from_a_movenet_model(tmp_path: Path, multipose: bool):
    # MoveNet: int32 pixels [1, H, W, 3], keypoints (y, x, score) in [0, 1] of the input; MultiPose: the best person.
    model = export_model(MoveNetModel(COCO_FIGURE, multipose), tmp_path / "movenet.onnx", (32, 32),
                         example=torch.zeros(1, 32, 32, 3, dtype=torch.int32))
    images = synthetic_portraits(3, 64)
    images[1] = 0  # nothing to see: no figure
    report = build_pairs(write_corpus(tmp_path / "corpus", images), tmp_path / "pairs", source="pose", model=model)
    assert (report.accepted, len(report.rejects)) == (2, 1) and report.rejects[0]["reason"].startswith("no figure found")
    manifest = json.loads((tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()[0])
    # 64² letterboxed into 32²: no bars, scale ½; x is MoveNet's second value, y its first.
    assert np.allclose(np.array(manifest["condition"]["keypoints"])[:, :2], COCO_FIGURE * 64, atol=0.02)
    cond = open_pairs(tmp_path / "pairs").conditions[0]
    x, y, _ = manifest["condition"]["keypoints"][6]  # the right shoulder, in its OpenPose colour
    patch = cond[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2].reshape(-1, 3)
    assert (np.abs(patch.astype(int) - OPENPOSE_COLORS[2]).max(axis=1) < 60).any()


def test_pose_pairs_from_a_yolo_pose_model(tmp_path: Path):
    # YOLOv8-pose's export: [1, 56, N] detections in input pixels; the best-scoring one is the figure.
    model = export_model(YoloPoseModel(COCO_FIGURE * 64), tmp_path / "yolov8n-pose.onnx", (64, 64))
    build_pairs(write_corpus(tmp_path / "corpus", synthetic_portraits(2, 128)), tmp_path / "pairs", source="pose", model=model)
    manifest = json.loads((tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()[0])
    points = np.array(manifest["condition"]["keypoints"])
    assert np.allclose(points[:, :2], COCO_FIGURE * 128, atol=0.02) and np.allclose(points[:, 2], 0.95, atol=1e-3)


def test_pairs_help_names_the_models_that_fit(tmp_path: Path):
    run = belamy("corpus", "pairs", "--help", cwd=tmp_path)
    text = " ".join(run.stdout.replace("│", " ").split())
    assert run.returncode == 0
    for name, licence in (("MoveNet", "Apache-2.0"), ("YOLOv8/YOLO11-pose", "AGPL-3.0"), ("RTMPose", "Apache-2.0")):
        assert name in text and licence in text.split(name, 1)[1][:120], name


def test_bad_model_files_are_one_line_errors(corpus: Path, tmp_path: Path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    run = belamy("corpus", "pairs", str(corpus), "--from", "pose", "--model", str(tmp_path / "junk.onnx"),
                 "--out", str(tmp_path / "p"), cwd=tmp_path)
    assert run.returncode == 2 and "is not a model ONNX Runtime can open" in run.stdout + run.stderr

    import torch

    class Scalar(torch.nn.Module):
        def forward(self, x):
            return x.mean().reshape(1)

    export_model(Scalar(), tmp_path / "scalar.onnx", (32, 32))
    with pytest.raises(BelamyError, match="none of them keypoints"):
        build_pairs(corpus, tmp_path / "p", source="landmarks", model=tmp_path / "scalar.onnx")
    run = belamy("corpus", "pairs", str(corpus), "--from", "drawing", "--out", str(tmp_path / "p"), cwd=tmp_path)
    assert run.returncode == 2 and "--from drawing is not known" in run.stdout + run.stderr
    assert not (tmp_path / "p").exists()


def test_two_folders_paired_by_name(tmp_path: Path):
    a, b = tmp_path / "sketches", tmp_path / "paintings"
    a.mkdir()
    b.mkdir()
    for i, name in enumerate(("anna", "boris", "clara")):
        painting = Image.new("RGB", (200, 300), (200, 180, 150))
        painting.paste((180, 20, 20), (60 + 10 * i, 100, 100 + 10 * i, 140))  # a red square
        painting.save(b / f"{name}.jpg", quality=95)
        sketch = Image.new("RGBA", (100, 150), (0, 0, 0, 0))  # half size, transparent paper
        sketch.paste((0, 0, 0, 255), (30 + 5 * i, 50, 50 + 5 * i, 70))  # the same square, in ink
        sketch.save(a / f"{name}.png")
    Image.new("RGB", (50, 50)).save(a / "dora.png")  # no painting of that name
    run = belamy("corpus", "pairs", "--a", str(a), "--b", str(b), "--out", str(tmp_path / "pairs"), "--size", "64",
                 cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    pairs = open_pairs(tmp_path / "pairs")
    assert len(pairs) == 3 and pairs.conditions.shape == (3, 64, 64, 3)
    for cond, painting in zip(pairs.conditions, pairs.corpus.images, strict=True):
        ink = cond[..., 0] < 100
        red = (painting[..., 0] > 120) & (painting[..., 1] < 90)
        assert ink.sum() > 10 and (ink & red).sum() / ink.sum() > 0.8  # aligned after crop and resize
        assert cond[0, 0].tolist() == [255, 255, 255]  # transparency is white paper
    rejects = [json.loads(line) for line in (tmp_path / "pairs" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 1 and rejects[0]["reason"].startswith("unmatched")
    with pytest.raises(BelamyError, match="no file name is in both"):
        build_pairs_from_folders(a, tmp_path, tmp_path / "other")


def test_fit_image_pads_and_crops():
    wide = np.zeros((50, 100, 3), np.uint8)
    padded = fit_image(wide, 64, 64, "pad", (255, 255, 255))
    assert padded[0, 32].tolist() == [255, 255, 255] and padded[32, 32].tolist() == [0, 0, 0]
    cropped = fit_image(wide, 64, 64, "crop")
    assert (cropped == 0).all()
    gray16 = Image.fromarray(np.full((10, 20), 65535, np.uint16))
    assert fit_image(gray16, 16, 16, "crop").min() == 255
