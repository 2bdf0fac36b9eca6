"""GPU proof: speed, quality and the multi-process paths of belamy, measured in one run under a time limit.

    python3 bench/gpu_proof.py --out OUT [--limit 540] [--corpus PORTRAITS] [--tiny]

On whatever device it finds (a CUDA GPU, else the CPU at tiny sizes: the CPU rehearsal the tests
run), it measures, in order of value, within ``--limit`` seconds in all:

  training    s/kimg of dcgan, fastgan and stylegan2 (256², batch 32), beside a plain PyTorch DCGAN loop
  generation  img/s at 256² and 1024² (stylegan2, random weights of config-f), PyTorch and ONNX Runtime
  ddp         torchrun: one step-for-step check against a single process of the same global batch, and
              a real `belamy train` run (NCCL over N ≥ 2 GPUs; 2 processes with gloo on one GPU or a CPU)
  resume      kill -9 of a training run, then --resume: the same weights as the run never killed
  quality     3 minutes of `--preset auto` at 128² on the portraits, scored on the held-out fifth,
              and its contact sheet

and the peak GPU memory of each. It writes OUT/gpu-proof.json after every item (atomically: a kill
keeps what was measured) and OUT/contact-sheet.png. Each item runs in a worker process under its own
deadline; one that fails, or does not finish in time, is recorded with the reason and the figures it
had reached, and the others go on. Items the limit leaves no time for are recorded as not reached.
The paintings: --corpus (a folder of images, or a corpus built at the quality resolution), else on a
GPU the first of DEFAULT_CORPORA that exists; the CPU rehearsal trains on synthetic pictures without one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
DEFAULT_CORPORA = (REPO / "shared" / "corpora" / "portraits", REPO.parent / "shared" / "corpora" / "portraits",
                   REPO / "bench" / "out" / "portraits-128")
# Items in order of value, each with the share of the limit it may take at most (per size: at tiny
# sizes starting processes is most of the cost); time an item leaves unused goes to those after it,
# and the last takes what is left.
SHARES = {"full": {"training": 0.12, "generation": 0.18, "ddp": 0.18, "resume": 0.12, "quality": 1.0},
          "tiny": {"training": 0.15, "generation": 0.2, "ddp": 0.5, "resume": 0.35, "quality": 1.0}}
ITEM_NAMES = list(SHARES["full"])
GRACE_S = 3.0  # past an item's deadline before the worker is killed: its own timeouts fire first
MIN_START_S = 2.0  # less time than this left: the remaining items are not reached


def child_env() -> dict:
    """The environment of every process the proof starts: this checkout's belamy first, quiet."""
    path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, BELAMY_QUIET="1", PYTHONUNBUFFERED="1")


def item_deadline(name: str, sizes: str, limit: float, start: float, now: float) -> float:
    return min(start + limit, now + SHARES[sizes][name] * limit)


# ---------------------------------------------------------------- the parent: deadlines and the JSON


def write_report(out: Path, report: dict) -> None:
    from belamy.utils.atomic import write_json

    write_json(out / "gpu-proof.json", report)


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_proof(out: Path, limit: float, corpus: Path | None, tiny: bool) -> dict:
    start = time.time()
    states = out / "items"
    states.mkdir(parents=True, exist_ok=True)
    for old in states.glob("*.json"):
        old.unlink()
    report = {"device": None, "limit_s": limit, "elapsed_s": 0.0, "items": {}, "contact_sheet": None}
    remaining = list(ITEM_NAMES)
    log = open(out / "worker.log", "ab")  # noqa: SIM115 - every worker appends to it
    worker = None
    # SIGTERM (a timeout from outside) stops the worker too: it runs in its own session, so that it and
    # everything it starts can be killed together, and would outlive this process otherwise.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        while remaining:
            if start + limit - time.time() < MIN_START_S:
                break
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--out", str(out), "--limit", str(limit),
                       "--start", str(start), "--items", ",".join(remaining)]
            command += ["--tiny"] if tiny else []
            command += ["--corpus", str(corpus)] if corpus else []
            worker = subprocess.Popen(command, env=child_env(), stdout=log, stderr=log, start_new_session=True)
            remaining = watch(worker, remaining, states, report, out, limit, start)
    finally:
        if worker is not None and worker.poll() is None:
            stop(worker)
        log.close()
    for name in remaining:
        report["items"][name] = {"status": "not reached", "reason": f"the {limit:g} s limit was spent before it"}
    report["device"] = report["device"] or device_seen_from_outside()
    finish(report, out, start)
    return report


