"""The corpus builder: colour and mode handling, orientation, border trimming, names, dedupe, outputs."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from belamy.corpus.build import build_corpus, parse_where
from belamy.corpus.phash import dhash, duplicate_groups, hamming, phash
from belamy.corpus.prepare import PrepareOptions, border_box, prepare_bytes, to_srgb
from belamy.corpus.sources import find_sources, parse_name
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError

SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
PORTRAITS = SHARED_CORPORA / "portraits"


def painting(w: int, h: int, seed: int = 0) -> Image.Image:
    """A textured, colourful stand-in for a painting (no flat areas, no pure black or white)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([
        128 + 80 * np.sin(xx / (7 + seed) + seed),
        128 + 80 * np.cos(yy / (9 + seed)),
        128 + 60 * np.sin((xx + yy) / (11 + 2 * seed)),
    ], axis=-1)
    base += rng.normal(0, 8, base.shape)
    return Image.fromarray(np.clip(base, 30, 225).astype(np.uint8))


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def opts(**kw) -> PrepareOptions:
    return PrepareOptions(**{"size": 32, "min_size": 16, **kw})


# --------------------------------------------------------------------------- names and sidecars


@pytest.mark.parametrize("name, title, year", [
    ("portrait-of-a-young-man-1502.jpg", "Portrait of a young man", 1502),
    ("flora-1520.JPG", "Flora", 1520),
    ("georg-spalatin-1509.jpg!HalfHD.jpg", "Georg spalatin", 1509),
    ("madonna-ca-1480-google-art-project.jpg", "Madonna", 1480),
    ("self-portrait-1889-2.jpg", "Self portrait", 1889),
    ("a-scene-on-the-bridge-2.jpg", "A scene on the bridge", None),
    ("elena-carafa.jpg", "Elena carafa", None),
    ("1010.jpg", None, None),  # a catalogue number is neither a year nor a title
    ("portrait_of_a_lady_0450.png", "Portrait of a lady 0450", None),  # 450 is no painting's year here
])
def test_parse_name_reads_title_and_year(name, title, year):
    assert parse_name(name) == {"title": title, "year": year}


def test_sidecar_metadata_wins_over_the_file_name(tmp_path):
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    painting(40, 40).save(folder / "sub" / "a-lady-1700.png")
    painting(40, 40, 1).save(folder / "b.png")
    (folder / "metadata.jsonl").write_text(
        json.dumps({"file": "sub/a-lady-1700.png", "title": "Portrait of a Lady", "artist": "Anon", "year": 1701})
        + "\n{torn line\n", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"junk")
    found = find_sources([folder])
    assert [f.path.name for f in found] == ["b.png", "a-lady-1700.png"]  # sorted by path, hidden files skipped
    lady = found[1].meta
    assert lady["title"] == "Portrait of a Lady" and lady["year"] == 1701 and lady["artist"] == "Anon"
    assert found[0].meta == {"title": "B", "year": None}


def test_parse_where():
    assert parse_where(["genre=portrait", " style = Baroque "]) == {"genre": "portrait", "style": "Baroque"}
    with pytest.raises(BelamyError):
        parse_where(["genre"])


# --------------------------------------------------------------------------- modes and colour


def test_every_mode_becomes_rgb():
    assert to_srgb(Image.new("L", (4, 4), 77)).getpixel((0, 0)) == (77, 77, 77)
    la = Image.new("LA", (4, 4), (0, 0))  # fully transparent black reads as white paper
    assert to_srgb(la).getpixel((0, 0)) == (255, 255, 255)
    rgba = Image.new("RGBA", (4, 4), (200, 10, 10, 255))
    assert to_srgb(rgba).getpixel((0, 0)) == (200, 10, 10)
    half = to_srgb(Image.new("RGBA", (4, 4), (0, 0, 0, 128))).getpixel((0, 0))
    assert all(120 <= c <= 135 for c in half)
    sixteen = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    assert sixteen.mode.startswith("I;16")
    assert to_srgb(sixteen).getpixel((0, 0)) == (128, 128, 128)
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure magenta + yellow ink = red
    assert to_srgb(cmyk).getpixel((0, 0)) == (255, 0, 0)


def test_palette_transparency_is_composited_on_white():
    p = Image.new("P", (4, 4), 0)
    p.putpalette([10, 20, 30] + [200, 0, 0] * 255)
    p.putpixel((1, 1), 1)
    p.info["transparency"] = 0
    rgb = to_srgb(Image.open(io.BytesIO(encode(p))))
    assert rgb.mode == "RGB"
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((1, 1)) == (200, 0, 0)


