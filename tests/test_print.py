"""Printing: exact physical sizes, lossless TIFF with DPI and sRGB, PDF, mock-up and label, atomic on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from belamy.errors import BelamyError
from belamy.models.rrdb import RRDBNet, SRConfig
from belamy.print.label import label_record
from belamy.print.printfile import PrintOptions, crop_to_aspect, make_print, parse_size, side_paths
from belamy.provenance import Record, credit_line
from belamy.provenance.embed import read_provenance, save_png
from belamy.trainer.checkpoint import module_tensors, save_checkpoint
from belamy.upscale.upscaler import choose_upscaler
from belamy.utils.imageio import file_sha256

PROVENANCE = {"generator": "belamy", "arch": "dcgan", "res": 64, "run": "runs/portraits", "kimg": 12.0,
              "checkpoint": "ckpt-000012000.safetensors", "checkpoint_sha256": "c0ffee" * 10 + "abcd", "seed": 42}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sample(tmp_path: Path, size=(64, 64), name="seed-000042.png") -> Path:
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8))
    picture = np.asarray(small.resize(size, Image.Resampling.BICUBIC))
    return save_png(picture, tmp_path / name, PROVENANCE)


@pytest.mark.parametrize(
    "text,dpi,pixels",
    [("70x70cm", 300, (8268, 8268)), ("50x70cm", 300, (5906, 8268)), ("500x700mm", 300, (5906, 8268)),
     ("20x24in", 300, (6000, 7200)), ("2 × 3 in", 100, (200, 300)), ("70X70CM", 150, (4134, 4134)),
     ("1x1cm", 300, (118, 118)), ("10x1000cm", 50, (197, 19685))],
)
def test_print_sizes_in_pixels(text: str, dpi: int, pixels: tuple[int, int]):
    assert parse_size(text).pixels(dpi) == pixels


@pytest.mark.parametrize("text", ["70x70", "70cm", "axbcm", "0x10cm", "70x70km", "20000x20cm", ""])
def test_bad_print_sizes_are_clear_errors(text: str):
    with pytest.raises(BelamyError):
        parse_size(text)


def test_crop_to_aspect_keeps_the_centre():
    img = Image.new("RGB", (300, 100))
    assert crop_to_aspect(img, 1.0).size == (100, 100)
    assert crop_to_aspect(Image.new("RGB", (100, 300)), 0.5).size == (100, 200)


def test_small_print_is_exact_lossless_srgb_and_carries_provenance(tmp_path: Path):
    src = sample(tmp_path)
    out = tmp_path / "print.tif"
    result = make_print(PrintOptions(image=src, out=out, size="2x2in", dpi=100, method="lanczos"))
    assert result.pixels == (200, 200)
    with Image.open(out) as im:
        assert im.format == "TIFF" and im.size == (200, 200) and im.mode == "RGB"
        assert im.info["compression"] in ("tiff_lzw", "tiff_adobe_deflate")
        assert tuple(round(v) for v in im.info["dpi"]) == (100, 100)
        profile = ImageCms.ImageCmsProfile(__import__("io").BytesIO(im.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)
        prov = Record.from_dict(json.loads(im.tag_v2[270]))
    assert prov.seed == 42 and prov.checkpoint_sha256 == PROVENANCE["checkpoint_sha256"]
    step = prov.steps[-1]
    assert step["stage"] == "print" and step["signed"] is True and step["dpi"] == 100 and step["pixels"] == [200, 200]
    assert Record.from_dict(read_provenance(out)).to_dict() == prov.to_dict()  # read back by the usual reader

    mockup, label = side_paths(out)
    assert (result.mockup_path, result.label_path) == (mockup, label)
    with Image.open(mockup) as m, Image.open(label) as lab:
        assert m.size == (1600, 1200) and lab.size[0] > lab.size[1] > 500


def test_signature_goes_on_the_print(tmp_path: Path):
    src = sample(tmp_path)
    opts = dict(image=src, size="3x3in", dpi=100, method="lanczos", mockup=False, label=False)
    make_print(PrintOptions(out=tmp_path / "signed.tif", **opts))
    make_print(PrintOptions(out=tmp_path / "plain.tif", sign=False, **opts))
    a = np.asarray(Image.open(tmp_path / "signed.tif"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "plain.tif"), dtype=int)
    ys, xs = np.nonzero(np.abs(a - b).sum(axis=2))
    assert len(ys) > 100 and ys.min() > 150 and xs.min() > 150  # bottom-right corner of a 300² print
    assert not (tmp_path / "plain.mockup.png").exists()


def test_non_square_cover_and_contain(tmp_path: Path):
    src = sample(tmp_path, size=(64, 64))
    cover = make_print(PrintOptions(image=src, out=tmp_path / "cover.tif", size="50x70mm", dpi=254, method="lanczos",
                                    sign=False, mockup=False, label=False))
    assert cover.pixels == (500, 700)
    contain = make_print(PrintOptions(image=src, out=tmp_path / "contain.tif", size="50x70mm", dpi=254, fit="contain",
                                      method="lanczos", sign=False, mockup=False, label=False))
    arr = np.asarray(Image.open(contain.print_path))
    assert arr.shape == (700, 500, 3)
    assert (arr[:90] == 255).all() and (arr[-90:] == 255).all()  # paper margins above and below the square
    assert arr[350].std() > 5  # the picture itself fills the width
    covered = np.asarray(Image.open(cover.print_path))
    assert covered[:90].std() > 5  # cover: no margins


def test_pdf_has_the_physical_page_size(tmp_path: Path):
    src = sample(tmp_path)
    out = make_print(PrintOptions(image=src, out=tmp_path / "print.pdf", size="2x3in", dpi=100, method="lanczos",
                                  mockup=False)).print_path
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert box and (float(box.group(1)), float(box.group(2))) == (144.0, 216.0)  # 2 × 3 in, in points
    assert side_paths(out)[1].exists()


def test_print_with_the_built_in_sr_network(tmp_path: Path):
    torch.manual_seed(0)
    cfg = SRConfig(scale=4, nf=8, nb=1, gc=8)
    run = tmp_path / "srrun"
    save_checkpoint(run / "checkpoints", 16, module_tensors("G", RRDBNet(cfg)), {"kind": "belamy-sr", "model": cfg.to_dict()})
    src = sample(tmp_path, size=(32, 32))
    result = make_print(PrintOptions(image=src, out=tmp_path / "p.tif", size="2x2in", dpi=100, model=run, device="cpu",
                                     tile=32, overlap=8))
    assert result.pixels == (200, 200)
    prov = Record.from_dict(result.provenance).steps[-1]
    assert prov["stage"] == "print" and prov["upscale"]["method"] == "belamy-sr"
    assert prov["upscale"]["weights_sha256"] == file_sha256(run / "checkpoints" / "ckpt-000000016.safetensors")


def test_print_with_belamys_painting_weights_names_them_on_the_label(tmp_path: Path):
    src = sample(tmp_path, size=(32, 32))
    result = make_print(PrintOptions(image=src, out=tmp_path / "p.tif", size="2x2in", dpi=100, method="painting",
                                     device="cpu", mockup=False, label=False))
    assert result.pixels == (200, 200)
    step = Record.from_dict(result.provenance).steps[-1]
    assert step["upscale"]["method"] == "belamy-painting-sr" and len(step["upscale"]["weights_sha256"]) == 64
    credit = credit_line(PROVENANCE, upscaler=choose_upscaler(method="painting", device="cpu").provenance)
    assert "Enlarged with belamy painting-SR ×4 (RRDB; trained by belamy on" in credit


@pytest.mark.slow
def test_full_size_70cm_print_with_lanczos(tmp_path: Path):
    src = sample(tmp_path, size=(256, 256))
    result = make_print(PrintOptions(image=src, out=tmp_path / "print.tif", method="lanczos", mockup=False, label=False))
    assert result.pixels == (8268, 8268)
    with Image.open(result.print_path) as im:
        assert im.size == (8268, 8268) and tuple(round(v) for v in im.info["dpi"]) == (300, 300)


def test_credit_line_names_model_code_and_corpus(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"corpus": {"path": "/data/portraits", "count": 834}}))
    text = credit_line(label_record({**PROVENANCE, "run": str(run)}), upscaler={"upscaler": "lanczos"},
                       extra="Printed by the lab.")
    for piece in ("Generated by belamy dcgan at 64²", "seed 42", "checkpoint ckpt-000012000 (sha256 c0ffeec0ffee)",
                  "834 paintings from the corpus “portraits”", "Code: belamy", "Apache-2.0", "Enlarged with lanczos.",
                  "Printed by the lab.", "trained 12 kimg (12,000 images shown)",
                  "Network design after DCGAN (Radford, Metz and Chintala 2015), configured as in art-DCGAN by Robbie Barrat."):
        assert piece in text, piece
    assert "without belamy provenance" in credit_line(None)


def credited_corpus(folder: Path) -> Path:
    """Four works: three by Rembrandt (public domain), one whose painter is not known."""
    folder.mkdir(parents=True)
    records = [{"index": i, "source": f"raw/{i}.jpg", "title": f"Study {i}", "artist": "Rembrandt"} for i in range(3)]
    records.append({"index": 3, "source": "raw/3.jpg", "title": "Portrait of a lady"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_the_label_credits_the_corpus_artists_and_public_domain_and_names_the_run(tmp_path: Path):
    corpus = credited_corpus(tmp_path / "demo-output" / "corpus")
    prov = {**PROVENANCE, "run": str(tmp_path / "demo-output" / "run"), "kimg": 30.016,
            "corpus": {"path": str(corpus), "count": 4}}
    text = credit_line(label_record(prov))
    assert "run “demo-output/run”" in text and "run run" not in text
    assert "trained 30 kimg (30,016 images shown)" in text and "30.016 kimg" not in text
    assert ("Trained on 4 paintings from the corpus “corpus”, by 1 artist: Rembrandt (1 unattributed); "
            "3 in the public domain, 0 not yet, 1 unknown.") in text
    # `belamy corpus credits` wrote CORPUS/credits.json: the label reads it (here, with the death year filled in).
    from belamy.corpus.credits import write_credits

    credits = json.loads(write_credits(corpus).to_json())
    credits["works"][3]["public_domain"] = True
    credits["counts"].update(public_domain=4, unknown=0)
    (corpus / "credits.json").write_text(json.dumps(credits))
    assert "Rembrandt (1 unattributed); all in the public domain." in credit_line(label_record(prov))
    # A corpus that is not on this machine is still named, with its size.
    gone = {**prov, "corpus": {"path": "/elsewhere/portraits", "count": 834}}
    assert "834 paintings from the corpus “portraits” (its credits are not on this machine)" in credit_line(label_record(gone))


def test_a_print_past_what_lanczos_can_fill_warns_and_the_label_states_the_resolution(tmp_path: Path, capsys):
    src = sample(tmp_path, size=(64, 64))
    result = make_print(PrintOptions(image=src, out=tmp_path / "p.tif", size="10x10cm", dpi=300, method="lanczos",
                                     mockup=False))
    said = " ".join(capsys.readouterr().err.split())
    assert "warning: 64×64 px enlarged 18× to 1181×1181: Lanczos draws no new detail" in said
    assert "`belamy sr train CORPUS --out SRRUN`, then --model SRRUN" in said and "--weights" in said
    assert "--finish brushwork" in said  # the other route to a print that reads as paint up close
    prov = Record.from_dict(result.provenance).steps[-1]
    assert prov["stage"] == "print" and prov["source_px_per_cm"] == pytest.approx(6.4) and prov["enlargement"] == pytest.approx(18.45, abs=0.01)
    # Two times is within what interpolation fills: no warning.
    make_print(PrintOptions(image=src, out=tmp_path / "small.tif", size="2x2in", dpi=64, method="lanczos",
                            mockup=False, label=False))
    assert "warning" not in capsys.readouterr().err


@pytest.fixture
def label_text(monkeypatch) -> dict:
    """What the next print's wall label says: ``["text"]`` is its LabelText once the label is drawn."""
    from belamy.print import printfile

    seen = {}
    real = printfile.render_label

    def render_label(text, path):
        seen["text"] = text
        return real(text, path)

    monkeypatch.setattr(printfile, "render_label", render_label)
    return seen