def watch(worker: subprocess.Popen, remaining: list[str], states: Path, report: dict, out: Path, limit: float,
          start: float) -> list[str]:
    """Follow one worker through the items it runs; returns the items still to run when it is gone."""
    while True:
        exited = worker.poll() is not None
        if report["device"] is None and (device := read_state(states / "device.json")):
            report["device"] = device
        running = None
        for name in list(remaining):
            state = read_state(states / f"{name}.json")
            if state is None:
                break
            if state["status"] == "running":
                running = name, state
                break
            report["items"][name] = state
            remaining.remove(name)
            finish(report, out, start)
        out_of_time = time.time() > start + limit
        if running:
            name, state = running
            sizes = (report["device"] or {}).get("sizes", "full")
            deadline = min(item_deadline(name, sizes, limit, start, state["started"]) + GRACE_S, start + limit)
            if exited or time.time() > deadline:
                stop(worker)
                why = (f"its worker process died (exit {worker.returncode}); see worker.log" if exited else
                       f"did not finish within its {deadline - state['started']:.0f} s")
                report["items"][name] = {**state, "status": "failed" if exited else "timed out", "reason": why,
                                         "seconds": round(time.time() - state["started"], 1)}
                remaining.remove(name)
                finish(report, out, start)
                return remaining
        elif exited:
            if remaining:  # it died before starting the next item: that one fails, the others get a new worker
                report["items"][remaining.pop(0)] = {"status": "failed", "reason": f"the worker exited "
                                                     f"({worker.returncode}) before starting it; see worker.log"}
            return remaining
        elif out_of_time:
            stop(worker)
            return remaining
        time.sleep(0.2)


def stop(worker: subprocess.Popen) -> None:
    """Kill the worker and everything it started (torchrun, training processes)."""
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait()


def device_seen_from_outside() -> dict:
    """The device, named without torch: for a limit too short for the worker to start and name it."""
    from machine import cpu_name

    try:
        gpus = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        gpus = []
    gpus = [g.strip() for g in gpus if g.strip()]
    return {"type": "cuda" if gpus else "cpu", "name": gpus[0] if gpus else cpu_name(), "gpus": len(gpus),
            "cpu": cpu_name(), "sizes": None, "note": "named by the parent: no worker started within the limit"}


def finish(report: dict, out: Path, start: float) -> None:
    report["elapsed_s"] = round(time.time() - start, 1)
    sheet = out / "contact-sheet.png"
    report["contact_sheet"] = sheet.name if sheet.exists() else None
    write_report(out, report)


# ---------------------------------------------------------------- the worker: one item after another


def run_worker(args) -> None:
    import torch
    from gpu_proof_items import ITEMS, ProofContext, describe_device, peak_gpu_mib, reset_peak

    from belamy.utils.atomic import write_json

    states = args.out / "items"
    ctx = ProofContext.make(args.out, args.corpus, args.tiny, DEFAULT_CORPORA)
    if not (states / "device.json").exists():
        write_json(states / "device.json", describe_device(ctx))
    threads = torch.get_num_threads()
    for name in args.items.split(","):
        torch.set_num_threads(threads)  # an item may change it (the exhibit's engine does)
        path = states / f"{name}.json"
        started = time.time()
        state = {"status": "running", "started": started}
        write_json(path, state)

        def note(key: str, value, state=state, path=path) -> None:
            state[key] = value
            write_json(path, state)

        ctx.deadline = item_deadline(name, ctx.sizes.name, args.limit, args.start, started)
        reset_peak(ctx)
        try:
            state.update(ITEMS[name](ctx, note))
            state["status"] = "ok"
        except Exception as exc:  # recorded, and the next item runs
            state.update(status="failed", reason=f"{type(exc).__name__}: {exc}".strip(),
                         traceback=traceback.format_exc(limit=4)[-1500:])
        state["seconds"] = round(time.time() - started, 1)
        state.setdefault("peak_gpu_mib", peak_gpu_mib(ctx))  # an item measured in parts gives its own
        write_json(path, state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu-proof.json and contact-sheet.png")
    parser.add_argument("--limit", type=float, default=540.0, help="seconds for all the items together")
    parser.add_argument("--corpus", type=Path, help="the portraits: a folder of paintings or a built corpus "
                        f"(default on a GPU: the first of {', '.join(str(p) for p in DEFAULT_CORPORA)} that exists)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes even on a GPU (the CPU's always)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--items", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))  # this checkout's belamy, installed or not
    if args.worker:
        run_worker(args)
        return
    if args.limit <= 0:
        parser.error("--limit must be a positive number of seconds")
    args.out.mkdir(parents=True, exist_ok=True)
    report = run_proof(args.out.resolve(), args.limit, args.corpus.resolve() if args.corpus else None, args.tiny)
    for name, item in report["items"].items():
        print(f"{name:<11} {item['status']:<12} {item.get('reason', '')}")
    print(f"{args.out / 'gpu-proof.json'} ({report['elapsed_s']:g} s)")


if __name__ == "__main__":
    main()
