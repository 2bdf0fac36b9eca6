"""Metrics without downloaded weights: SWD (ProGAN's definition), memorisation, FID/KID with a
locally saved Inception-v3, and `belamy eval`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import synthetic_portraits

from belamy.errors import BelamyError
from belamy.metrics import swd as swd_mod
from belamy.metrics.fid import (
    FIDInceptionV3,
    fid_from_features,
    inception_features,
    kid_from_features,
    load_inception,
    mmd2_unbiased,
)
from belamy.metrics.memorization import memorization
from belamy.metrics.swd import laplacian_pyramid, pyr_down, pyr_up, swd


@pytest.fixture(scope="module")
def portraits() -> np.ndarray:
    return synthetic_portraits(48, 32, seed=0)


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2).float()


def test_swd_of_a_set_with_itself_is_zero(portraits):
    result = swd(portraits, portraits)
    assert set(result) == {"swd_32", "swd_16", "swd"}
    assert result["swd"] == pytest.approx(0.0, abs=1e-6)


def test_swd_grows_with_blur_and_shift(portraits):
    x = nchw(portraits)
    blurred = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    shifted = torch.roll(x, shifts=(3, 3), dims=(2, 3))
    noise = torch.rand_like(x) * 255
    base = swd(x, x)["swd"]
    blur_swd, shift_swd, noise_swd = swd(x, blurred), swd(x, shifted), swd(x, noise)
    assert blur_swd["swd_32"] > base + 5  # blur removes fine detail: the finest level sees it most
    assert shift_swd["swd"] > base + 1
    assert noise_swd["swd"] > max(blur_swd["swd"], shift_swd["swd"])


def test_swd_is_deterministic_for_a_seed(portraits):
    other = synthetic_portraits(48, 32, seed=1)
    assert swd(portraits, other, seed=3) == swd(portraits, other, seed=3)
    assert swd(portraits, other, seed=3) != swd(portraits, other, seed=4)


def test_swd_definition_details():
    # the Gaussian kernel is [1, 4, 6, 4, 1]/16 separable, i.e. the 5×5 /256 of the reference
    assert torch.allclose(torch.outer(swd_mod._TAPS, swd_mod._TAPS) * 256,
                          torch.tensor([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6],
                                        [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]], dtype=torch.float32))
    x = torch.rand(2, 3, 64, 64) * 255
    pyramid = laplacian_pyramid(x, 3)
    assert [p.shape[-1] for p in pyramid] == [64, 32, 16]
    # a Laplacian pyramid reconstructs its image exactly
    rebuilt = pyramid[-1]
    for level in pyramid[-2::-1]:
        rebuilt = pyr_up(rebuilt) + level
    assert torch.allclose(rebuilt, x, atol=1e-3)
    assert pyr_down(torch.full((1, 3, 16, 16), 7.0)).allclose(torch.full((1, 3, 8, 8), 7.0))
    desc = swd_mod.descriptors(x, torch.Generator().manual_seed(0))
    assert [d.shape for d in desc] == [(2 * 128, 147)] * 3
    # per-channel normalisation over all descriptors of a level
    per_channel = desc[0].reshape(-1, 3, 7, 7).transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(per_channel.std(1, correction=0), torch.ones(3), atol=1e-4)


def test_swd_refuses_mismatched_sets(portraits):
    with pytest.raises(ValueError, match="same size"):
        swd(portraits, portraits[:10])


def test_memorization_flags_copies_and_not_noise(portraits):
    train, held_out = portraits[:40], synthetic_portraits(8, 32, seed=7)
    copies = train[:8].copy()
    copies = np.clip(copies.astype(int) + 3, 0, 255).astype(np.uint8)  # a slightly brighter copy is still a copy
    report = memorization(copies, train)
    assert report.median_ratio < 0.05 and report.fraction_copies == 1.0
    assert report.nearest == list(range(8))
    novel = memorization(held_out, train)
    assert novel.median_ratio > 0.5 and novel.fraction_copies < 0.5
    noise = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    assert memorization(noise, train).median_ratio > 2 * novel.median_ratio


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory) -> Path:
    """An Inception-v3 with random weights, saved as a user's local file would be."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = FIDInceptionV3()
    path = tmp_path_factory.mktemp("inception") / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_fid_of_a_set_with_itself_is_zero_and_symmetric(inception_file, portraits):
    net = load_inception(inception_file, input_size=75)  # 75²: the smallest input, to keep the test fast
    fa = inception_features(net, portraits[:6])
    fb = inception_features(net, synthetic_portraits(6, 32, seed=9) // 2)
    assert fa.shape == (6, 2048)
    assert fid_from_features(fa, fa) == pytest.approx(0.0, abs=1e-6 * max(1.0, float(np.abs(fa).max()) ** 2))
    ab, ba = fid_from_features(fa, fb), fid_from_features(fb, fa)
    assert ab > 0 and ab == pytest.approx(ba, rel=1e-6)


def test_fid_few_images_shortcut_agrees_with_the_full_formula():
    from belamy.metrics.fid import frechet_distance

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 40)), rng.normal(size=(9, 40)) * 1.5 + 0.3
    full = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fid_from_features(a, b) == pytest.approx(full, rel=1e-6)


