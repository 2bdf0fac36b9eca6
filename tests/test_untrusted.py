"""JSON a user hands belamy (checkpoint configs, provenance records) built to exhaust it: a 5,000-digit
integer, nesting 100,000 deep. Each command refuses it in one line, exit 2, in little memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import belamy_measured, random_run
from PIL import Image, PngImagePlugin

from belamy.errors import BelamyError
from belamy.generate.sample import generate
from belamy.provenance.embed import PROVENANCE_KEY, read_provenance
from belamy.trainer.checkpoint import load_checkpoint
from belamy.utils.untrusted import loads_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DIGITS = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE = {"digits": (DIGITS, "5,000-digit integer"), "deep": (DEEP, "100,001 levels deep")}


def refused(proc, expected: str) -> bool:
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]


def test_hostile_checkpoint_config_is_one_line_for_generate_and_reproduce(tmp_path: Path):
    run = random_run(tmp_path / "run", res=16, nz=8, ngf=8, ndf=8)
    image = generate(run, tmp_path / "made", n=1, seed=3, device="cpu").images[0]
    meta_path = run / "checkpoints" / "ckpt-000000064.json"
    original = meta_path.read_text()
    assert '"kimg": 0.064' in original
    for name, (value, expected) in HOSTILE.items():
        meta_path.write_text(original.replace('"kimg": 0.064', f'"kimg": {value}'))
        with pytest.raises(BelamyError, match=expected):
            load_checkpoint(meta_path)
        command = ("generate", str(run), "--out", str(tmp_path / "out"), "--n", "1", "--device", "cpu") \
            if name == "digits" else ("reproduce", str(image), "--run", str(run))
        proc = belamy_measured(*command)
        assert refused(proc, expected), (name, proc.stdout, proc.stderr)
        assert proc.peak_mb < 1000, (name, proc.peak_mb)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))


def png_with_record(path: Path, record_text: str) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PROVENANCE_KEY, record_text)
    Image.new("RGB", (8, 8), (90, 40, 20)).save(path, pnginfo=info)
    return path


def test_hostile_provenance_record_is_one_line_for_verify_and_reproduce(tmp_path: Path):
    for name, (value, expected) in HOSTILE.items():
        image = png_with_record(tmp_path / f"{name}.png", '{"format": "belamy-provenance", "seed": ' + value + "}")
        with pytest.raises(BelamyError, match=expected):
            read_provenance(image)
        proc = belamy_measured("verify" if name == "digits" else "reproduce", str(image))
        assert refused(proc, expected), (name, proc.stdout, proc.stderr)
        assert proc.peak_mb < 1000, (name, proc.peak_mb)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": ' + "[" * 65 + "]" * 65 + "}", "levels deep"),
    ("[" + "0," * 1_000_001 + "0]", "values, over"),
    ('{"x": NaN}', "not a number"),
    ('{"x": -Infinity}', "not a number"),
    ('{"x": 1e999}', "beyond float range"),
    ('{"x": -' + "1" * 101 + "}", "101-digit integer"),
])
def test_every_limit_is_checked_before_parsing(text: str, expected: str):
    with pytest.raises(BelamyError, match=expected):
        loads_json(text, "the test text")


def test_what_belamy_writes_reads_back_unchanged():
    data = {"seed": 2**64 - 1, "state": 2**127 + 5, "x": [1.5, -2e-300, {"a": '[{\\"}' * 3}], "deep": [[[[[]]]]]}
    assert loads_json(json.dumps(data), "the test text") == data
    assert loads_json('{"loss": NaN}', "a checkpoint", finite=False)["loss"] != 0


def test_json_lines_files_are_bounded_line_by_line(tmp_path: Path):
    from belamy.utils.atomic import read_jsonl

    path = tmp_path / "manifest.jsonl"
    path.write_text('{"index": 0, "loss": NaN}\n{"index": 1, "x": ' + DEEP + '}\n{"torn": ')
    with pytest.raises(BelamyError, match="a line of manifest.jsonl is nested 100,001 levels deep"):
        read_jsonl(path)
    path.write_text('{"index": 0, "loss": NaN}\n{"torn": ')
    assert [r["index"] for r in read_jsonl(path)] == [0]  # a torn last line is still skipped
