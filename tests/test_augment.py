"""Augmentation for small corpora: ADA's transforms and its p controller, and DiffAugment."""

from __future__ import annotations

import pytest
import torch

from belamy.gan.augment import AdaptiveAugment, DiffAugment, make_augment


def images(n=6, h=20, w=16, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_p_zero_leaves_images_untouched():
    x = images()
    assert torch.equal(AdaptiveAugment(p=0.0)(x, torch.Generator().manual_seed(0)), x)


def test_p_one_transforms_every_image_and_keeps_shape():
    x = images()
    y = AdaptiveAugment(p=1.0)(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert all(not torch.allclose(a, b, atol=1e-3) for a, b in zip(x, y, strict=True))


def test_same_generator_seed_same_augmentation():
    x = images()
    aug = AdaptiveAugment(p=0.7)
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augmentation_is_differentiable_for_fakes():
    x = images().requires_grad_(True)
    for aug in (AdaptiveAugment(p=0.8), DiffAugment()):
        x.grad = None
        aug(x, torch.Generator().manual_seed(1)).square().sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_small_p_leaves_most_images_exactly_as_they_were():
    x = images(n=64, h=16, w=16)
    y = AdaptiveAugment(p=0.02)(x, torch.Generator().manual_seed(3))
    # ~18 transforms each at p = 0.02: most images pass untouched (up to resampling round-off)
    untouched = sum(torch.allclose(a, b, atol=1e-5) for a, b in zip(x, y, strict=True))
    assert untouched > 32


def test_geometry_uses_reflection_not_black_borders():
    x = torch.ones(8, 3, 16, 16) * 0.5
    aug = AdaptiveAugment(p=1.0)
    aug.brightness_std = aug.contrast_std = aug.hue_max = aug.saturation_std = 0.0
    with torch.no_grad():
        y = aug._geometric(x, 1.0, torch.Generator().manual_seed(0))
    # a flat image stays flat whatever the rotation or scale: no zero padding came in
    assert torch.allclose(y, x, atol=1e-5)


def test_luma_flip_and_hue_rotation_keep_grey_grey_and_move_colour():
    aug = AdaptiveAugment(p=1.0)
    grey = torch.zeros(16, 3, 8, 8) + 0.2
    with torch.no_grad():
        out = aug._colour(grey, 1.0, torch.Generator().manual_seed(0))
    # brightness/contrast/luma flip change grey's level, but hue and saturation keep it neutral
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5) and torch.allclose(out[:, 1], out[:, 2], atol=1e-5)
    red = torch.zeros(16, 3, 8, 8)
    red[:, 0] = 1
    with torch.no_grad():
        moved = aug._colour(red, 1.0, torch.Generator().manual_seed(0))
    assert (moved[:, 1] - moved[:, 0]).abs().max() > 0.1


@pytest.mark.parametrize(("sign", "direction"), [(1.0, 1), (-1.0, -1)])
def test_p_follows_the_overfitting_heuristic_at_the_published_speed(sign, direction):
    aug = AdaptiveAugment(target=0.6, speed_kimg=500, interval=4, p=0.5)
    batch = 64
    for step in range(4):
        aug.accumulate(torch.full((batch,), sign))  # r_t = +1 (D sure of the reals) or −1
        r_t = aug.update(batch, step)
    assert r_t == pytest.approx(sign)
    # one adjustment per 4 steps, of (images in those steps) / 500k: 0 → 1 takes 500 kimg
    assert float(aug.p) == pytest.approx(0.5 + direction * batch * 4 / 500_000)


def test_p_is_clamped_to_zero_and_one():
    aug = AdaptiveAugment(speed_kimg=0.001, p=0.99)
    for step in range(8):
        aug.accumulate(torch.ones(4))
        aug.update(4, step)
    assert float(aug.p) == 1.0
    for step in range(8):
        aug.accumulate(-torch.ones(4))
        aug.update(4, step)
    assert float(aug.p) == 0.0


def test_diffaugment_translation_and_cutout():
    x = torch.ones(32, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    cut = DiffAugment("cutout")(x, g)
    erased = (cut == 0).all(dim=1).float().mean(dim=(1, 2))
    assert torch.allclose(erased.max(), torch.tensor(0.25), atol=0.05)  # a half-size square: ≤ 1/4 of the image
    moved = DiffAugment("translation")(x, g)
    assert (moved == 0).any() and moved.shape == x.shape  # shifted-in borders are zero
    colour = DiffAugment("color")(images(), g)
    assert colour.shape == (6, 3, 20, 16)


def test_make_augment_kinds():
    assert isinstance(make_augment("ada"), AdaptiveAugment)
    assert isinstance(make_augment("diffaugment"), DiffAugment)
    assert make_augment("none") is None
    with pytest.raises(ValueError):
        make_augment("mixup")