def test_fid_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (4000, 3))
    b = rng.normal(0, 2, (4000, 3)) + 1
    # FID(N(0, I), N(1, 4I)) in 3-d: |μ|² = 3, tr = 3 + 12 − 2·tr(√(4I)) = 15 − 12 = 3
    assert fid_from_features(a, b) == pytest.approx(6.0, rel=0.05)


def test_kid_is_the_unbiased_mmd():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    k = lambda p, q: (p @ q.T / 4 + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    expected = ((kxx.sum() - np.trace(kxx)) / 20 + (kyy.sum() - np.trace(kyy)) / 30 - 2 * kxy.mean())
    assert mmd2_unbiased(x, y) == pytest.approx(expected)
    same = rng.normal(size=(400, 8))
    other = rng.normal(size=(400, 8))
    # unbiased: two samples of one distribution give ~0 (either sign), a shifted one clearly more
    assert abs(kid_from_features(same, other, num_subsets=10, subset_size=200)) < 0.05
    assert kid_from_features(same, other + 1.0, num_subsets=10, subset_size=200) > 0.5


def test_bad_inception_files_are_clear_errors(tmp_path):
    with pytest.raises(BelamyError, match="no Inception weights"):
        load_inception(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BelamyError, match="cannot read"):
        load_inception(junk)
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"Conv2d_1a_3x3.conv.weight": torch.zeros(1)}, str(wrong))
    with pytest.raises(BelamyError, match="does not fit"):
        load_inception(wrong)


def test_eval_command_prints_and_appends(tiny_run: Path, tiny_corpus: Path, inception_file: Path):
    from belamy.metrics.evaluate import evaluate_run

    argv = [sys.executable, "-m", "belamy", "eval", str(tiny_run), "--corpus", str(tiny_corpus), "--n", "16",
            "--device", "cpu"]
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "swd" in result.stderr and "memorization_median" in result.stderr
    record = evaluate_run(tiny_run, tiny_corpus, n=16, device="cpu", inception=inception_file, inception_size=75)
    records = [json.loads(line) for line in (tiny_run / "eval.jsonl").read_text().splitlines()]
    assert len(records) == 2 and records[-1] == json.loads(json.dumps(record))
    for key in ("swd", "swd_16", "swd_32", "memorization_median", "memorization_copies"):
        assert key in records[0], key
    assert "fid" in records[1] and "kid_x1e3" in records[1] and "fid" not in records[0]
    bad = subprocess.run([sys.executable, "-m", "belamy", "eval", str(tiny_run), "--corpus", str(tiny_run / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