def swapped_primaries_profile() -> bytes:
    """An RGB ICC profile like sRGB but with the red and green primaries exchanged."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", data[128:132])[0]
    entries = {bytes(data[132 + 12 * i: 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    r, g = entries[b"rXYZ"], entries[b"gXYZ"]
    data[r + 4: r + 12], data[g + 4: g + 12] = bytes(data[g + 4: g + 12]), bytes(data[r + 4: r + 12])
    data[84:100] = bytes(16)  # the profile ID no longer matches: clear it
    return bytes(data)


def test_embedded_icc_profile_is_honoured():
    im = Image.new("RGB", (64, 64), (200, 0, 0))
    tagged = Image.open(io.BytesIO(encode(im, "PNG", icc_profile=swapped_primaries_profile())))
    out = np.asarray(to_srgb(tagged))
    r, g, b = out[0, 0]
    assert g > 150 and r < 60 and b < 60  # red in that profile's space is green in sRGB
    # Through the whole pipeline, in a JPEG too:
    res = prepare_bytes("x.jpg", encode(im, "JPEG", quality=95, icc_profile=swapped_primaries_profile()), opts())
    assert res.reject is None
    assert res.crops[0].pixels[..., 1].mean() > 150 and res.crops[0].pixels[..., 0].mean() < 60


def test_cmyk_jpeg_with_or_without_a_usable_profile():
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))
    for extra in ({}, {"icc_profile": b"not a profile at all"}):
        res = prepare_bytes("c.jpg", encode(cmyk, "JPEG", quality=95, **extra), opts())
        assert res.reject is None, res.reject
        assert res.mode == "CMYK"
        px = res.crops[0].pixels.reshape(-1, 3).mean(axis=0)
        assert px[0] > 220 and px[1] < 40 and px[2] < 40


def test_16_bit_png_is_scaled_not_clipped():
    arr = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    data = encode(Image.fromarray(arr))
    res = prepare_bytes("g16.png", data, opts(trim=False))
    assert res.reject is None
    px = res.crops[0].pixels
    assert px.dtype == np.uint8 and px.shape == (32, 32, 3)
    assert px.min() < 30 and px.max() > 225 and 100 < px.mean() < 155


# --------------------------------------------------------------------------- orientation, trimming, cropping


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (120, 60), (220, 30, 30))
    im.paste((30, 30, 220), (60, 0, 120, 60))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90° clockwise
    res = prepare_bytes("r.jpg", encode(im, "JPEG", quality=95, exif=exif.tobytes()), opts(crop="none", trim=False))
    assert (res.width, res.height) == (60, 120)
    px = res.crops[0].pixels.astype(int)
    top, bottom = px[2, 16], px[-3, 16]
    assert top[0] > 150 and top[2] < 100  # red ends up on top after rotating clockwise
    assert bottom[2] > 150 and bottom[0] < 100


def test_letterbox_and_white_margins_are_trimmed_but_a_dark_ground_is_not():
    art = np.asarray(painting(160, 90))
    boxed = np.zeros((160, 160, 3), np.uint8)
    boxed[35:125] = art
    box = border_box(boxed)
    assert box[0] == 0 and box[2] == 160
    assert 35 <= box[1] <= 37 and 123 <= box[3] <= 125

    margin = np.full((200, 200, 3), 250, np.uint8)
    margin[20:180, 30:170] = np.asarray(painting(140, 160))
    left, top, right, bottom = border_box(margin)
    assert (left, top, right, bottom) == (30, 20, 170, 180)

    dark = np.asarray(painting(100, 100)).copy()
    dark[:, :40] = np.clip(np.random.default_rng(0).normal(28, 5, (100, 40, 3)), 0, 255)  # painted dark ground
    assert border_box(dark) == (0, 0, 100, 100)


def test_trimmed_letterbox_is_centre_cropped_from_the_picture():
    boxed = Image.new("RGB", (300, 300), (0, 0, 0))
    art = painting(300, 150)
    boxed.paste(art, (0, 75))
    res = prepare_bytes("lb.png", encode(boxed), opts(size=32))
    crop = res.crops[0]
    assert crop.trimmed[1] >= 75 and crop.trimmed[3] >= 75
    assert crop.crop_box[1] >= 75 and crop.crop_box[3] <= 225
    assert crop.pixels.min(axis=2).mean() > 25  # no black bar left in the square


def test_downsampled_square_matches_a_plain_resize():
    im = painting(900, 600)
    res = prepare_bytes("p.jpg", encode(im, "JPEG", quality=95), opts(size=64))
    assert res.reject is None and (res.width, res.height) == (900, 600)
    assert res.crops[0].crop_box == (150, 0, 750, 600)
    reference = np.asarray(im.crop((150, 0, 750, 600)).resize((64, 64), Image.Resampling.LANCZOS), dtype=float)
    assert np.abs(res.crops[0].pixels.astype(float) - reference).mean() < 6  # draft decoding keeps quality


# --------------------------------------------------------------------------- hashes and dedupe


def test_phash_and_dhash_see_copies_as_close_and_different_paintings_as_far():
    a, b = painting(256, 256, 1), painting(256, 256, 2)
    copy = Image.open(io.BytesIO(encode(a.resize((150, 150)), "JPEG", quality=60))).convert("RGB")
    assert hamming(phash(a), phash(copy)) <= 4 and hamming(dhash(a), dhash(copy)) <= 10
    assert hamming(phash(a), phash(b)) > 12


def test_duplicate_groups_by_exact_key_and_by_distance():
    far = (1 << 64) - 1  # every bit differs from 0
    keys = ["a", "b", "a", "c", "d"]
    ph = [0, far, far ^ 0b111, 0b11, far]  # 2 is 3 bits from 1, 3 is 2 bits from 0
    dh = [0, 0, 0, 0, far]  # 4 has pHash equal to 1 but a dHash far away: not a duplicate
    assert duplicate_groups(keys, ph, dh, 4) == [[0, 1, 2, 3]]  # 0=2 exactly, 1~2, 0~3
    assert duplicate_groups(keys, ph, dh, 2) == [[0, 2, 3]]
    assert duplicate_groups(keys, ph, dh, 1) == [[0, 2]]
    assert duplicate_groups(keys, ph, dh, -1) == [[0, 2]]  # -1: exact copies only
    assert duplicate_groups(["x", "y"], [0, 0], [0, 0], -1) == []


@pytest.mark.skipif(not PORTRAITS.is_dir(), reason="needs the shared portraits corpus")
def test_build_merges_a_reencoded_resized_copy_and_keeps_the_larger(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    originals = sorted(PORTRAITS.glob("*.jpg"))[:6]
    for p in originals:
        (src / p.name).write_bytes(p.read_bytes())
    big = Image.open(originals[2]).convert("RGB")
    small = big.resize((big.width * 2 // 3, big.height * 2 // 3), Image.Resampling.BICUBIC)
    small.save(src / "zz-copy.jpg", quality=70)
    (src / "zz-exact.jpg").write_bytes(originals[4].read_bytes())

    report = build_corpus([src], tmp_path / "corpus", size=32, min_size=16, workers=1)
    assert (report.read, report.accepted, report.duplicates) == (8, 6, 2)
    groups = [json.loads(line) for line in (tmp_path / "corpus" / "duplicates.jsonl").read_text().splitlines()]
    kept = {Path(g["kept"]).name: [Path(m).name for m in g["merged"]] for g in groups}
    assert kept[originals[2].name] == ["zz-copy.jpg"]  # the larger original stays
    assert kept[originals[4].name] == ["zz-exact.jpg"]
    corpus = open_corpus(tmp_path / "corpus")
    assert sorted(Path(m["source"]).name for m in corpus.manifest) == sorted(p.name for p in originals)


# --------------------------------------------------------------------------- outputs


def make_folder(folder: Path, n: int = 5, size: int = 80) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        painting(size + 10 * i, size, seed=i + 1).save(folder / f"study-no-{i}-{1800 + i}.png")
    return folder


def test_build_writes_the_corpus_format(tmp_path):
    src = make_folder(tmp_path / "src")
    out = tmp_path / "corpus"
    report = build_corpus([src], out, size=16, min_size=16, workers=1)
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (5, 5, 0, 0)

    info = json.loads((out / "corpus.json").read_text())
    assert info["format"] == "belamy-corpus" and info["version"] == 1
    assert info["size"] == 16 and info["count"] == 5 and info["sources"] == [str(src.resolve())]
    assert info["created"].endswith("Z")

    images = np.load(out / "images.npy", mmap_mode="r")
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8

    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [m["index"] for m in manifest] == list(range(5))
    first = manifest[0]
    assert first["source"] == str(src.resolve() / "study-no-0-1800.png")
    assert first["title"] == "Study no 0" and first["year"] == 1800
    assert (first["width"], first["height"]) == (80, 80)
    assert len(first["sha256"]) == 64
    assert (out / "rejects.jsonl").read_text() == "" and (out / "duplicates.jsonl").read_text() == ""
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > 16 * 2

    corpus = open_corpus(out)
    assert len(corpus) == 5 and corpus.size == 16 and corpus.manifest[4]["year"] == 1804
    np.testing.assert_array_equal(corpus.images[3], images[3])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_parallel_build_equals_serial_build(tmp_path):
    src = make_folder(tmp_path / "src", n=9, size=70)
    build_corpus([src], tmp_path / "a", size=24, min_size=16, workers=1)
    build_corpus([src], tmp_path / "b", size=24, min_size=16, workers=2)
    a, b = open_corpus(tmp_path / "a"), open_corpus(tmp_path / "b")
    np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))
    assert a.manifest == b.manifest


def test_rebuild_replaces_a_corpus_and_a_failed_rebuild_keeps_the_old_one(tmp_path):
    src = make_folder(tmp_path / "src", n=3)
    out = tmp_path / "corpus"
    build_corpus([src], out, size=16, min_size=16, workers=1)
    make_folder(tmp_path / "src", n=4)
    build_corpus([src], out, size=16, min_size=16, workers=1)
    assert len(open_corpus(out)) == 4

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "note.jpg").write_text("not a picture")
    with pytest.raises(BelamyError, match="no usable images"):
        build_corpus([bad], out, size=16, workers=1)
    assert len(open_corpus(out)) == 4  # untouched

    with pytest.raises(BelamyError, match="not a belamy corpus"):
        build_corpus([src], src, size=16, workers=1)  # never overwrite a folder of the user's files


def test_output_inside_the_source_is_not_read_back(tmp_path):
    src = make_folder(tmp_path / "src", n=3)
    build_corpus([src], src / "corpus", size=16, min_size=16, workers=1)
    report = build_corpus([src], src / "corpus", size=16, min_size=16, workers=1)
    assert report.read == 3 and report.rejected == 0


def test_bad_options_and_sources_raise_one_line_errors(tmp_path):
    src = make_folder(tmp_path / "src", n=1)
    for kwargs, match in [({"size": 4}, "--size"), ({"size": 0}, "--size"), ({"crop": "oval"}, "--crop"),
                          ({"dedupe_distance": 99}, "--dedupe-distance"), ({"min_size": 0}, "--min-size")]:
        with pytest.raises(BelamyError, match=match):
            build_corpus([src], tmp_path / "c", **kwargs)
    with pytest.raises(BelamyError, match="source not found"):
        build_corpus([tmp_path / "nope"], tmp_path / "c")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BelamyError, match="no files found"):
        build_corpus([empty], tmp_path / "c")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(BelamyError, match="cannot write|is a file"):
        build_corpus([src], blocker / "corpus", size=16, min_size=16)
    with pytest.raises(BelamyError, match="is a file"):
        build_corpus([src], blocker, size=16, min_size=16)
    assert not (tmp_path / "c").exists()


def test_open_corpus_errors(tmp_path):
    with pytest.raises(BelamyError, match="no corpus at"):
        open_corpus(tmp_path / "missing")
    src = make_folder(tmp_path / "src", n=2)
    out = tmp_path / "corpus"
    build_corpus([src], out, size=16, min_size=16, workers=1)
    np.save(out / "images.npy", np.zeros((0, 16, 16, 3), np.uint8))
    with pytest.raises(BelamyError, match="empty"):
        open_corpus(out)
    (out / "images.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(BelamyError, match="damaged"):
        open_corpus(out)
    np.save(out / "images.npy", np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(BelamyError, match="rebuild"):
        open_corpus(out)  # corpus.json says 16², the array is 8²
    np.save(out / "images.npy", np.zeros((3, 16, 16, 3), np.uint8))
    with pytest.raises(BelamyError, match="rebuild"):
        open_corpus(out)  # 3 images where corpus.json says 2


def test_a_scraped_folder_builds_without_rejecting_the_scraper_state(tmp_path: Path):
    """`belamy corpus scrape` leaves scrape.sqlite (+ -wal/-shm) and metadata.jsonl beside the images."""
    raw = make_folder(tmp_path / "raw", n=3)
    for name in ("scrape.sqlite", "scrape.sqlite-wal", "scrape.sqlite-shm"):
        (raw / name).write_bytes(b"SQLite format 3\x00")
    assert {s.path.name for s in find_sources([raw])}.isdisjoint({"scrape.sqlite", "scrape.sqlite-wal"})
    report = build_corpus([raw], tmp_path / "corpus", size=32, min_size=16)
    assert report.rejected == 0 and report.accepted == 3


def test_write_subset_keeps_the_chosen_images_and_their_labels(tmp_path: Path):
    from conftest import synthetic_styles, write_corpus

    from belamy.corpus.store import write_subset
    from belamy.trainer.data import corpus_labels

    images, labels = synthetic_styles(9, 16)
    full = open_corpus(write_corpus(tmp_path / "full", images, labels))
    sub = open_corpus(write_subset(full, [7, 2, 4], tmp_path / "sub"))
    assert len(sub) == 3 and np.array_equal(np.asarray(sub.images), images[[7, 2, 4]])
    assert corpus_labels(sub.manifest, "folder")[0] == sorted({labels[7], labels[2], labels[4]})
    assert [r["subset_index"] for r in sub.manifest] == [7, 2, 4] and [r["index"] for r in sub.manifest] == [0, 1, 2]
    with pytest.raises(BelamyError, match="must pick"):
        write_subset(full, [9], tmp_path / "bad")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(BelamyError, match="not a belamy corpus"):
        write_subset(full, [0], tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
