"""Signing: the GAN formula painted into one corner, legible on any ground, any input mode, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from belamy.errors import BelamyError
from belamy.print import signature
from belamy.print.signature import relative_luminance, sign_image, sign_pil, signature_box
from belamy.provenance import Record
from belamy.provenance.embed import read_provenance, save_png


def flat(value, size=(640, 640)) -> Image.Image:
    return Image.new("RGB", size, value)


def changed(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.any(np.asarray(a, dtype=np.int16) != np.asarray(b, dtype=np.int16), axis=2)


def textured(size=320, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(60, 200, (size, size, 3), dtype=np.uint8))


@pytest.mark.parametrize("corner", ["bottom-right", "bottom-left", "top-right", "top-left"])
def test_signature_changes_pixels_only_in_the_chosen_corner(corner: str):
    img = textured()
    signed = sign_pil(img, corner=corner)
    diff = changed(img, signed)
    assert diff.sum() > 200  # something legible was painted
    ys, xs = np.nonzero(diff)
    half = img.width // 2
    bottom, right = corner.startswith("bottom"), corner.endswith("right")
    assert (ys >= half).all() if bottom else (ys < half).all()
    # 0.42 of the width, with a margin: entirely inside the chosen half.
    assert (xs >= img.width * 0.5).all() if right else (xs < img.width * 0.5).all()
    # ...and hugging the corner, not floating in the middle.
    assert (ys.max() > img.height * 0.9) if bottom else (ys.min() < img.height * 0.1)


def signature_colour(img: Image.Image, signed: Image.Image) -> np.ndarray:
    """Mean colour of the pixels the signature changed most (the cores of the strokes)."""
    a, b = np.asarray(img, dtype=np.float64), np.asarray(signed, dtype=np.float64)
    strength = np.abs(a - b).sum(axis=2)
    core = strength >= np.percentile(strength[strength > 0], 95)
    return b[core].mean(axis=0)


def test_auto_colour_is_light_on_dark_and_dark_on_light():
    dark, light = flat((25, 20, 30)), flat((235, 228, 215))
    on_dark = signature_colour(dark, sign_pil(dark))
    on_light = signature_colour(light, sign_pil(light))
    assert relative_luminance(on_dark) > 0.35
    assert relative_luminance(on_light) < 0.1
    # A mid-dark ground that is neither black nor white still gets a readable light paint.
    navy = flat((40, 50, 90))
    assert relative_luminance(signature_colour(navy, sign_pil(navy))) > 0.35


def half_and_half(size=640) -> Image.Image:
    """Cream on the left, near-black on the right: a signature in the corner crosses both."""
    a = np.full((size, size, 3), (232, 224, 206), dtype=np.uint8)
    a[:, int(size * 0.78) :] = (22, 18, 24)
    return Image.fromarray(a)


@pytest.mark.parametrize("style", ["script", "typeset"])
def test_on_a_busy_ground_only_the_strokes_change_and_each_part_reads(style: str):
    """No lighter or darker patch round the letters: the paint itself turns light over the dark passage."""
    img = half_and_half()
    signed = sign_pil(img, style=style)
    x, y, mask = signature_box(img.size, "bottom-right", 0.42, style)
    h, w = mask.shape
    diff = changed(img, signed)
    stroke = np.zeros(diff.shape, dtype=bool)
    stroke[y : y + h, x : x + w] = mask > 0
    assert diff.any() and not (diff & ~stroke).any()  # not one pixel between the letters is touched
    lum = relative_luminance(np.asarray(signed, dtype=np.float64))
    cores = np.zeros(diff.shape, dtype=bool)
    cores[y : y + h, x : x + w] = mask > 0.8
    split = int(img.width * 0.78)
    margin = h  # leave the turn itself out
    on_light, on_dark = cores.copy(), cores.copy()
    on_light[:, split - margin :] = False
    on_dark[:, : split + margin] = False
    assert on_light.sum() > 200 and on_dark.sum() > 20
    ground = relative_luminance(np.asarray(img, dtype=np.float64))

    def contrast(where):  # WCAG ratio between the painted strokes and the ground they lie on
        a, b = lum[where].mean(), ground[where].mean()
        return (max(a, b) + 0.05) / (min(a, b) + 0.05)

    assert lum[on_light].mean() < ground[on_light].mean() and contrast(on_light) > 4.5  # dark paint on cream
    assert lum[on_dark].mean() > ground[on_dark].mean() and contrast(on_dark) > 4.5  # light paint on black


def test_the_script_style_is_the_default_and_typeset_stays(tmp_path: Path):
    img = textured(400)
    script, typeset = sign_pil(img), sign_pil(img, style="typeset")
    assert np.array_equal(np.asarray(script), np.asarray(sign_pil(img, style="script")))
    assert not np.array_equal(np.asarray(script), np.asarray(typeset))
    # Two different drawings of one formula: the script face is not Computer Modern slanted.
    a, b = signature.signature_mask(300, "script") > 0.5, signature.signature_mask(300, "typeset") > 0.5
    assert a.shape != b.shape or (a != b).mean() > 0.05
    src = save_png(np.asarray(img), tmp_path / "in.png", {"seed": 3})
    def style_of(path: Path) -> str:
        return Record.from_dict(read_provenance(path)).steps[-1]["style"]

    assert style_of(sign_image(src, tmp_path / "out.png")) == "script"
    assert style_of(sign_image(src, tmp_path / "t.png", style="typeset")) == "typeset"
    with pytest.raises(BelamyError, match="unknown signature style 'gothic'"):
        sign_pil(img, style="gothic")


def test_the_script_face_ships_as_a_package_and_its_absence_is_a_clear_error(monkeypatch):
    from importlib import metadata

    assert "OFL" in (metadata.metadata("fontpkg-dancing-script").get("License-Expression") or "")
    assert signature.script_font() == "Dancing Script"
    monkeypatch.setattr(signature, "SCRIPT_FONT_PACKAGE", "no_such_font_package")
    signature.script_font.cache_clear()
    signature.signature_mask.cache_clear()
    try:
        with pytest.raises(BelamyError, match="needs the Dancing Script font.*typeset"):
            sign_pil(textured(200))
        sign_pil(textured(200), style="typeset")  # the typeset style needs only matplotlib
    finally:
        signature.script_font.cache_clear()
        signature.signature_mask.cache_clear()


def test_explicit_colour_is_used():
    img = flat((128, 128, 128))
    colour = signature_colour(img, sign_pil(img, color="#ff0000"))
    assert colour[0] > 200 and colour[1] < 60 and colour[2] < 60


def test_size_scales_with_the_image_and_the_option():
    def width(size, fraction=0.42):
        img = textured(size)
        xs = np.nonzero(changed(img, sign_pil(img, width_fraction=fraction)))[1]
        return xs.max() - xs.min()

    small, large = width(200), width(800)
    assert 0.3 * 200 < small < 0.5 * 200
    assert large == pytest.approx(4 * small, rel=0.1)
    assert width(400, 0.8) == pytest.approx(2 * width(400, 0.4), rel=0.1)
    _, _, mask = signature_box((400, 400), "bottom-right", 0.42)
    assert mask.shape[1] == pytest.approx(0.42 * 400, rel=0.1)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_any_input_mode_is_signed(tmp_path: Path, mode: str):
    base = textured(160).convert("L")
    if mode == "RGBA":
        img = textured(160).convert("RGBA")
    elif mode == "P":
        img = textured(160).convert("P")
    elif mode == "I;16":
        img = Image.fromarray(np.asarray(base, dtype=np.uint16) * 257)
    else:
        img = base
    src = tmp_path / f"in-{mode.replace(';', '')}.png"
    img.save(src)
    out = sign_image(src, tmp_path / "out.png")
    signed = Image.open(out)
    assert signed.mode == "RGB" and signed.size == (160, 160)


def test_provenance_is_carried_and_marked_signed(tmp_path: Path):
    src = save_png(np.asarray(textured(128)), tmp_path / "seed.png", {"run": "runs/a", "seed": 7, "checkpoint_sha256": "ab" * 32})
    out = sign_image(src, tmp_path / "signed.png")
    prov = Record.from_dict(read_provenance(out))
    assert prov.seed == 7 and prov.run == "runs/a" and prov.checkpoint_sha256 == "ab" * 32
    assert prov.stages() == ["sign"] and prov.steps[0]["input"] == "seed.png"


@pytest.mark.parametrize("suffix,fmt", [(".jpg", "JPEG"), (".tif", "TIFF"), (".png", "PNG")])
def test_output_format_follows_the_extension(tmp_path: Path, suffix: str, fmt: str):
    src = tmp_path / "in.png"
    textured(96).save(src)
    out = sign_image(src, tmp_path / f"signed{suffix}")
    with Image.open(out) as im:
        assert im.format == fmt


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"corner": "middle"}, "unknown corner"),
        ({"color": "notacolour"}, "unknown colour"),
        ({"width_fraction": 0.0}, "not in"),
        ({"width_fraction": 1.5}, "not in"),
    ],
)
def test_bad_options_are_clear_errors(tmp_path: Path, kwargs: dict, match: str):
    src = tmp_path / "in.png"
    textured(96).save(src)
    with pytest.raises(BelamyError, match=match):
        sign_image(src, tmp_path / "out.png", **kwargs)
    assert not (tmp_path / "out.png").exists()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "make_args",
    [
        lambda src, out, tmp: ["sign", str(tmp / "missing.png"), "--out", str(out)],
        lambda src, out, tmp: ["sign", str(src), "--out", str(out), "--corner", "centre"],
        lambda src, out, tmp: ["sign", str(src), "--out", str(out), "--color", "blurple"],
        lambda src, out, tmp: ["sign", str(src), "--out", str(out), "--size", "0"],
        lambda src, out, tmp: ["sign", str(src), "--out", str(out), "--size", "2"],
        lambda src, out, tmp: ["sign", str(src), "--out", str(tmp / "out.webp2")],
        lambda src, out, tmp: ["sign", str(tmp / "corrupt.png"), "--out", str(out)],
    ],
    ids=["missing", "corner", "colour", "size0", "size2", "format", "corrupt"],
)
def test_cli_errors_are_one_line_exit_2_and_write_nothing(tmp_path: Path, make_args):
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    textured(64).save(src)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = run_cli(*make_args(src, out, tmp_path))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error:")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.png", "in.png"]


def test_cli_unwritable_out_is_one_line(tmp_path: Path):
    src = tmp_path / "in.png"
    textured(64).save(src)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("sign", str(src), "--out", str(blocker / "sub" / "out.png"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_signs(tmp_path: Path):
    src = tmp_path / "in.png"
    textured(200).save(src)
    result = run_cli("sign", str(src), "--out", str(tmp_path / "signed.png"), "--corner", "top-left")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "signed.png")
    diff = changed(Image.open(src).convert("RGB"), Image.open(tmp_path / "signed.png"))
    assert np.nonzero(diff)[0].max() < 100
