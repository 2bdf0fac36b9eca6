"""The style networks' StyleGAN2-ADA layers, pinned against values derived here by explicit loops
(numpy, float64), and the first layer variant, pinned to what runs made before the change drew."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from belamy.errors import BelamyError
from belamy.models.style import (
    LAYERS_EXACT,
    LAYERS_V1,
    StyleConfig,
    StyleDiscriminator,
    StyleGenerator,
    style_config,
)
from belamy.models.style_layers import Conv2d, SynthesisLayer, blur_conv2d_down, upsample_conv2d

BLUR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def fixed(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def transposed_conv_then_blur(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The reference's ×2 conv, written out: each input pixel stamps the kernel (a true
    convolution) at twice its position, giving 2H+1 rows; then the [1,3,3,1] blur ×4 over the
    result padded by one pixel, giving 2H rows, nothing cropped."""
    ci, h, wd = x.shape
    co = w.shape[0]
    y = np.zeros((co, 2 * h + 1, 2 * wd + 1))
    for o in range(co):
        for i in range(ci):
            for a in range(h):
                for b in range(wd):
                    y[o, 2 * a : 2 * a + 3, 2 * b : 2 * b + 3] += x[i, a, b] * w[o, i]
    y = np.pad(y, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((co, 2 * h, 2 * wd))
    for p in range(2 * h):
        for q in range(2 * wd):
            out[:, p, q] = (y[:, p : p + 4, q : q + 4] * BLUR * 4).sum(axis=(1, 2))
    return out


def blur_then_stride2(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The reference's ÷2 3×3 conv, written out: the blur at full resolution over the input padded
    by two pixels (H+1 rows), then a 3×3 correlation at every other position."""
    ci, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    blurred = np.zeros((ci, h + 1, wd + 1))
    for p in range(h + 1):
        for q in range(wd + 1):
            blurred[:, p, q] = (xp[:, p : p + 4, q : q + 4] * BLUR).sum(axis=(1, 2))
    out = np.zeros((w.shape[0], h // 2, wd // 2))
    for p in range(h // 2):
        for q in range(wd // 2):
            patch = blurred[:, 2 * p : 2 * p + 3, 2 * q : 2 * q + 3]
            out[:, p, q] = (w * patch[None]).sum(axis=(1, 2, 3))
    return out


def lrelu(v):
    return np.where(v >= 0, v, 0.2 * v) * math.sqrt(2)


def test_upsampling_conv_is_a_transposed_conv_then_the_blur():
    x, w = fixed((2, 3, 4), 1), fixed((3, 2, 3, 3), 2)
    got = upsample_conv2d(torch.tensor(x[None]), torch.tensor(w), torch.tensor(BLUR))[0].numpy()
    assert got.shape == (3, 6, 8)
    np.testing.assert_allclose(got, transposed_conv_then_blur(x, w), rtol=1e-12, atol=1e-12)
    # An asymmetric kernel shows it is a convolution, not the correlation F.conv2d computes.
    assert not np.allclose(got, transposed_conv_then_blur(x, w[:, :, ::-1, ::-1]))


def test_downsampling_conv_blurs_at_full_resolution_then_strides():
    x, w = fixed((2, 6, 8), 3), fixed((3, 2, 3, 3), 4)
    got = blur_conv2d_down(torch.tensor(x[None]), torch.tensor(w), torch.tensor(BLUR))[0].numpy()
    assert got.shape == (3, 3, 4)
    np.testing.assert_allclose(got, blur_then_stride2(x, w), rtol=1e-12, atol=1e-12)


def test_discriminator_conv_layer_downsamples_as_the_reference():
    layer = Conv2d(2, 3, 3, down=True, activation=True).double()
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64))
    x = fixed((2, 8, 8), 5)
    got = layer(torch.tensor(x[None]))[0].detach().numpy()
    w = layer.weight.detach().numpy() / math.sqrt(2 * 9)
    expected = lrelu(blur_then_stride2(x, w) + np.array([0.1, -0.2, 0.3])[:, None, None])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("style_scale", [1.0, 1e-4])
def test_modulated_upsampling_layer_with_the_references_demodulation(style_scale):
    """Styles = affine(w), unscaled; d_o = 1/sqrt(Σ (W_oik·s_i)² + 1e-8). Tiny styles show the epsilon."""
    torch.manual_seed(0)
    layer = SynthesisLayer(2, 3, 4, (6, 6), up=True).double()
    with torch.no_grad():
        layer.affine.weight.mul_(style_scale)
        layer.affine.bias.fill_(style_scale)
        layer.bias.copy_(torch.tensor([0.05, -0.1, 0.2], dtype=torch.float64))
    x, wlat = fixed((2, 3, 3), 6), fixed((4,), 7)
    got = layer(torch.tensor(x[None]), torch.tensor(wlat[None]), noise_mode="none")[0].detach().numpy()
    a_w, a_b = layer.affine.weight.detach().numpy(), layer.affine.bias.detach().numpy()
    styles = a_w @ wlat / math.sqrt(4) + a_b
    weight = layer.weight.detach().numpy()
    modulated = weight * styles[None, :, None, None]
    dcoefs = 1 / np.sqrt((modulated**2).sum(axis=(1, 2, 3)) + 1e-8)
    conv = transposed_conv_then_blur(x, modulated) * dcoefs[:, None, None]
    expected = lrelu(conv + np.array([0.05, -0.1, 0.2])[:, None, None])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    if style_scale < 1:  # the first variant's epsilon (on pre-scaled styles) is another function here
        old = SynthesisLayer(2, 3, 4, (6, 6), up=True, exact=False).double()
        old.load_state_dict(layer.state_dict())
        with torch.no_grad():
            old_out = old(torch.tensor(x[None]), torch.tensor(wlat[None]), noise_mode="none")[0].numpy()
        assert np.abs(old_out - expected).max() > 1e-3 * np.abs(expected).max()


def test_conditional_discriminator_maps_labels_as_the_reference():
    """embed (lr 1, linear), normalise, then d_map_layers FC layers with leaky ReLU at lr ×0.01;
    the score is ⟨out(features), cmap⟩ / √cmap_dim."""
    cfg = style_config(res=16, nz=8, w_dim=8, ngf=2, ndf=2, channel_max=8, map_layers=1, label_names=["a", "b", "c"])
    assert cfg.layers == LAYERS_EXACT and cfg.d_map_layers == 8
    torch.manual_seed(1)
    D = StyleDiscriminator(cfg).double()
    assert len(D.mapping.layers) == 8 and D.label_map is None
    with torch.no_grad():
        for p in D.mapping.parameters():
            p.add_(torch.randn(p.shape, dtype=p.dtype) * 0.5)
    c = np.eye(3)[[2]]
    e = c @ D.mapping.embed.weight.detach().numpy().T / math.sqrt(3) + D.mapping.embed.bias.detach().numpy()
    e = e / np.sqrt((e**2).mean(axis=1, keepdims=True) + 1e-8)
    for fc in D.mapping.layers:
        w, b = fc.weight.detach().numpy(), fc.bias.detach().numpy()
        e = lrelu(e @ (w * 0.01 / math.sqrt(w.shape[1])).T + b * 0.01)
    with torch.no_grad():
        np.testing.assert_allclose(D.mapping(torch.tensor(c)).numpy(), e, rtol=1e-10)
        img = torch.randn(1, 3, 16, 16, dtype=torch.float64)
        out = D.out(D.features(img)).numpy()
        score = D(img, torch.tensor([2])).numpy()
    # (labels enter as float32 one-hot vectors, as the reference's c.to(float32))
    np.testing.assert_allclose(score, (out * e).sum(axis=1) / math.sqrt(cfg.d_channels(4)), rtol=1e-5)


def test_truncation_cutoff_truncates_only_the_coarse_layers():
    torch.manual_seed(0)
    G = StyleGenerator(style_config(res=16, nz=8, w_dim=8, ngf=2, channel_max=8, map_layers=1))
    with torch.no_grad():
        G.mapping.w_avg.normal_()
        z = torch.randn(2, 8)
        full = G.mapping(z)
        cut = G.mapping(z, truncation=0.5, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], G.mapping.w_avg.lerp(full[:, :2], 0.5))
    assert torch.equal(cut[:, 2:], full[:, 2:])
    with torch.no_grad():
        assert not torch.equal(G.synthesize(z, truncation=0.5, truncation_cutoff=2), G.synthesize(z, truncation=0.5))


def test_minibatch_std_group_size_is_a_setting():
    cfg = style_config(res=16, mbstd_group=8)
    assert cfg.mbstd_group == 8 and StyleDiscriminator(cfg).mbstd.group_size == 8
    assert StyleConfig.from_dict(cfg.to_dict()).mbstd_group == 8
    with pytest.raises(BelamyError, match="mbstd-group"):
        style_config(res=16, mbstd_group=0)


def test_new_configs_get_the_exact_layers_and_old_ones_keep_theirs():
    assert style_config(res=16).layers == LAYERS_EXACT
    old = {k: v for k, v in style_config(res=16).to_dict().items() if k not in ("layers", "mbstd_channels",
                                                                                   "d_architecture", "d_map_layers", "cmap_dim")}
    assert StyleConfig.from_dict(old).layers == LAYERS_V1
    with pytest.raises(BelamyError, match="layer variant"):
        StyleConfig.from_dict({**old, "layers": "stylegan9"})


def test_a_config_written_before_layer_variants_draws_what_it_drew():
    """Numbers drawn by belamy before the exact layers existed (commit 726cacf), from the same seed,
    config dict (as an old run.json holds it) and inputs: an old run's images do not change."""
    old = {"res": 16, "z_dim": 8, "w_dim": 8, "map_layers": 1, "g_channel_base": 64, "d_channel_base": 64,
           "channel_max": 8, "num_classes": 2, "label_names": ["a", "b"], "aspect": "1:1", "mbstd_group": 4,
           "conv_clamp": None, "channels": 3}
    torch.manual_seed(0)
    cfg = StyleConfig.from_dict(old)
    G, D = StyleGenerator(cfg), StyleDiscriminator(cfg)
    with torch.no_grad():
        for p in list(G.parameters()) + list(D.parameters()):
            p.add_(torch.randn(p.shape) * 0.3)
        z = torch.randn(2, 8)
        img = G.synthesize(z, torch.tensor([0, 1]), truncation=0.8)
        score = D(img, torch.tensor([0, 1]))
    drawn_before = [-0.126681, -0.460422, -1.211369, 0.19957, -0.079544, -0.593232, -0.176636, 0.914319,
                    -1.085061, -1.136551, -1.988415, 0.192397, -0.729636, 0.598713, -0.441521, 0.059488]
    np.testing.assert_allclose(img.flatten()[::97].numpy(), drawn_before, atol=2e-6)
    assert img.sum().item() == pytest.approx(-822.46057, abs=1e-3)
    np.testing.assert_allclose(score.numpy(), [-0.4738, 0.428761], atol=2e-6)
