"""Checkpoints as safetensors (tensors) + JSON (everything else): no pickle anywhere.

A checkpoint ``ckpt-<nimg>`` counts only once its JSON exists: the tensors are written first,
the JSON last, each atomically, so ``kill -9`` at any moment leaves either a complete checkpoint
or an ignorable orphan.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from belamy.errors import BelamyError
from belamy.utils import untrusted
from belamy.utils.atomic import atomic_path, write_json

FORMAT = "belamy-checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{9})\.json$")


def checkpoint_stem(nimg: int) -> str:
    return f"ckpt-{nimg:09d}"


def save_checkpoint(ckpt_dir: Path, nimg: int, tensors: dict[str, torch.Tensor], meta: dict, keep: int = 3) -> Path:
    """Write ``ckpt-<nimg>.safetensors`` then ``ckpt-<nimg>.json``; keep the newest ``keep``. Returns the JSON path."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stem = checkpoint_stem(nimg)
    contiguous = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(ckpt_dir / f"{stem}.safetensors") as tmp:
        save_file(contiguous, str(tmp), metadata={"format": FORMAT})
    meta = {"format": FORMAT, "version": VERSION, "nimg": nimg, **meta}
    json_path = ckpt_dir / f"{stem}.json"
    write_json(json_path, meta)
    prune_checkpoints(ckpt_dir, keep)
    return json_path


