"""Progress in a log: with output to a file or a pipe there is no bar, so each tick line is whole and carries the ETA."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORK = textwrap.dedent("""
    import time
    from belamy.utils.progress import console, make_progress

    with make_progress("img") as progress:
        task = progress.add_task("train", total=400)
        for step in range(1, 401):
            time.sleep(0.002)
            progress.update(task, completed=step)
            if step % 100 == 0:
                console.print(f"tick {step // 100:<4d} kimg {step / 1000:8.1f}  " + "loss_G  0.812  loss_D  1.204  " * 4)
        console.print("stopped here: a message that is not a tick line, and is long enough to wrap at eighty columns")
""")


def test_tick_lines_in_a_log_file_stay_whole_and_carry_the_eta(tmp_path: Path):
    log = tmp_path / "train.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": ""}
    env.pop("COLUMNS")
    env.pop("BELAMY_QUIET", None)  # not quiet by request: quiet because stderr is a file
    with open(log, "w") as fh:
        subprocess.run([sys.executable, "-c", WORK], stderr=fh, stdout=subprocess.DEVNULL, env=env, check=True, timeout=120)
    lines = log.read_text().splitlines()
    ticks = [line for line in lines if line.startswith("tick")]
    assert len(ticks) == 4 and len(lines) == 5  # one line per message: nothing wrapped at 80 columns
    assert all(len(line) > 120 for line in ticks)
    etas = [re.search(r"  ETA (\d+:\d\d:\d\d)$", line) for line in ticks]
    assert all(etas), ticks
    assert etas[-1].group(1) == "0:00:00"  # the last tick is the end of the work
    assert "ETA" not in lines[-1]  # other messages are left as they were written
