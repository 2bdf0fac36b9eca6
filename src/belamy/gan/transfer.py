"""`train --init RUN`: a new run that starts from another run's weights (transfer learning).

The new run takes the source's model config (widths, layer variant, minibatch-std group,
``conv_clamp``), so a model imported from StyleGAN2-ADA fine-tunes as the function it is; width
options given anyway must agree with it, and a class-conditional source needs a corpus with as many
classes. G, D and G_ema are loaded (a source without D or G_ema starts those fresh, or G_ema at G);
optimizers start fresh, as StyleGAN2-ADA's ``--resume`` of a pickle does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torch import nn

from belamy.errors import BelamyError
from belamy.models.registry import canonical_name
from belamy.trainer import checkpoint as ck
from belamy.utils.declared import declarations
from belamy.utils.progress import console

# The common options that set the networks' shapes (checked against the source's when given); an
# architecture's own are those it declares with ``shape=True``.
WIDTH_OPTIONS = ("nz", "ngf", "ndf")


def read_init(source: str | Path) -> tuple[Path, dict]:
    """The source's newest checkpoint (JSON path and metadata), or one clear error."""
    json_path = ck.resolve_checkpoint(Path(source), "latest")
    _, meta = ck.load_checkpoint(json_path)
    if not meta.get("arch") or not isinstance(meta.get("model"), dict):
        raise BelamyError(f"--init {source} has no model description", "give a run made by `belamy train` or `belamy import`")
    return json_path, meta


def _fields_set_by(arch, res: int, explicit: dict, name: str) -> list[str]:
    """Config fields that option ``name`` decides, found by changing it and seeing what moves."""
    base = arch.make_config(res=res, **explicit)
    value = explicit[name]
    for other in (value * 2, max(1, value // 2)):
        if other == value:
            continue
        try:
            moved = arch.make_config(res=res, **{**explicit, name: other})
        except BelamyError:
            continue
        return [f.name for f in dataclasses.fields(base) if getattr(base, f.name) != getattr(moved, f.name)]
    return []


def init_model_config(options, arch, label_names: list[str], fp16: bool):
    """The new run's model config: the --init source's, checked against what the options ask."""
    json_path, meta = read_init(options.init)
    if canonical_name(meta["arch"]) != options.arch:
        raise BelamyError(f"--init {options.init} is a {meta['arch']} model, not {options.arch}",
                          "start from a run of the same --arch")
    cfg = arch.config_from_dict(meta["model"])
    if options.res != cfg.res:
        raise BelamyError(f"--init {options.init} does not fit --res {options.res}: it draws at {cfg.res}",
                          f"drop --res (the new run takes {cfg.res})")
    declared = declarations(*arch.options)
    explicit = {k: options.get(k) for k in (*WIDTH_OPTIONS, *(n for n, o in declared.items() if o.shape))
                if options.get(k) is not None}
    for name in explicit:
        asked = arch.make_config(res=cfg.res, **explicit)
        for field in _fields_set_by(arch, cfg.res, explicit, name):
            if getattr(asked, field) != getattr(cfg, field):
                raise BelamyError(f"--init {options.init} does not fit --{name.replace('_', '-')} {explicit[name]} "
                                  f"(its {field} is {getattr(cfg, field)}, not {getattr(asked, field)})",
                                  "drop the width options: the new run takes the --init model's")
    if getattr(cfg, "aspect", "1:1") != (options.aspect or "1:1"):
        raise BelamyError(f"--init {options.init} draws {cfg.aspect} pictures, not {options.aspect}",
                          f"train with --aspect {cfg.aspect} (the corpus is cropped to it)")
    classes = getattr(cfg, "num_classes", 0)
    if classes != len(label_names):
        have = f"{classes} classes" if classes else "no classes"
        raise BelamyError(f"--init {options.init} has {have}, the corpus labels give {len(label_names)}",
                          "use --labels with as many classes as the source model" if classes else "drop --labels")
    changes: dict = {}
    if classes:
        changes["label_names"] = tuple(label_names)  # the corpus's own names for the source's classes
    if fp16 and hasattr(cfg, "conv_clamp") and cfg.conv_clamp is None:
        changes["conv_clamp"] = 256.0
    # The architecture's other options change the networks without their shapes (e.g. mbstd_group): given, they apply.
    changes.update({name: options.get(name) for name, o in declared.items()
                    if not o.shape and options.get(name) is not None and hasattr(cfg, name)})
    return dataclasses.replace(cfg, **changes) if changes else cfg


def load_init(source: str, nets: dict[str, nn.Module], G: nn.Module) -> None:
    """Load G, D and G_ema from ``source`` into ``nets`` (a missing G_ema starts at G, a missing D fresh)."""
    json_path = ck.resolve_checkpoint(Path(source), "latest")
    tensors, meta = ck.load_checkpoint(json_path)
    fresh = []
    for prefix, module in nets.items():
        if any(k.startswith(prefix + ".") for k in tensors):
            ck.load_module_tensors(prefix, module, tensors, f"{json_path.name} (--init)")
        elif prefix == "G_ema":  # a source without an EMA generator: start the average at its G
            module.load_state_dict(G.state_dict())
        else:
            fresh.append(prefix)
    imported = meta.get("imported_from") or {}
    origin = f" (imported from {imported['file']})" if imported.get("file") else ""
    console.print(f"starting from the weights of {json_path}{origin}, fresh optimizers"
                  + (f"; {' and '.join(fresh)} start fresh" if fresh else ""))
    if imported.get("licence"):
        console.print(f"licence of the source model: {imported['licence']}")