def test_the_label_carries_the_effective_resolution(tmp_path: Path, label_text: dict):
    src = sample(tmp_path, size=(64, 64))
    make_print(PrintOptions(image=src, out=tmp_path / "p.tif", size="10x10cm", dpi=300, method="lanczos", mockup=False))
    assert "From 64 × 64 px: 6.4 px per cm (16.3 ppi), enlarged 18× (lanczos)" in label_text["text"].extra
    # A picture larger than the print is reduced, and the label says so rather than "enlarged 0×".
    big = save_png(np.full((512, 512, 3), 128, np.uint8), tmp_path / "big.png", PROVENANCE)
    make_print(PrintOptions(image=big, out=tmp_path / "small.tif", size="2x2in", dpi=100, method="lanczos", mockup=False))
    assert "From 512 × 512 px: 100.8 px per cm (256.0 ppi), reduced to 0.39× (lanczos)" in label_text["text"].extra


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BELAMY_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "belamy", *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    "extra",
    [["--size", "70x70"], ["--dpi", "5"], ["--fit", "stretch"], ["--corner", "middle"], ["--color", "nope"],
     ["--size", "900x900cm", "--dpi", "1200"], ["--method", "bicubic"], ["--finish", "oil"]],
    ids=["size", "dpi", "fit", "corner", "colour", "huge", "method", "finish"],
)
def test_cli_print_errors_are_one_line_and_write_nothing(tmp_path: Path, extra: list[str]):
    src = sample(tmp_path)
    result = run_cli("print", str(src), "--out", str(tmp_path / "p.tif"), *extra)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_cli_print_bad_extension(tmp_path: Path):
    src = sample(tmp_path)
    result = run_cli("print", str(src), "--out", str(tmp_path / "p.jpg"))
    assert result.returncode == 2 and "use .tif" in result.stderr


