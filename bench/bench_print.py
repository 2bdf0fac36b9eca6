"""Time and peak memory to make a 70 × 70 cm, 300 dpi print (8268² px) from a 256² sample, on this machine.

Cases, each in its own child process so that its peak resident memory (``wait4`` rusage) is its own:

* ``belamy-sr``: `belamy print` with the built-in RRDB network (``--model SRRUN``, else random weights
  of the default size: nf 32, 6 blocks, growth 16), tiled, two ×4 passes then Lanczos to 8268²;
* ``lanczos``:  `belamy print --method lanczos`;
* ``brushwork``: the same with ``--finish brushwork`` (brush marks laid over the whole 8268², in tiles);
* ``naive-resize`` (reference): one PIL Lanczos resize 256² -> 8268² and a TIFF save, nothing else;
* ``untiled-pass1`` (reference): the same network run on the whole 256² image in one call (no tiles)
  to 1024²; the second pass (1024² -> 4096²) is not run untiled: its activations alone
  (32 channels × 4096² × 4 bytes = 2 GiB per feature map, several alive) exceed the 4 GiB target;
  the estimate is printed.

Prints figures; asserts nothing.

    python bench/bench_print.py [--model SRRUN] [--sample IMAGE.png] [--cases belamy-sr lanczos ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name

CASES = ("naive-resize", "lanczos", "brushwork", "untiled-pass1", "belamy-sr")
SIDE = 8268




def make_sample(folder: Path, source: Path | None) -> Path:
    import numpy as np
    from PIL import Image

    from belamy.provenance.embed import save_png
    from belamy.utils.imageio import open_rgb

    if source is not None:
        img = open_rgb(source).resize((256, 256), Image.Resampling.LANCZOS)
    else:
        portraits = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "portraits"
        found = sorted(portraits.glob("*.jpg"))[:1] if portraits.is_dir() else []
        if found:
            img = open_rgb(found[0]).resize((256, 256), Image.Resampling.LANCZOS)
        else:
            rng = np.random.default_rng(0)
            img = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).resize((256, 256), Image.Resampling.BICUBIC)
    return save_png(img, folder / "sample.png", {"seed": 0, "generator": "bench"})


def random_sr_run(folder: Path) -> Path:
    import torch

    from belamy.models.rrdb import RRDBNet, SRConfig
    from belamy.trainer.checkpoint import module_tensors, save_checkpoint

    torch.manual_seed(0)
    cfg = SRConfig()
    save_checkpoint(folder / "srrun" / "checkpoints", 0, module_tensors("G", RRDBNet(cfg)),
                    {"kind": "belamy-sr", "model": cfg.to_dict()})
    return folder / "srrun"


def run_case(case: str, sample: Path, out_dir: Path, model: Path | None) -> dict:
    """Runs in the child process."""
    start = time.perf_counter()
    if case == "naive-resize":
        from PIL import Image

        with Image.open(sample) as im:
            big = im.convert("RGB").resize((SIDE, SIDE), Image.Resampling.LANCZOS)
        big.save(out_dir / "naive.tif", compression="tiff_lzw", dpi=(300, 300))
    elif case == "untiled-pass1":
        import numpy as np
        import torch
        from PIL import Image

        from belamy.upscale.upscaler import load_sr_run

        up = load_sr_run(model, device="cpu")
        x = torch.from_numpy(np.array(Image.open(sample).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            y = up.net(x)
        assert y.shape[-1] == 1024
    else:
        from belamy.print.printfile import PrintOptions, make_print

        opts = PrintOptions(image=sample, out=out_dir / f"{case}.tif", size="70x70cm", dpi=300, device="cpu")
        if case in ("lanczos", "brushwork"):
            opts.method = "lanczos"
            opts.finish = "brushwork" if case == "brushwork" else "none"
        else:
            opts.model = model
        result = make_print(opts)
        assert result.pixels == (SIDE, SIDE)
    return {"seconds": time.perf_counter() - start}


def measure(case: str, sample: Path, out_dir: Path, model: Path | None) -> dict:
    """Start a child for ``case``; return its wall time and peak RSS."""
    cmd = [sys.executable, __file__, "--child", case, "--sample", str(sample), "--out-dir", str(out_dir)]
    if model is not None:
        cmd += ["--model", str(model)]
    env = {**os.environ, "BELAMY_QUIET": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"case": case, "error": f"exit {proc.returncode}"}
    inner = json.loads(stdout.strip().splitlines()[-1])
    return {"case": case, "wall_s": wall, "work_s": inner["seconds"], "peak_rss_gib": usage.ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="an SR run (default: random weights of the default size)")
    parser.add_argument("--sample", type=Path, help="the picture to print (resized to 256²)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_case(args.child, args.sample, args.out_dir, args.model)))
        return

    import torch

    with tempfile.TemporaryDirectory(prefix="belamy-bench-print-") as tmp:
        folder = Path(tmp)
        sample = make_sample(folder, args.sample)
        model = args.model or random_sr_run(folder)
        print(f"belamy print benchmark: 256² -> {SIDE}² (70 × 70 cm at 300 dpi)")
        print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"SR model: {'random weights, default size' if args.model is None else args.model}")
        print(f"{'case':<16}{'wall s':>10}{'work s':>10}{'peak RSS GiB':>15}")
        for case in args.cases:
            r = measure(case, sample, folder, model)
            if "error" in r:
                print(f"{case:<16}{r['error']:>35}")
                continue
            print(f"{case:<16}{r['wall_s']:>10.1f}{r['work_s']:>10.1f}{r['peak_rss_gib']:>15.2f}", flush=True)
        activations = 32 * 4096 * 4096 * 4 / 2**30
        print(f"untiled pass 2 (1024² -> 4096²) not run: one 32-channel feature map at 4096² is {activations:.1f} GiB")


if __name__ == "__main__":
    main()
