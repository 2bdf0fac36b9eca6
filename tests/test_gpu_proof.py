"""bench/gpu_proof.py, the GPU proof, rehearsed on the CPU at tiny sizes: every item reports figures or why not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_proof.py"
ITEMS = {"training": "rows", "generation": "rows", "ddp": "same_as_one_process", "resume": "bitwise_equal",
         "quality": "swd_heldout"}  # each item, and a figure it reports when it ran
STATUSES = {"ok", "failed", "timed out", "not reached"}


def run_proof(out: Path, limit: float) -> tuple[subprocess.CompletedProcess, dict]:
    env = dict(os.environ, OMP_NUM_THREADS="1", BELAMY_QUIET="1")
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--limit", str(limit)], env=env,
                          capture_output=True, text=True, timeout=limit + 60)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads((out / "gpu-proof.json").read_text())


def check_report(report: dict, limit: float) -> None:
    assert report["limit_s"] == limit
    assert report["device"]["type"] == "cpu" and report["device"]["name"]
    assert set(report["items"]) == set(ITEMS)
    for name, item in report["items"].items():
        assert item["status"] in STATUSES, (name, item)
        if item["status"] == "ok":
            assert ITEMS[name] in item and "peak_gpu_mib" in item, (name, item)
        else:
            assert item["reason"], (name, item)


@pytest.mark.slow
def test_cpu_rehearsal_reports_every_item_within_a_minute(tmp_path: Path):
    done, report = run_proof(tmp_path, 60)
    check_report(report, 60)
    assert report["device"]["sizes"] == "tiny"
    for name in ITEMS:  # the summary names each item and what became of it
        assert f"{name} " in done.stdout
    items = report["items"]
    if items["training"]["status"] == "ok":
        rows = items["training"]["rows"]
        assert set(rows) == {"dcgan", "plain_pytorch_dcgan", "fastgan", "stylegan2"}
        assert all(row["s_per_kimg"] > 0 for row in rows.values())
    if items["ddp"]["status"] == "ok":
        assert items["ddp"]["backend"] == "gloo" and items["ddp"]["ranks_end_identical"]
        assert items["ddp"]["same_as_one_process"]["within_tolerance"]
    if items["resume"]["status"] == "ok":
        assert items["resume"]["bitwise_equal"]
    if items["quality"]["status"] == "ok":
        assert report["contact_sheet"] == "contact-sheet.png"
        assert Image.open(tmp_path / "contact-sheet.png").size[0] > items["quality"]["res"]


def test_a_short_limit_records_what_it_could_not_reach(tmp_path: Path):
    """Items cut by their deadline or left no time are in the JSON with the reason; nothing hangs."""
    _, report = run_proof(tmp_path, 4)
    check_report(report, 4)
    assert any(item["status"] in ("timed out", "not reached") for item in report["items"].values())


def test_a_limit_that_is_not_positive_is_refused(tmp_path: Path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--limit", "0"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--limit must be a positive number" in done.stderr
    assert not (tmp_path / "gpu-proof.json").exists()