def test_ctrl_c_leaves_no_half_written_print(tmp_path: Path):
    src = sample(tmp_path, size=(256, 256))
    out = tmp_path / "print.tif"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BELAMY_QUIET": "1"}
    # A test runner started in the background (non-interactive shell, `cmd &`) ignores SIGINT and its
    # children inherit that; Python then installs no KeyboardInterrupt handler. Ctrl-C in a terminal
    # is what is tested, so the child gets the default disposition back.
    proc = subprocess.Popen([sys.executable, "-m", "belamy", "print", str(src), "--out", str(out), "--method", "lanczos"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Wait until the work has started (the size line printed before the enlargement), then interrupt.
        line = proc.stderr.readline()
        assert "8268×8268" in line, line
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]  # no print, no temporary file, no mock-up


def test_a_long_credit_fits_on_the_wall_label_whole(tmp_path: Path):
    # A picture that went through generate, upscale, sign and print carries a long credit line: the
    # label grows taller to hold it instead of cutting its last lines off at the bottom edge.
    src = sample(tmp_path)
    words = " ".join(f"Step {i}: the artist retouched the picture by hand and enlarged it again." for i in range(12))
    done = run_cli("print", str(src), "--out", str(tmp_path / "p.tif"), "--size", "2x2in", "--dpi", "100",
                   "--method", "lanczos", "--label", "--credit", words)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "p.label.png") as lab:
        ink = np.asarray(lab.convert("L"), dtype=np.int16)
    assert ink.shape[0] > 8.0 / 2.54 * 300 + 100  # taller than the standard 12 × 8 cm label
    background = np.median(ink[-5:])
    rows_with_ink = np.flatnonzero((np.abs(ink - background) > 40).any(axis=1))
    assert rows_with_ink[-1] < ink.shape[0] - 0.03 * ink.shape[0]  # a clear margin under the last line


