"""`belamy walk`: interpolation videos that play smoothly and, with --loop, repeat without a seam."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_run
from PIL import Image

from belamy.errors import BelamyError
from belamy.walk.video import parse_seeds, walk_latents, write_walk


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return random_run(tmp_path_factory.mktemp("walk") / "run", res=32, nz=16, ngf=8, ndf=8)


def read_video(path: Path) -> np.ndarray:
    """All frames of a video as float [T, H, W, 3] (MP4 through ffmpeg, GIF through PIL)."""
    if path.suffix == ".gif":
        frames = []
        with Image.open(path) as im:
            for i in range(im.n_frames):
                im.seek(i)
                frames.append(np.asarray(im.convert("RGB"), dtype=np.float32))
        return np.stack(frames)
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3).astype(np.float32) for f in reader])


def seam_and_steps(frames: np.ndarray) -> tuple[float, np.ndarray]:
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    return float(np.abs(frames[-1] - frames[0]).mean()), steps


@pytest.mark.parametrize("mode,seeds", [("slerp", "1,7,42"), ("noise", "3,8")])
def test_loop_video_joins_last_frame_to_first_without_a_jump(run: Path, tmp_path: Path, mode: str, seeds: str):
    out = write_walk(run, tmp_path / "loop.mp4", seeds, seconds=3, fps=10, loop=True, mode=mode, device="cpu")
    frames = read_video(out)
    assert len(frames) == 30 and frames.shape[1:] == (32, 32, 3)
    assert frames.std() > 10, "the test model must draw images with contrast"
    seam, steps = seam_and_steps(frames)
    # The seam is no bigger a step than the walk takes anyway, and the video does move.
    assert seam <= 1.25 * steps.max() + 1.0
    assert np.abs(frames - frames[0]).mean(axis=(1, 2, 3)).max() > 2.5 * max(seam, 1.0)


def test_open_walk_ends_elsewhere_so_the_loop_check_can_fail(run: Path, tmp_path: Path):
    frames = read_video(write_walk(run, tmp_path / "open.mp4", "1,7,42", seconds=3, fps=10, device="cpu"))
    seam, steps = seam_and_steps(frames)
    assert seam > 2 * steps.max()


def test_walk_passes_through_each_keyframe_in_order():
    keys = np.random.default_rng(0).standard_normal((3, 16))
    zs = np.stack(list(walk_latents(keys, 21, loop=False, mode="slerp")))
    np.testing.assert_allclose(zs[0], keys[0], atol=1e-5)
    np.testing.assert_allclose(zs[10], keys[1], atol=1e-5)
    np.testing.assert_allclose(zs[20], keys[2], atol=1e-5)
    # Eased: steps are small at the keyframes and larger in between.
    steps = np.linalg.norm(np.diff(zs, axis=0), axis=1)
    assert steps[0] < steps[4] and steps[9] < steps[5]


def test_noise_loop_stays_on_the_latent_shell():
    keys = np.random.default_rng(1).standard_normal((2, 64))
    zs = np.stack(list(walk_latents(keys, 50, loop=True, mode="noise")))
    np.testing.assert_allclose(np.linalg.norm(zs, axis=1), 8.0, rtol=1e-5)


def test_gif_by_extension_with_resize(run: Path, tmp_path: Path):
    out = write_walk(run, tmp_path / "walk.gif", "1,2", seconds=1, fps=8, res=48, device="cpu")
    frames = read_video(out)
    assert frames.shape == (8, 48, 48, 3)
    with Image.open(out) as im:
        assert abs(im.info["duration"] - 125) <= 5  # GIF delays are whole centiseconds


def test_same_seeds_give_the_same_video(run: Path, tmp_path: Path):
    a = read_video(write_walk(run, tmp_path / "a.gif", "5,6", seconds=1, fps=4, device="cpu"))
    b = read_video(write_walk(run, tmp_path / "b.gif", "5,6", seconds=1, fps=4, device="cpu"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,message", [
    (dict(seeds="1,x"), "not a list of whole numbers"),
    (dict(seeds="1,-2"), "seed -2 is out of range"),
    (dict(seeds="4"), "at least 2 seeds"),
    (dict(seeds="1,2,3", mode="noise"), "1 or 2 seeds"),
    (dict(seeds="1,2", mode="zigzag"), "--mode zigzag"),
    (dict(seeds="1,2", fps=0), "--fps 0"),
    (dict(seeds="1,2", fps=240), "--fps 240"),
    (dict(seeds="1,2", seconds=-1), "--seconds -1"),
    (dict(seeds="1,2", seconds=7200), "--seconds 7200"),
    (dict(seeds="1,2", seconds=0.01), "fewer than 2 frames"),
    (dict(seeds="1,2", label="cat"), "unconditional"),
])
def test_bad_options_are_clear_errors(run: Path, tmp_path: Path, kwargs: dict, message: str):
    with pytest.raises(BelamyError, match=message):
        write_walk(run, tmp_path / "w.mp4", device="cpu", **kwargs)
    assert not (tmp_path / "w.mp4").exists()


def test_unwritable_output_is_a_clear_error_and_existing_video_survives(run: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(BelamyError, match="cannot write"):
        write_walk(run, blocker / "w.mp4", "1,2", seconds=1, fps=4, device="cpu")
    with pytest.raises(BelamyError, match="not .mp4 or .gif"):
        write_walk(run, tmp_path / "w.avi", "1,2", seconds=1, fps=4, device="cpu")
    keep = tmp_path / "keep.mp4"
    keep.write_bytes(b"an earlier video")
    with pytest.raises(BelamyError):
        write_walk(run, keep, "1,2", seconds=1, fps=999, device="cpu")
    assert keep.read_bytes() == b"an earlier video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "keep.mp4"]


def test_parse_seeds():
    assert parse_seeds("1, 7,42") == [1, 7, 42]


def test_cli_walk_writes_the_video_and_prints_its_path(run: Path, tmp_path: Path):
    out = tmp_path / "cli.mp4"
    done = subprocess.run([sys.executable, "-m", "belamy", "walk", str(run), "--seeds", "1,2", "--seconds", "1",
                           "--fps", "6", "--loop", "--device", "cpu", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert len(read_video(out)) == 6
    bad = subprocess.run([sys.executable, "-m", "belamy", "walk", str(run), "--seeds", "1", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "at least 2 seeds" in bad.stderr and "Traceback" not in bad.stderr
