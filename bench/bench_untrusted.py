"""Hostile inputs against the bounded reader (belamy.utils.untrusted): peak memory and time per refusal.

Builds, in a scratch folder, files of a few hundred bytes made to exhaust memory or time (pickle bombs
of shared parts, a zero-stride tensor claiming 4 GB, a hash bomb, JSON with a 5,000-digit integer or
nested 100,000 deep) and runs the command a user would (`belamy import`, `generate`, `verify`,
`reproduce`) on each, reading the child's own peak RSS from wait4. Then the price of the limits on
honest input: a 12 MB JSON text, and a 120 MB pickle of tensors through the old (C) and the new
(watched, pure-Python) unpickler.

Usage: python bench/bench_untrusted.py [--work /tmp/belamy-untrusted] [--honest-only]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import platform
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path

import torch
from PIL import Image, PngImagePlugin

REPO = Path(__file__).resolve().parents[1]
RECONSTRUCT = b"ctorch_utils.persistence\n_reconstruct_persistent_obj\n"


def text(value: str) -> bytes:
    data = value.encode()
    return b"\x8c" + bytes([len(data)]) + data


def persistent(state_ops: bytes, class_name: str = "Generator") -> bytes:
    """Opcodes building _reconstruct_persistent_obj({"type": "class", "class_name": NAME, "state": STATE})."""
    return (RECONSTRUCT + b"}(" + text("type") + text("class") + text("class_name") + text(class_name)
            + text("state") + state_ops + b"u\x85R")


def tree_bomb(levels: int = 25) -> bytes:
    """A StyleGAN2-ADA generator whose synthesis network names its child block twice, and so on: 2²⁵
    blocks to walk, in a valid-looking snapshot (the names and constructor arguments check)."""

    def module(class_name: str, modules: bytes, kwargs: bytes = b"}") -> bytes:
        return persistent(b"}(" + text("_init_kwargs") + kwargs + text("_modules") + b"}" + modules + b"u", class_name)

    ops = module("SynthesisBlock", b"")
    for i in range(levels):  # MEMOIZE, POP, then a block whose _modules name the last one twice
        ops += b"\x940" + module("SynthesisNetwork" if i == levels - 1 else "SynthesisBlock", b"(" + text("a") + b"h" + bytes([i]) + text("b") + b"h"
                                 + bytes([i]) + b"u")
    kwargs = b"}(" + b"".join(text(k) + b"K" + bytes([v]) for k, v in (("z_dim", 8), ("w_dim", 8), ("c_dim", 0),
                                                                         ("img_resolution", 16), ("img_channels", 3)))
    generator = module("Generator", b"(" + text("mapping") + module("MappingNetwork", b"") + text("synthesis")
                       + ops + b"u", kwargs + b"u")
    return b"\x80\x04}" + text("G_ema") + generator + b"s."


def list_bomb(levels: int = 40) -> bytes:
    """Constructor arguments holding a list of two copies of a list of two copies of ...: 2⁴⁰ values."""
    bomb = b"]"
    for i in range(levels):  # MEMOIZE, POP, EMPTY_LIST, MARK, BINGET i twice, APPENDS
        bomb += b"\x940](h" + bytes([i]) + b"h" + bytes([i]) + b"e"
    return b"\x80\x04}" + text("G_ema") + persistent(b"}" + text("_init_kwargs") + b"}" + text("x") + bomb
                                                     + b"ss") + b"s."


def hash_bomb(levels: int = 40) -> bytes:
    ops = b"\x80\x04})"
    for i in range(levels):
        ops += b"\x94h" + bytes([i]) + b"\x86"
    return ops + b"Ns."


class ZeroStride:
    def __reduce__(self):
        storage = torch.zeros(1).__reduce_ex__(4)[1][0]
        return (torch._utils._rebuild_tensor_v2, (storage, 0, (2**15, 2**15), (0, 0), False, OrderedDict()))


def measured(*args: str) -> tuple[int, str, float, float]:
    env = {**os.environ, "BELAMY_QUIET": "1", "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1",
           "BELAMY_KEYS": "none"}
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "belamy", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env)
    err = child.stderr.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    return os.waitstatus_to_exitcode(status), err.strip()[:110], usage.ru_maxrss / 1024, time.perf_counter() - start


def random_run(folder: Path) -> Path:
    sys.path.insert(0, str(REPO / "src"))
    from belamy.models.registry import get_architecture
    from belamy.trainer.checkpoint import module_tensors, save_checkpoint

    arch = get_architecture("dcgan")
    cfg = arch.make_config(res=16, nz=8, ngf=8, ndf=8)
    save_checkpoint(folder / "checkpoints", 64, module_tensors("G", arch.make_generator(cfg)),
                    {"arch": "dcgan", "model": cfg.to_dict(), "kimg": 0.064})
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/belamy-untrusted"))
    parser.add_argument("--honest-only", action="store_true", help="Only the cost of the limits on honest input.")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    if args.honest_only:
        return honest_cost(work)
    files = {"tree-bomb.pkl": tree_bomb(), "args-bomb.pkl": list_bomb(), "hash-bomb.pkl": hash_bomb(),
             "zero-stride.pkl": pickle.dumps({"G_ema": ZeroStride()}, protocol=4)}
    rows = []
    for name, data in files.items():
        (work / name).write_bytes(data)
        rows.append((f"import {name} ({len(data)} B)", *measured("import", str(work / name), "--out", str(work / "x"))))
    run = random_run(work / "run")
    meta = run / "checkpoints" / "ckpt-000000064.json"
    honest = meta.read_text()
    for label, value in (("5,000-digit kimg", "9" * 5000), ("kimg nested 100,000 deep", "[" * 100_000 + "]" * 100_000)):
        meta.write_text(honest.replace('"kimg": 0.064', f'"kimg": {value}'))
        rows.append((f"generate, {label}", *measured("generate", str(run), "--out", str(work / "out"), "--n", "1",
                                                     "--device", "cpu")))
    meta.write_text(honest)
    for label, value in (("5,000-digit seed", "9" * 5000), ("record nested 100,000 deep", "[" * 100_000 + "]" * 100_000)):
        info = PngImagePlugin.PngInfo()
        info.add_itxt("belamy:provenance", '{"seed": ' + value + "}")
        Image.new("RGB", (8, 8)).save(work / "record.png", pnginfo=info)
        for command in ("verify", "reproduce"):
            rows.append((f"{command}, {label}", *measured(command, str(work / "record.png"))))
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, torch {torch.__version__}")
    print("| input | exit | peak RSS MB | seconds | first line |\n|---|---|---|---|---|")
    for label, code, line, peak, seconds in rows:
        print(f"| {label} | {code} | {peak:.0f} | {seconds:.1f} | {line.replace('|', '/')} |")
    honest_cost(work)


def honest_cost(work: Path) -> None:
    """What the limits cost on input that passes them."""
    sys.path.insert(0, str(REPO / "src"))
    from belamy.importers.safe_unpickle import RestrictedUnpickler, restricted_load
    from belamy.utils.untrusted import loads_json

    doc = json.dumps({"rows": [{"i": i, "x": [i * 0.5, -i, "text"], "name": f"item {i}"} for i in range(120_000)]})
    timings = {}
    for label, parse in (("json.loads", json.loads), ("untrusted.loads_json", lambda t: loads_json(t, "bench"))):
        start = time.perf_counter()
        parse(doc)
        timings[label] = time.perf_counter() - start
    print(f"\n{len(doc) / 1e6:.1f} MB JSON: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    torch.manual_seed(0)
    net = {f"layer{i}": OrderedDict(weight=torch.randn(512, 512, 3, 3) if i % 8 == 0 else torch.randn(512, 512),
                                    bias=torch.randn(512)) for i in range(48)}
    data = pickle.dumps(net, protocol=4)
    old = type("CUnpickler", (pickle.Unpickler,), {"find_class": RestrictedUnpickler.find_class,
                                                      "persistent_load": RestrictedUnpickler.persistent_load})
    for label, load in (("C unpickler, same allowlist (before)", lambda f: old(f).load()),
                        ("watched unpickler + checks (now)", restricted_load)):
        best = min(_timed(load, data) for _ in range(3))
        print(f"{len(data) / 1e6:.0f} MB tensor pickle, {label}: {best:.2f} s")


def _timed(load, data: bytes) -> float:
    start = time.perf_counter()
    load(io.BytesIO(data))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
