"""`belamy translate`, `belamy export --onnx` and `belamy exhibit --poses` for pix2pix runs: the plumbing,
on runs with freshly initialised weights (what a trained run makes of a sketch is in test_pix2pix_train.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pix2pix_util import head_and_shoulders, random_pix2pix_run

from belamy.corpus.skeleton import template
from belamy.errors import BelamyError
from belamy.generate.translate import load_translator, translate
from belamy.provenance.embed import read_provenance
from belamy.utils.imageio import file_sha256
from belamy.utils.video import read_comment, video_frames, write_mp4


def belamy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAMY_QUIET": "1"}
    env.pop("BELAMY_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "belamy", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=180)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return random_pix2pix_run(tmp_path_factory.mktemp("p2p") / "run", res=32)


@pytest.fixture(scope="module")
def pose_run(tmp_path_factory) -> Path:
    return random_pix2pix_run(tmp_path_factory.mktemp("p2p") / "pose", res=32, condition="pose")


def test_translate_images_and_folders_with_provenance(run: Path, tmp_path: Path, one_torch_thread):
    sketches = tmp_path / "sketches"
    sketches.mkdir()
    head_and_shoulders(300, 200).save(sketches / "tall.png")  # another size and shape than the run's
    head_and_shoulders(64).convert("LA").save(sketches / "gray-alpha.png")  # another mode
    head_and_shoulders(64).convert("RGB").save(tmp_path / "single.jpg")
    done = belamy("translate", str(run), str(sketches), str(tmp_path / "single.jpg"), "--out", str(tmp_path / "out"),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["gray-alpha.png", "single.png", "tall.png"]
    for name, source in (("tall.png", sketches / "tall.png"), ("single.png", tmp_path / "single.jpg")):
        out = Image.open(tmp_path / "out" / name)
        assert out.size == (32, 32) and out.mode == "RGB"
        prov = read_provenance(tmp_path / "out" / name)
        assert prov["run"] == str(run.resolve()) and prov["arch"] == "pix2pix"
        assert prov["checkpoint_sha256"] == file_sha256(next((run / "checkpoints").glob("*.safetensors")))
        assert prov["input_sha256"] == file_sha256(source) and prov["fit"] == "pad"


def test_conditions_are_prepared_as_in_training(run: Path):
    tr = load_translator(run, device="cpu")
    tall = np.asarray(head_and_shoulders(300, 200).convert("RGB"))
    padded = tr.prepare(Image.fromarray(tall), "pad")
    assert padded.shape == (32, 32, 3)
    assert (padded[:, :4] == 255).all()  # white paper fills the sides of a tall sketch
    cropped = tr.prepare(Image.fromarray(tall), "crop")
    assert cropped.shape == (32, 32, 3) and (cropped[:, :4] < 255).any()
    native = tr.prepare(Image.fromarray(tall), "none")
    assert native.shape == (300, 200, 3)
    assert tr.render(native[None]).shape == (1, 300, 200, 3)  # the U-Net takes any size
    transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    assert (tr.prepare(transparent, "pad") == 255).all()  # transparency is paper, not ink
    # The same drawing, the same painting: translation does not depend on the batch it is in.
    other = tr.prepare(Image.fromarray(np.zeros((32, 32, 3), np.uint8)))
    alone = tr.render(padded[None])[0]
    together = tr.render(np.stack([other, padded]))[1]
    assert np.abs(alone.astype(int) - together.astype(int)).max() <= 1


def test_a_video_of_sketches_becomes_a_video_of_paintings(run: Path, tmp_path: Path):
    frames = []
    for i in range(10):
        sketch = head_and_shoulders(64, 96)
        frame = np.asarray(sketch.convert("RGB")).copy()
        frame[:, i * 8 : i * 8 + 3] = 0  # a line sweeping across
        frames.append(frame)
    write_mp4(frames, tmp_path / "sketches.mp4", fps=10)
    done = belamy("translate", str(run), str(tmp_path / "sketches.mp4"), "--out", str(tmp_path / "out"),
                  "--side-by-side", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out" / "sketches.mp4"
    decoded, fps, _ = video_frames(out)
    decoded = list(decoded)
    assert len(decoded) == 10 and fps == pytest.approx(10)
    assert decoded[0].shape == (32, 32 * 2 + 4, 3)  # condition | painting
    assert np.abs(decoded[0].astype(int) - decoded[9].astype(int)).mean() > 1  # the paintings follow the frames
    meta = read_comment(out)
    assert meta["input_sha256"] == file_sha256(tmp_path / "sketches.mp4") and meta["arch"] == "pix2pix"


def test_keypoint_files_become_figures(pose_run: Path, tmp_path: Path):
    points = (np.array(template("pose")) * [640, 480]).tolist()
    (tmp_path / "pose.json").write_text(json.dumps({"keypoints": points, "width": 640, "height": 480}))
    report = translate(pose_run, [tmp_path / "pose.json"], tmp_path / "out", side_by_side=True, device="cpu")
    out = np.asarray(Image.open(report.written[0]))
    condition = out[:, :32]
    assert (condition.max(axis=2) > 100).mean() > 0.02  # a coloured figure on black
    from belamy.generate.translate import keypoints_condition

    with pytest.raises(BelamyError, match="holds keypoints, but this run translates edges"):
        keypoints_condition(tmp_path / "pose.json", "edges", 32, 32)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "cannot read keypoints"),
    ('{"points": []}', 'has no "keypoints"'),
    ('{"keypoints": []}', "keypoints must be"),
    ('{"keypoints": [[1, "a"]]}', "keypoints must be"),
    ('{"keypoints": [[0.5, 0.5]], "width": "wide"}', '"width" is'),
    ('{"keypoints": [[0.5, 0.5]], "height": 0}', '"height" is'),
    ('{"keypoints": [[0.5, 0.5]], "threshold": -1}', '"threshold" is'),
    ('{"keypoints": [[1e400, 0.5]]}', "beyond float range"),
    ('{"keypoints": [[NaN, 0.5]]}', "NaN, which is not a number"),
    ('{"keypoints": [[1e300, 0.5]]}', "a value beyond"),
    ('{"keypoints": [[0.5, 0.5]], "width": 1e300}', '"width" is'),
    ('{"keypoints": [[' + "9" * 5000 + ', 0.5]]}', "5,000-digit integer"),
    ('{"keypoints": ' + "[" * 100_000 + "]" * 100_000 + "}", "100,001 levels deep"),
])
def test_a_bad_keypoints_file_is_one_clear_error_for_translate_and_exhibit(pose_run: Path, tmp_path: Path, content,
                                                                           message):
    from belamy.exhibit.poses import ConditionSequence

    (tmp_path / "poses").mkdir()
    (tmp_path / "poses" / "bad.json").write_text(content)
    with pytest.raises(BelamyError, match=message):
        translate(pose_run, [tmp_path / "poses" / "bad.json"], tmp_path / "out", device="cpu")
    with pytest.raises(BelamyError, match=message):
        ConditionSequence(tmp_path / "poses", load_translator(pose_run, device="cpu"))


def test_derive_makes_a_line_drawing_first(run: Path, tmp_path: Path):
    from conftest import synthetic_portraits

    Image.fromarray(synthetic_portraits(1, 64)[0]).save(tmp_path / "painting.png")
    report = translate(run, [tmp_path / "painting.png"], tmp_path / "out", derive=True, side_by_side=True, device="cpu")
    condition = np.asarray(Image.open(report.written[0]))[:, :32]
    assert (condition == 255).mean() > 0.5 and (condition == 0).any()  # black lines on white
    assert read_provenance(report.written[0])["derived"] is True


@pytest.mark.parametrize("which, kwargs, message", [
    ("noise", {}, "is a dcgan run, not an image-to-image"),
    ("missing", {}, "input not found"),
    ("sketch", {"fit": "stretch"}, "--fit stretch is not known"),
    ("sketch", {"model": "x.onnx"}, "--model is used with --derive"),
    ("garbage", {}, "cannot read image"),
])
def test_bad_translate_input_is_a_clear_error(run: Path, tmp_path: Path, which, kwargs, message):
    from conftest import random_run

    head_and_shoulders(64).save(tmp_path / "sketch.png")
    (tmp_path / "garbage.png").write_bytes(b"not a png")
    inputs = {"noise": tmp_path / "sketch.png", "sketch": tmp_path / "sketch.png", "missing": tmp_path / "nope.png",
              "garbage": tmp_path / "garbage.png"}
    model = random_run(tmp_path / "noise", res=16, nz=8, ngf=8, ndf=8) if which == "noise" else run
    with pytest.raises(BelamyError, match=message):
        translate(model, [inputs[which]], tmp_path / "out", device="cpu", **kwargs)


def test_cli_bad_translate_input_is_one_line(run: Path, tmp_path: Path):
    done = belamy("translate", str(run), str(tmp_path / "nope.png"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2 and "input not found" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_cli_hostile_keypoints_are_one_line_and_far_points_are_not_drawn(pose_run: Path, tmp_path: Path):
    (tmp_path / "deep.json").write_text('{"keypoints": ' + "[" * 100_000 + "]" * 100_000 + "}")
    done = belamy("translate", str(pose_run), str(tmp_path / "deep.json"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "levels deep" in lines[0], done.stderr
    assert not list((tmp_path / "out").glob("*"))
    # a tiny source frame scales every point far off the canvas: an empty figure, not an overflow
    points = (np.array(template("pose")) * 1e5).tolist()
    (tmp_path / "far.json").write_text(json.dumps({"keypoints": points, "width": 1e-3, "height": 1e-3}))
    report = translate(pose_run, [tmp_path / "far.json"], tmp_path / "out", side_by_side=True, device="cpu")
    assert np.asarray(Image.open(report.written[0]))[:, :32].max() == 0


def test_onnx_export_paints_what_pytorch_paints(run: Path, tmp_path: Path):
    from belamy.export.onnx import read_export_meta
    from belamy.export.pix2pix import OnnxTranslateEngine, make_translate_engine

    done = belamy("export", str(run), "--onnx", str(tmp_path / "p2p.onnx"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = read_export_meta(tmp_path / "p2p.onnx")
    assert (meta["arch"], meta["height"], meta["width"], meta["condition"]) == ("pix2pix", 32, 32, "edges")
    tr = load_translator(run, device="cpu")
    conditions = np.stack([tr.prepare(head_and_shoulders(64)), tr.prepare(head_and_shoulders(80, 40))])
    engine = OnnxTranslateEngine(tmp_path / "p2p.onnx", threads=1)
    assert np.abs(engine.render(conditions).astype(int) - tr.render(conditions).astype(int)).max() <= 2
    assert make_translate_engine(tr, "onnx", onnx_model=tmp_path / "p2p.onnx").name == "onnx"
    from belamy.export.onnx import export_onnx

    with pytest.raises(BelamyError, match="for runs that draw from noise"):
        export_onnx(run, tmp_path / "x.onnx", truncation=0.7)


def test_exhibit_plays_keyframes_smoothly_and_loops(pose_run: Path, tmp_path: Path):
    from belamy.exhibit.server import ExhibitConfig, build_producer

    poses = tmp_path / "poses"
    poses.mkdir()
    base = np.array(template("pose"))
    for i, lift in enumerate((0.0, 0.25)):
        pts = base.copy()
        pts[3:5, 1] -= lift  # raise the right arm
        (poses / f"{i:02d}.json").write_text(json.dumps({"keypoints": pts.tolist()}))
    config = ExhibitConfig(run=pose_run, poses=poses, fps=4, seconds_per_face=1.0, engine="torch", device="cpu",
                           screens=2)
    producer = build_producer(config)
    gen = producer.generator
    frames = [gen.next_pixels() for _ in range(9)]  # 4 frames per pose, 2 poses: frame 8 is frame 0 again
    first = [np.asarray(f) for f in frames[0]]
    assert np.array_equal(np.asarray(frames[8][0]), first[0])
    steps = [np.abs(np.asarray(frames[k][0]).astype(int) - np.asarray(frames[k + 1][0]).astype(int)).mean()
             for k in range(8)]
    assert all(s > 0 for s in steps)  # the figure moves every frame: in-betweens, not a slideshow
    assert not np.array_equal(first[0], first[1])  # the second screen starts elsewhere in the sequence
    jpeg = gen.next_frames()[0]
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"


def test_exhibit_loops_a_video_and_refuses_a_noise_run_without_poses(run: Path, tmp_path: Path):
    from conftest import random_run

    from belamy.exhibit.server import ExhibitConfig, build_producer

    frames = [np.full((40, 40, 3), 255 - 20 * i, np.uint8) for i in range(3)]
    write_mp4(frames, tmp_path / "seq.mp4", fps=3)
    gen = build_producer(ExhibitConfig(run=run, poses=tmp_path / "seq.mp4", engine="torch", device="cpu")).generator
    shown = [np.asarray(gen.next_pixels()[0]) for _ in range(4)]
    assert np.array_equal(shown[0], shown[3]) and not np.array_equal(shown[0], shown[1])
    with pytest.raises(BelamyError, match="not from noise"):
        build_producer(ExhibitConfig(run=run))
    noise = random_run(tmp_path / "noise", res=16, nz=8, ngf=8, ndf=8)
    with pytest.raises(BelamyError, match="not an image-to-image"):
        build_producer(ExhibitConfig(run=noise, poses=tmp_path / "seq.mp4"))
    (tmp_path / "seq.txt").write_text("not a video")
    with pytest.raises(BelamyError, match="neither a folder nor a video"):
        build_producer(ExhibitConfig(run=run, poses=tmp_path / "seq.txt"))
