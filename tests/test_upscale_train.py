"""SR training: degradations, the run folder, exact resume after a stop, and using the result to upscale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_portraits, write_corpus
from PIL import Image

from belamy.errors import BelamyError
from belamy.trainer.checkpoint import latest_checkpoint, load_checkpoint
from belamy.trainer.stop import StopRequest
from belamy.upscale.degrade import degrade, gaussian_kernel, shrink_bicubic
from belamy.upscale.train import PairBatches, SRTrainOptions, train_sr
from belamy.upscale.upscaler import load_sr_run, upscale_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def sr_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", synthetic_portraits(24, 48))


def tiny_options(corpus: Path, out: Path, **overrides) -> SRTrainOptions:
    settings = dict(corpus=corpus, out=out, scale=4, nf=8, nb=1, gc=8, ndf=8, patch=32, batch=4, kimg=0.048,
                    warmup_kimg=0.016, tick_kimg=0.008, snapshot_ticks=2, keep=3, seed=1, device="cpu")
    settings.update(overrides)
    return SRTrainOptions(**settings)


def test_degradation_shrinks_and_is_reproducible():
    hr = synthetic_portraits(1, 64)[0]
    a = degrade(hr, 4, np.random.default_rng(5))
    b = degrade(hr, 4, np.random.default_rng(5))
    c = degrade(hr, 4, np.random.default_rng(6))
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    k = gaussian_kernel(9, 1.0, 3.0, 0.7)
    assert k.shape == (9, 9) and abs(k.sum() - 1) < 1e-5 and not np.allclose(k, k.T)  # anisotropic, rotated


def test_training_writes_a_run_like_belamy_train(sr_corpus: Path, tmp_path: Path):
    result = train_sr(tiny_options(sr_corpus, tmp_path / "sr"))
    run = result.run_dir
    assert not result.interrupted and result.nimg >= 48
    assert json.loads((run / "run.json").read_text())["format"] == "belamy-sr-run"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["tick"] for r in lines] == list(range(1, len(lines) + 1))
    assert {"kimg", "img_per_s", "l1", "loss_G"} <= set(lines[0])
    assert "loss_D" not in lines[0] and "loss_D" in lines[-1]  # L1 warm-up first, then adversarial
    samples = sorted((run / "samples").glob("compare-*.png"))
    assert samples[0].name == "compare-000000000.png" and len(samples) >= 2
    with Image.open(samples[-1]) as im:
        assert im.width > 3 * im.height / 4  # four columns: input | lanczos | sr | original
    _, meta = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    assert meta["kind"] == "belamy-sr" and meta["model"]["nf"] == 8


def test_stop_then_resume_matches_an_uninterrupted_run(sr_corpus: Path, tmp_path: Path):
    straight = train_sr(tiny_options(sr_corpus, tmp_path / "straight"))

    stop = StopRequest()
    stop.requested = True  # as if Ctrl-C came during the first step
    stopped = train_sr(tiny_options(sr_corpus, tmp_path / "resumed"), stop=stop)
    assert stopped.interrupted and stopped.nimg == 4 and stopped.last_checkpoint is not None
    resumed = train_sr(tiny_options(sr_corpus, tmp_path / "resumed", resume=True))
    assert resumed.nimg == straight.nimg

    a, _ = load_checkpoint(straight.last_checkpoint)
    b, _ = load_checkpoint(resumed.last_checkpoint)
    compared = [key for key in a if key.startswith(("G.", "G_ema.", "D."))]
    assert any(k.startswith("G_ema.") for k in compared)
    for key in compared:
        assert torch.equal(a[key], b[key]), key


def test_resume_and_new_run_guards(sr_corpus: Path, tmp_path: Path):
    with pytest.raises(BelamyError, match="nothing to resume"):
        train_sr(tiny_options(sr_corpus, tmp_path / "none", resume=True))
    train_sr(tiny_options(sr_corpus, tmp_path / "sr", kimg=0.008, snapshot_ticks=1))
    with pytest.raises(BelamyError, match="already holds an SR run"):
        train_sr(tiny_options(sr_corpus, tmp_path / "sr"))
    with pytest.raises(BelamyError, match="--patch"):
        train_sr(tiny_options(sr_corpus, tmp_path / "bad", patch=40))
    with pytest.raises(BelamyError, match="corpus is 48"):
        train_sr(tiny_options(sr_corpus, tmp_path / "big", patch=64))


def test_a_trained_sr_run_upscales(sr_corpus: Path, tmp_path: Path):
    run = train_sr(tiny_options(sr_corpus, tmp_path / "sr", kimg=0.016, snapshot_ticks=1)).run_dir
    up = load_sr_run(run, device="cpu")
    assert up.scale == 4 and up.provenance["sr_weights"] == "G_ema"  # the averaged generator is the one used and up.provenance["sr_checkpoint_sha256"]
    img = Image.fromarray(synthetic_portraits(1, 20)[0])
    out = upscale_image(img, up, scale=8, tile=16, overlap=4, progress=False)
    assert out.size == (160, 160)
    with pytest.raises(BelamyError, match="not an SR model|no SR model at|no checkpoints"):
        load_sr_run(tmp_path / "corpus-not-a-run")


def batch_pairs(corpus: Path, tmp_path: Path, degradation: str) -> tuple[np.ndarray, np.ndarray]:
    """One training batch of (LR, HR) pairs as uint8 NHWC, made the way ``degradation`` says."""
    opts = tiny_options(corpus, tmp_path, degradation=degradation, batch=16)
    images = np.load(corpus / "images.npy")
    lr, hr = PairBatches(images, opts, torch.device("cpu")).next(torch.Generator().manual_seed(0))
    as_uint8 = lambda x: x.mul(255).round().byte().permute(0, 2, 3, 1).numpy()  # noqa: E731
    return as_uint8(lr), as_uint8(hr)


def test_degradation_option_picks_the_training_inputs(sr_corpus: Path, tmp_path: Path):
    def clean(lr, hr):
        return [np.array_equal(a, shrink_bicubic(b, 4)) for a, b in zip(lr, hr, strict=True)]

    assert all(clean(*batch_pairs(sr_corpus, tmp_path, "bicubic")))
    assert not any(clean(*batch_pairs(sr_corpus, tmp_path, "realistic")))
    mixed = clean(*batch_pairs(sr_corpus, tmp_path, "mixed"))
    assert any(mixed) and not all(mixed)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, timeout=300, env=env)


def test_cli_degradation_is_stored_and_fixed_on_resume(sr_corpus: Path, tmp_path: Path):
    run = tmp_path / "sr"
    tiny = ["--nf", "8", "--nb", "1", "--gc", "8", "--ndf", "8", "--patch", "32", "--batch", "4", "--tick-kimg", "0.008",
            "--snapshot-ticks", "1", "--device", "cpu"]
    made = run_cli("sr", "train", str(sr_corpus), "--out", str(run), "--kimg", "0.008", "--degradation", "bicubic",
                   "--precision", "bf16", *tiny)
    assert made.returncode == 0, made.stderr
    assert json.loads((run / "run.json").read_text())["options"]["degradation"] == "bicubic"

    changed = run_cli("sr", "train", str(sr_corpus), "--out", str(run), "--resume", "--kimg", "0.016", "--degradation", "mixed")
    assert changed.returncode == 2 and len(changed.stderr.strip().splitlines()) == 1, changed.stderr
    assert "--degradation bicubic" in changed.stderr
    assert latest_checkpoint(run / "checkpoints").name.startswith("ckpt-000000008")  # refused before training

    resumed = run_cli("sr", "train", str(sr_corpus), "--out", str(run), "--resume", "--kimg", "0.016")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "run.json").read_text())["options"]["degradation"] == "bicubic"
    assert latest_checkpoint(run / "checkpoints").name.startswith("ckpt-000000016")


def test_cli_unknown_degradation_is_one_line(sr_corpus: Path, tmp_path: Path):
    result = run_cli("sr", "train", str(sr_corpus), "--out", str(tmp_path / "sr"), "--degradation", "sharp")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--degradation sharp" in lines[0] and "realistic, bicubic, mixed" in lines[0]
    assert not (tmp_path / "sr" / "checkpoints").exists()


def test_cli_l2_fine_tune_trains_on_the_squared_error_and_bad_weights_are_one_line(sr_corpus: Path, tmp_path: Path):
    tiny = ["--nf", "8", "--nb", "1", "--gc", "8", "--ndf", "8", "--patch", "32", "--batch", "4", "--tick-kimg", "0.008",
            "--snapshot-ticks", "1", "--warmup-kimg", "1", "--device", "cpu"]
    run = tmp_path / "l2"
    made = run_cli("sr", "train", str(sr_corpus), "--out", str(run), "--kimg", "0.016", "--l1-weight", "0",
                   "--l2-weight", "1", *tiny)
    assert made.returncode == 0, made.stderr
    options = json.loads((run / "run.json").read_text())["options"]
    assert (options["l1_weight"], options["l2_weight"]) == (0, 1)
    ticks = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(t["loss_G"] == pytest.approx(t["l2"], rel=1e-3) and t["l2"] < t["l1"] for t in ticks)

    assert "L2 " in made.stdout + made.stderr  # the log shows the loss being trained

    # Kept on resume, like the other loss weights.
    resumed = run_cli("sr", "train", str(sr_corpus), "--out", str(run), "--resume", "--kimg", "0.024", "--l2-weight", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "run.json").read_text())["options"]["l2_weight"] == 1

    for bad, words in ((["--l1-weight", "0"], "--l1-weight or --l2-weight above 0"),
                       (["--l2-weight", "-1"], "--l2-weight -1.0 is not valid"),
                       (["--l1-weight", "inf"], "--l1-weight inf is not valid")):
        refused = run_cli("sr", "train", str(sr_corpus), "--out", str(tmp_path / "refused"), *bad, *tiny)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert words in refused.stderr
        assert not (tmp_path / "refused" / "checkpoints").exists()


def test_cli_init_fine_tunes_from_a_run_or_the_shipped_painting_sr(sr_corpus: Path, tmp_path: Path):
    small = ["--patch", "32", "--batch", "4", "--tick-kimg", "0.004", "--snapshot-ticks", "1", "--device", "cpu"]
    source = tmp_path / "source"
    made = run_cli("sr", "train", str(sr_corpus), "--out", str(source), "--kimg", "0.008", "--nf", "8", "--nb", "1",
                   "--gc", "8", "--ndf", "8", "--warmup-kimg", "0", *small)
    assert made.returncode == 0, made.stderr

    # The new run takes the source's shape and starts from its weights (a tiny rate keeps them where they were).
    tuned = tmp_path / "tuned"
    result = run_cli("sr", "train", str(sr_corpus), "--out", str(tuned), "--init", str(source), "--kimg", "0.004",
                     "--lr", "1e-9", "--seed", "7", *small)
    assert result.returncode == 0, result.stderr
    options = json.loads((tuned / "run.json").read_text())["options"]
    assert (options["nf"], options["nb"], options["gc"], options["ndf"], options["init"]) == (8, 1, 8, 8, str(source))
    before, _ = load_checkpoint(latest_checkpoint(source / "checkpoints"))
    after, _ = load_checkpoint(latest_checkpoint(tuned / "checkpoints"))
    for prefix in ("G.", "D."):
        keys = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
        assert keys and all(torch.allclose(before[k], after[k], atol=1e-5) for k in keys)

    # A shape that does not fit the source, or something that is not an SR model: one line, nothing written.
    for bad, words in ((["--init", str(source), "--nf", "16"], "does not fit --nf 16"),
                       (["--init", str(tmp_path / "nowhere")], "nowhere")):
        refused = run_cli("sr", "train", str(sr_corpus), "--out", str(tmp_path / "refused"), *bad, *small)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert words in refused.stderr
        assert not (tmp_path / "refused" / "checkpoints").exists()

    # A deeper network (--nb 3 from a 1-block source) starts as the source's function: it enlarges a picture
    # as the source does, pixel for pixel, and its new blocks are there to learn. A shallower one is refused.
    grown = tmp_path / "grown"
    result = run_cli("sr", "train", str(sr_corpus), "--out", str(grown), "--init", str(source), "--nb", "3",
                     "--kimg", "0.004", "--lr", "1e-9", *small)
    assert result.returncode == 0, result.stderr
    assert json.loads((grown / "run.json").read_text())["options"]["nb"] == 3
    assert any(k.startswith("G_ema.body.2.") for k in load_checkpoint(latest_checkpoint(grown / "checkpoints"))[0])
    picture = tmp_path / "small.png"
    Image.fromarray(synthetic_portraits(1, 24)[0]).save(picture)
    for model in (source, grown):
        done = run_cli("upscale", str(picture), "--model", str(model), "--out", str(tmp_path / f"{model.name}.png"))
        assert done.returncode == 0, done.stderr
    by_source, by_grown = (np.asarray(Image.open(tmp_path / f"{m}.png"), dtype=int) for m in ("source", "grown"))
    assert by_source.shape == by_grown.shape == (96, 96, 3) and np.abs(by_source - by_grown).max() <= 1
    refused = run_cli("sr", "train", str(sr_corpus), "--out", str(tmp_path / "refused"), "--init", str(grown), "--nb", "2",
                      *small)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "does not fit --nb 2: its network has nb 3" in refused.stderr and "--nb may only grow it" in refused.stderr

    # belamy's own painting-SR, fine-tuned on these paintings: its shape, and an upscaler that works.
    painting = tmp_path / "painting"
    result = run_cli("sr", "train", str(sr_corpus), "--out", str(painting), "--init", "painting", "--kimg", "0.004", *small)
    assert result.returncode == 0, result.stderr
    from belamy.upscale.upscaler import PAINTING_WEIGHTS

    shipped = json.loads(PAINTING_WEIGHTS.read_text())["model"]
    options = json.loads((painting / "run.json").read_text())["options"]
    assert (options["nf"], options["nb"], options["gc"]) == (shipped["nf"], shipped["nb"], shipped["gc"])
    enlarged = run_cli("upscale", str(picture), "--model", str(painting), "--out", str(tmp_path / "big.png"))
    assert enlarged.returncode == 0, enlarged.stderr
    with Image.open(tmp_path / "big.png") as im:
        assert im.size == (96, 96)