def two_tones(tmp_path: Path) -> Path:
    """A dark left half and a light right half: one contour, and flat paint on either side of it."""
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[:, :32], picture[:, 32:] = (70, 60, 50), (200, 185, 160)
    return save_png(picture, tmp_path / "seed-000042.png", PROVENANCE)


def stroke_direction(marks: np.ndarray) -> tuple[float, float]:
    """The direction marks run in (degrees anticlockwise from horizontal, as seen) and how much they agree (0..1)."""
    gy, gx = np.gradient(marks)
    jxx, jxy, jyy = (gx * gx).mean(), (gx * gy).mean(), (gy * gy).mean()
    across = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))  # image rows run down
    return float((-(across + 90)) % 180), float(np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy))


def luma(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) @ np.array([0.299, 0.587, 0.114])


def test_brushwork_lays_strokes_along_contours_and_hatches_flat_paint(tmp_path: Path):
    src = two_tones(tmp_path)
    args = ["--size", "3x3cm", "--dpi", "300", "--method", "lanczos", "--no-sign", "--no-mockup", "--no-label"]
    for name, extra in (("plain", []), ("brushed", ["--finish", "brushwork"]), ("again", ["--finish", "brushwork"])):
        done = run_cli("print", str(src), "--out", str(tmp_path / f"{name}.tif"), *args, *extra)
        assert done.returncode == 0, done.stderr
    plain, brushed = luma(tmp_path / "plain.tif"), luma(tmp_path / "brushed.tif")
    assert plain.shape == brushed.shape == (354, 354)
    marks = brushed - plain
    edge, flat_light, flat_dark = marks[40:314, 170:184], marks[40:314, 250:340], marks[40:314, 15:100]
    # Without the finish a flat field is flat; with it, it carries marks as deep as a brush's.
    assert plain[40:314, 250:340].std() < 1 and flat_light.std() > 5 and flat_dark.std() > 2
    # Where the picture has no direction the strokes hatch one way (60°); along the contour they follow it.
    for flat in (flat_light, flat_dark):
        angle, agreement = stroke_direction(flat)
        assert abs(angle - 60) < 12 and agreement > 0.7, (angle, agreement)
    angle, agreement = stroke_direction(edge)
    assert abs(angle - 90) < 8 and agreement > 0.9, (angle, agreement)
    # The colour stays: marks lighten as much as they darken.
    assert abs(flat_light.mean()) < 4 and abs(flat_dark.mean()) < 4
    # The same picture and seed give the same print.
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.tif")), np.asarray(Image.open(tmp_path / "brushed.tif")))
    step = Record.from_dict(read_provenance(tmp_path / "brushed.tif")).steps[-1]
    assert step["finish"]["name"] == "brushwork" and step["finish"]["seed"] == 42


