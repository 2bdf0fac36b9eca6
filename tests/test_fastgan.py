"""The light FastGAN: shapes for square and portrait pictures, skip-layer excitation, a
discriminator whose decoders learn to redraw the real picture, and LeCam's regulariser on it."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import belamy_cli, one_line_refusal, synthetic_portraits, write_corpus
from safetensors.torch import load_file

from belamy.errors import BelamyError
from belamy.models.fastgan import (
    FastGANConfig,
    FastGANDiscriminator,
    FastGANGenerator,
    SkipExcitation,
    fastgan_config,
    reconstruction_targets,
)
from belamy.trainer.checkpoint import latest_checkpoint


@pytest.mark.parametrize(("res", "aspect", "shape"), [(32, "1:1", (32, 32)), (64, "1:1", (64, 64)),
                                                      (64, "4:5", (80, 64)), (64, "3:4", (64, 48))])
def test_generator_and_discriminator_shapes(res, aspect, shape, one_torch_thread):
    cfg = fastgan_config(res, nz=16, ngf=4, ndf=4, aspect=aspect)
    G, D = FastGANGenerator(cfg), FastGANDiscriminator(cfg)
    images = G(torch.randn(3, 16))
    assert images.shape == (3, 3, *shape)
    assert images.abs().max() <= 1
    assert D(images).shape == (3,)
    logits, whole, part, _ = D.logits_and_reconstructions(images, quadrant=3)
    assert logits.shape[0] == 3 and logits.shape[1] >= 1
    with torch.no_grad():  # the features CAN's style head reads come from the same pass (eval: spectral norm holds still)
        assert torch.equal(D.eval().logits_and_reconstructions(images, quadrant=3).features, D.penultimate(images))
    # the decoders draw pictures of the corpus's shape, 32 pixels wide for a square one
    assert whole.shape == part.shape
    assert tuple(whole.shape[2:]) == (shape[0] * 32 // res, shape[1] * 32 // res)
    targets = reconstruction_targets(images, 3, tuple(whole.shape[2:]))
    assert all(t.shape == whole.shape for t in targets)


def test_skip_excitation_scales_each_channel_of_the_high_resolution_map():
    sle = SkipExcitation(8, 6)
    low, high = torch.randn(2, 8, 4, 4), torch.ones(2, 6, 16, 16)
    out = sle(low, high)
    assert out.shape == high.shape
    # one gate in (0, 1) per channel, constant over the picture, and it depends on the low map
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out))
    assert 0 < out.min() and out.max() < 1
    assert not torch.allclose(out, sle(low * 3, high))


def test_reconstruction_targets_pick_the_quadrant_asked_for():
    # four flat quadrants: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
    real = torch.zeros(1, 3, 64, 64)
    for q, value in enumerate((-0.75, -0.25, 0.25, 0.75)):
        top, left = (q // 2) * 32, (q % 2) * 32
        real[:, :, top : top + 32, left : left + 32] = value
    for q, value in enumerate((-0.75, -0.25, 0.25, 0.75)):
        whole, part = reconstruction_targets(real, q, (32, 32))
        assert torch.allclose(part, torch.full_like(part, value))
        assert torch.allclose(whole, F.interpolate(real, size=(32, 32), mode="area"))


def test_discriminator_learns_to_redraw_real_pictures(one_torch_thread):
    torch.manual_seed(0)
    cfg = fastgan_config(32, nz=16, ngf=4, ndf=8)
    D = FastGANDiscriminator(cfg)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    real = torch.stack([torch.stack([yy * s, xx * s, (yy * xx) * s]) for s in (0.9, -0.6, 0.3, -0.8)])
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)

    def recon_loss(quadrant: int) -> torch.Tensor:
        _, whole, part, _ = D.logits_and_reconstructions(real, quadrant)
        tw, tp = reconstruction_targets(real, quadrant, tuple(whole.shape[2:]))
        return F.l1_loss(whole, tw) + F.l1_loss(part, tp)

    with torch.no_grad():
        D.eval()
        before = sum(float(recon_loss(q)) for q in range(4))
        D.train()
    for step in range(60):
        opt.zero_grad()
        recon_loss(step % 4).backward()
        opt.step()
    with torch.no_grad():
        D.eval()
        after = sum(float(recon_loss(q)) for q in range(4))
    assert after < 0.6 * before


def test_config_round_trip_and_bad_settings():
    cfg = fastgan_config(64, aspect="4:5")
    assert FastGANConfig.from_dict(cfg.to_dict()) == cfg
    assert "aspect" not in fastgan_config(64).to_dict()
    with pytest.raises(BelamyError, match="resolution 48"):
        fastgan_config(48)
    with pytest.raises(BelamyError, match="--ngf 0"):
        fastgan_config(64, ngf=0)
    with pytest.raises(BelamyError, match="aspect"):
        fastgan_config(64, aspect="2:1")


def test_lecam_weight_regularises_d_saves_its_running_means_and_resumes_exactly(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", synthetic_portraits(32, 32))

    def train(out: str, kimg: str, *more: str):
        return belamy_cli("train", str(corpus), "--out", str(tmp_path / out), "--preset", "cpu-fast", "--res", "32",
                          "--ngf", "4", "--ndf", "8", "--precision", "fp32", "--kimg", kimg, "--tick-kimg", "0.032",
                          "--grid-size", "4", "--device", "cpu", *more)

    def weights(out: str) -> dict:
        return load_file(str(latest_checkpoint(tmp_path / out / "checkpoints").with_suffix(".safetensors")))

    for out, kimg, more in (("whole", "0.064", ("--lecam-weight", "0.3")), ("part", "0.032", ("--lecam-weight", "0.3")),
                            ("plain", "0.064", ())):
        done = train(out, kimg, *more)
        assert done.returncode == 0, done.stderr
    resumed = train("part", "0.064", "--resume")  # the weight is kept without being given again
    assert resumed.returncode == 0, resumed.stderr
    whole, part, plain = weights("whole"), weights("part"), weights("plain")
    # D's running means of its real and fake logits travel with the run; a run without LeCam has none
    assert sorted(k for k in whole if k.startswith("lecam.")) == ["lecam.fake", "lecam.real"]
    assert not any(k.startswith("lecam.") for k in plain)
    assert whole["lecam.real"] != 0 and whole["lecam.fake"] != 0
    assert whole.keys() == part.keys() and all(torch.equal(whole[k], part[k]) for k in whole)  # resumed exactly
    # the regulariser trained D: the two runs part ways, and each tick says how large the term was
    assert any(not torch.equal(whole[k], plain[k]) for k in plain if k.startswith("D."))
    ticks = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert all(t["lecam"] >= 0 for t in ticks) and "lecam" not in (tmp_path / "plain" / "metrics.jsonl").read_text()
    assert json.loads((tmp_path / "part" / "run.json").read_text())["options"]["lecam_weight"] == 0.3

    for more, says in ((("--lecam-weight", "-1"), "--lecam-weight -1.0 is not valid"),
                       (("--arch", "dcgan", "--preset", "classic", "--lecam-weight", "0.3"), "--lecam-weight is not used by --arch dcgan")):
        one_line_refusal(train("refused", "0.032", *more), says)
    assert not (tmp_path / "refused" / "checkpoints").exists()