def save_best(ckpt_dir: Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """``best.safetensors`` + ``best.json`` (JSON last), as ``resolve_checkpoint(..., "best")`` expects."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(ckpt_dir / "best.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata={"format": FORMAT})
    json_path = ckpt_dir / "best.json"
    write_json(json_path, {"format": FORMAT, "version": VERSION, **meta})
    return json_path


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoints (JSON and tensors both present), oldest first, as JSON paths."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = _NAME.match(p.name)
        if m and p.with_suffix(".safetensors").exists():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = list_checkpoints(ckpt_dir)
    return found[-1] if found else None


def load_for_resume(root: Path, ckpt_dir: Path, what: str = "run") -> tuple[Path, dict, dict]:
    """(path, tensors, meta) of the newest complete checkpoint of a run that ``--resume`` continues;
    one clear error when there is none."""
    latest = latest_checkpoint(ckpt_dir)
    if latest is None:
        raise BelamyError(f"no checkpoint to resume in {root}", f"drop --resume to start a new {what}")
    tensors, meta = load_checkpoint(latest)
    return latest, tensors, meta


def prune_checkpoints(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints, and orphaned tensor files older than the newest."""
    found = list_checkpoints(ckpt_dir)
    for json_path in found[: max(0, len(found) - max(1, keep))]:
        json_path.with_suffix(".safetensors").unlink(missing_ok=True)
        json_path.unlink(missing_ok=True)


def resolve_checkpoint(path: Path, which: str = "latest") -> Path:
    """Find a checkpoint's JSON path from a run folder, a checkpoints folder or a checkpoint file.

    ``which`` is ``latest``, ``best``, a kimg number (``12`` or ``12.5``) or a file name.
    """
    path = Path(path)
    if not path.exists():
        raise BelamyError(f"no run or checkpoint at {path}", "give a run folder made by `belamy train`")
    if path.is_file():
        json_path = path.with_suffix(".json")
        if not json_path.exists() or not path.with_suffix(".safetensors").exists():
            raise BelamyError(f"{path} is not a complete belamy checkpoint", "it needs both the .safetensors and .json")
        return json_path
    ckpt_dir = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = list_checkpoints(ckpt_dir)
    best = ckpt_dir / "best.json"
    if which == "best":
        if best.exists() and best.with_suffix(".safetensors").exists():
            return best
        raise BelamyError(f"run {path} has no best checkpoint yet", "use --checkpoint latest")
    if not found:
        raise BelamyError(f"no checkpoints in {path}", "train first, or wait for the first snapshot")
    if which == "latest":
        return found[-1]
    candidate = ckpt_dir / which
    for cand in (candidate, candidate.with_suffix(".json")):
        if cand.suffix == ".json" and cand.exists():
            return cand
    if (ckpt_dir / f"{Path(which).stem}.json").exists():
        return ckpt_dir / f"{Path(which).stem}.json"
    try:
        nimg = round(float(which) * 1000)
    except ValueError:
        raise BelamyError(f"unknown checkpoint {which!r}", "use latest, best, a kimg number or a file name") from None
    wanted = ckpt_dir / f"{checkpoint_stem(nimg)}.json"
    if wanted in found:
        return wanted
    kimgs = ", ".join(f"{int(_NAME.match(p.name).group(1)) / 1000:g}" for p in found)
    raise BelamyError(f"no checkpoint at {which} kimg in {path}", f"available: {kimgs}")


def load_checkpoint(json_path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Load a checkpoint's tensors and metadata, with a clear error for anything missing or damaged."""
    json_path = Path(json_path)
    tensor_path = json_path.with_suffix(".safetensors")
    try:
        meta = untrusted.read_json(json_path, f"checkpoint metadata {json_path}", finite=False)
    except FileNotFoundError:
        raise BelamyError(f"checkpoint metadata missing: {json_path}", "is this a belamy run?") from None
    except ValueError as exc:
        raise BelamyError(f"checkpoint metadata is damaged: {json_path} ({exc})", "use an earlier checkpoint") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BelamyError(f"{json_path} is not a belamy checkpoint", "give a file written by `belamy train`")
    try:
        tensors = load_file(str(tensor_path))
    except FileNotFoundError:
        raise BelamyError(f"checkpoint weights missing: {tensor_path}", "use an earlier checkpoint") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise BelamyError(f"checkpoint weights are damaged: {tensor_path} ({exc})", "use an earlier checkpoint") from None
    return tensors, meta


# ----------------------------------------------------------------------------- packing helpers


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module_tensors(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str = "") -> None:
    """Load ``prefix.*`` tensors into ``module``; a shape or key mismatch becomes a one-line error."""
    own = module.state_dict()
    sub = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing = sorted(set(own) - set(sub))
    unexpected = sorted(set(sub) - set(own))
    bad_shape = [k for k in own if k in sub and own[k].shape != sub[k].shape]
    if missing or unexpected or bad_shape:
        detail = (missing or unexpected or bad_shape)[0]
        if not (missing or unexpected):
            detail += f" is {list(sub[detail].shape)} in the file, the network expects {list(own[detail].shape)}"
        raise BelamyError(
            f"checkpoint {source} does not fit this {prefix} network (first mismatch: {detail})",
            "was it trained with another --arch, --res or width?",
        )
    check_finite(sub, f"checkpoint {source}", prefix)
    module.load_state_dict(sub)


def check_finite(tensors: dict[str, torch.Tensor], what: str, prefix: str = "") -> None:
    """Refuse weights holding NaN or infinity: they draw black pictures and train nothing."""
    for name, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            where = f"{prefix}.{name}" if prefix else name
            raise BelamyError(f"{what} holds NaN or infinite values (first: {where})",
                              "it is damaged or comes from a run that diverged: use an earlier checkpoint")


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state dict into tensors (safetensors) and plain values (JSON)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_tensors(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    check_finite({k: v for k, v in tensors.items() if k.startswith(prefix + ".")}, "the checkpoint's optimizer state")
    for name, value in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        pid, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    # Moments come back contiguous; a channels-last parameter needs them in its own layout, because
    # fused optimizers walk parameter and state memory in lockstep.
    params = [p for group in opt.param_groups for p in group["params"]]
    for pid, values in state.items():
        if pid < len(params):
            for key, value in values.items():
                if torch.is_tensor(value) and value.shape == params[pid].shape:
                    values[key] = torch.empty_like(params[pid], dtype=value.dtype).copy_(value)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_tensors(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    return {f"rng.{name}": g.get_state() for name, g in generators.items()}


def restore_rng(generators: dict[str, torch.Generator], tensors: dict[str, torch.Tensor]) -> None:
    for name, g in generators.items():
        key = f"rng.{name}"
        if key in tensors:
            g.set_state(tensors[key])


def numpy_rng_state(rng: np.random.Generator) -> dict:
    """A numpy Generator's state as JSON-safe data."""
    return rng.bit_generator.state


def restore_numpy_rng(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state