def test_brushwork_is_named_on_the_wall_label_and_has_no_tile_seams(tmp_path: Path, label_text: dict):
    from belamy.print.brushwork import paint

    make_print(PrintOptions(image=two_tones(tmp_path), out=tmp_path / "p.tif", size="2x2cm", dpi=300,
                            method="lanczos", finish="brushwork", mockup=False))
    assert any(line.startswith("Brushwork rendered by belamy") and "seed 42" in line for line in label_text["text"].extra)
    # A large print is painted in tiles: the marks must not change where one tile meets the next.
    rng = np.random.default_rng(1)
    picture = np.asarray(Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((320, 320),
                                                                                             Image.Resampling.BICUBIC))
    whole, tiled = paint(picture, 300 / 25.4, tile=1024), paint(picture, 300 / 25.4, tile=96)
    assert (np.abs(whole.astype(int) - tiled.astype(int)) > 2).mean() < 1e-3


def test_a_long_medium_and_the_brushwork_line_stay_inside_the_wall_label(tmp_path: Path):
    medium = "Generative adversarial network; pigment print on cotton canvas, varnished by hand in the studio, 2026"
    done = run_cli("print", str(two_tones(tmp_path)), "--out", str(tmp_path / "p.tif"), "--size", "2x2in", "--dpi", "100",
                   "--method", "lanczos", "--finish", "brushwork", "--medium", medium)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "p.label.png") as lab:
        ink = np.asarray(lab.convert("L"), dtype=np.int16)
    background = np.median(ink[:, -5:])
    columns_with_ink = np.flatnonzero((np.abs(ink - background) > 40).any(axis=0))
    assert columns_with_ink[-1] < ink.shape[1] - 0.04 * ink.shape[1]  # a clear margin right of the longest line
