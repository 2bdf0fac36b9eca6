"""The provenance record: one schema, versioned, that every stage reads and appends to.

A record has five sections and a list of processing steps:

* ``model``: architecture, resolution, run, checkpoint file and SHA-256, config hash, kimg, and the
  parents a model can have (``distilled_from``, ``init``, ``imported_from``);
* ``corpus``: the training corpus: path, image count, manifest SHA-256, sources, credits summary;
* ``code``: belamy's version, the git commit when known, and the lineage of the network design;
* ``generation``: seed, label, truncation, digest of the latent (or grid seeds, travel, walk);
* ``steps``: what happened to the picture since, one dict per stage, oldest first
  (``upscale``, ``sign``, ``print``, ``translate``, ``mockup``...), each with the stage's settings
  and the SHA-256 of the file it read.

Version 1 records (the flat dicts belamy wrote before this schema) are upgraded on reading, so
every PNG belamy ever wrote still says where it came from.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from belamy import __version__
from belamy.errors import BelamyError
from belamy.provenance.c2pa import TRAINED_ALGORITHMIC_MEDIA
from belamy.provenance.embed import read_provenance
from belamy.utils import untrusted
from belamy.utils.imageio import file_sha256

SCHEMA = "belamy-provenance"
VERSION = 2
SECTIONS = ("model", "corpus", "code", "generation")

# The C2PA action each stage's step stands for (https://c2pa.org: standard action names).
STAGE_ACTIONS = {
    "upscale": ("c2pa.resized",),
    "sign": ("c2pa.drawing",),
    "print": ("c2pa.cropped", "c2pa.resized"),
    "translate": ("c2pa.edited",),
    "mockup": ("c2pa.edited",),  # framed on a wall (c2pa.placed would need a second ingredient)
}
# The name a ``belamy-credits`` document (belamy.corpus.credits) gives the works nobody is credited for.
UNKNOWN_ARTIST = "unknown artist"
# Version-1 keys and the section each moves to.
_V1_MODEL = {"arch": "arch", "res": "res", "run": "run", "checkpoint": "checkpoint",
             "checkpoint_sha256": "checkpoint_sha256", "kimg": "kimg"}
_V1_GENERATION = ("seed", "seeds", "label", "truncation", "travel", "rows")


@dataclass
class Record:
    model: dict = field(default_factory=dict)
    corpus: dict = field(default_factory=dict)
    code: dict = field(default_factory=dict)
    generation: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    work: dict = field(default_factory=dict)  # title and artist, once a print names them
    extra: dict = field(default_factory=dict)  # anything else an older or newer writer put there
    _steps_read: int = field(default=0, repr=False, compare=False)

    # ------------------------------------------------------------------ reading and writing

    def to_dict(self) -> dict:
        data = {"schema": SCHEMA, "version": VERSION}
        for name in SECTIONS:
            if getattr(self, name):
                data[name] = copy.deepcopy(getattr(self, name))
        if self.steps:
            data["steps"] = copy.deepcopy(self.steps)
        if self.work:
            data["work"] = dict(self.work)
        data.update({k: v for k, v in self.extra.items() if k not in data})
        return data

    @classmethod
    def from_dict(cls, data: dict | None) -> Record:
        """A record from what a file carried: version 2 as written, version 1 (flat) upgraded, None empty."""
        if not isinstance(data, dict):
            return cls()
        if data.get("schema") == SCHEMA:
            known = {"schema", "version", "steps", "work", *SECTIONS}
            rec = cls(**{name: dict(data.get(name) or {}) for name in SECTIONS},
                      steps=[dict(s) for s in data.get("steps") or [] if isinstance(s, dict)],
                      work=dict(data.get("work") or {}), extra={k: v for k, v in data.items() if k not in known})
        else:
            rec = _upgrade_v1(data)
        rec._steps_read = len(rec.steps)
        return rec

    # ------------------------------------------------------------------ what stages do

    def add_step(self, stage: str, **fields) -> Record:
        """Append a processing step (e.g. ``add_step("upscale", method="lanczos", scale=4)``); returns self."""
        self.steps.append({"stage": stage, **{k: v for k, v in fields.items() if v is not None}})
        return self

    def new_steps(self) -> list[dict]:
        """Steps added since this record was read from its source file."""
        return self.steps[self._steps_read :]

    def c2pa_actions(self) -> list[dict]:
        """C2PA actions for the steps added since reading (a new picture: ``c2pa.created``)."""
        new = self.new_steps()
        if not new:
            return [{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                     "softwareAgent": {"name": "belamy", "version": __version__}}]
        actions = []
        for step in new:
            names = STAGE_ACTIONS.get(step.get("stage", ""), ("c2pa.edited",))
            if step.get("stage") == "print" and step.get("signed"):
                names = (*names, "c2pa.drawing")
            for name in names:
                action = {"action": name, "softwareAgent": {"name": "belamy", "version": __version__},
                          "parameters": {"belamy.stage": step.get("stage")}}
                if step.get("stage") == "translate":
                    action["digitalSourceType"] = TRAINED_ALGORITHMIC_MEDIA
                actions.append(action)
        return actions

    # ------------------------------------------------------------------ what readers ask

    @property
    def is_generated(self) -> bool:
        """Drawn by a belamy model (a generation section, or a model with a checkpoint hash)."""
        return bool(self.model.get("checkpoint_sha256") or self.generation)

    @property
    def run(self) -> str | None:
        return self.model.get("run")

    @property
    def checkpoint(self) -> str | None:
        return self.model.get("checkpoint")

    @property
    def checkpoint_sha256(self) -> str | None:
        return self.model.get("checkpoint_sha256")

    @property
    def seed(self) -> int | None:
        seed = self.generation.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def label(self) -> str | None:
        return self.generation.get("label")

    @property
    def truncation(self) -> float:
        try:
            return float(self.generation.get("truncation", 1.0))
        except (TypeError, ValueError):
            return 1.0

    def stages(self) -> list[str]:
        return [str(s.get("stage")) for s in self.steps]


def _upgrade_v1(old: dict) -> Record:
    """The flat dicts of belamy before the schema: generate, upscale, sign and print wrote these."""
    data = dict(old)
    rec = Record()
    for key, target in _V1_MODEL.items():
        if key in data:
            rec.model[target] = data.pop(key)
    for parent in ("distilled_from", "init", "imported_from"):
        if parent in data:
            rec.model.setdefault("parents", {})[parent] = data.pop(parent)
    corpus = data.pop("corpus", None)
    if isinstance(corpus, dict):
        rec.corpus.update(corpus)
    elif corpus:
        rec.corpus["path"] = str(corpus)
    for key in _V1_GENERATION:
        if key in data:
            rec.generation[key] = data.pop(key)
    data.pop("generator", None)
    upscaled = data.pop("upscaled", None)
    if isinstance(upscaled, dict):
        rec.add_step("upscale", input=upscaled.get("from"), scale=upscaled.get("scale"),
                     **upscaler_fields(upscaled))
    if data.pop("signed_from", None) is not None or data.get("signature"):
        rec.add_step("sign", signature=data.pop("signature", None))
    printed = data.pop("print", None)
    data.pop("signed", None)
    if isinstance(printed, dict):
        rec.add_step("print", size=printed.get("size"), dpi=printed.get("dpi"), pixels=printed.get("pixels"),
                     fit=printed.get("fit"), input=printed.get("source"), upscale=upscaler_fields(printed) or None)
    for key in ("title", "artist"):
        if key in data:
            rec.work[key] = data.pop(key)
    if "mockup_of" in data:
        rec.add_step("mockup", of=data.pop("mockup_of"))
    rec.extra = data
    return rec


def upscaler_fields(d: dict) -> dict:
    """An upscaler description (``Upscaler.provenance``) as step fields: method, weights and their hash."""
    method = d.get("upscaler") or d.get("method")
    out = {"method": method}
    if d.get("architecture"):
        out["architecture"] = d["architecture"]
    weights_sha = d.get("weights_sha256") or d.get("sr_checkpoint_sha256")
    if weights_sha:
        out["weights_sha256"] = weights_sha
    weights = d.get("weights") or d.get("sr_checkpoint")
    if weights:
        out["weights"] = weights
    if d.get("sr_run"):
        out["run"] = d["sr_run"]
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------------- building the sections


def config_sha256(model_config: dict) -> str:
    """A stable hash of a model's JSON config (sorted keys, no spaces)."""
    text = json.dumps(model_config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def latent_sha256(latent) -> str:
    """SHA-256 of a latent as little-endian float32: the seed gave this exact z on this machine."""
    import numpy as np

    arr = latent.detach().cpu().float().numpy() if hasattr(latent, "detach") else np.asarray(latent, dtype=np.float32)
    return hashlib.sha256(np.ascontiguousarray(arr, dtype="<f4").tobytes()).hexdigest()


def model_section(meta: dict, run_dir: Path, checkpoint_file: str, checkpoint_sha256: str) -> dict:
    """The model section from a checkpoint's metadata (as `belamy train` and `belamy distill` write it)."""
    cfg = meta.get("model") or {}
    section = {
        "arch": meta.get("arch"), "res": cfg.get("res"), "run": str(run_dir), "run_name": Path(run_dir).name,
        "checkpoint": checkpoint_file, "checkpoint_sha256": checkpoint_sha256,
        "kimg": meta.get("kimg", meta.get("nimg", 0) / 1000),
    }
    if cfg:
        section["config_sha256"] = config_sha256(cfg)
    parents = {}
    if meta.get("distilled_from"):
        parents["distilled_from"] = meta["distilled_from"]
    init = (meta.get("options") or {}).get("init")
    if init:
        parents["init"] = init
    if meta.get("imported_from"):
        parents["imported_from"] = meta["imported_from"]
    if parents:
        section["parents"] = parents
    return {k: v for k, v in section.items() if v is not None}


def corpus_section(corpus: dict | None, credits: dict | None = None) -> dict:
    """The corpus section: what run.json says (path, count), checked against the corpus folder when it is here.

    ``credits`` is a ``belamy-credits`` document (CORPUS/credits.json); without one, credits.json is read
    from the corpus folder if it is there.
    """
    section = dict(corpus or {})
    path = Path(section["path"]) if section.get("path") else None
    if path is not None:
        section.setdefault("name", path.name)
        manifest = path / "manifest.jsonl"
        if "manifest_sha256" not in section and manifest.is_file():
            section["manifest_sha256"] = file_sha256(manifest)
        info = _read_json(path / "corpus.json")
        if info:
            section.setdefault("count", info.get("count"))
            if info.get("sources"):
                section.setdefault("source", [str(s) for s in info["sources"]])
        if credits is None:
            credits = _read_json(path / "credits.json")
        if (path / "credits.md").is_file():
            section["credits_list"] = str(path / "credits.md")
        elif (path / "credits.json").is_file():
            section["credits_list"] = str(path / "credits.json")
    if credits:
        section["credits"] = credits_summary(credits)
    return {k: v for k, v in section.items() if v is not None}


def credits_summary(credits: dict, top: int = 12) -> dict:
    """Counts and the best-represented artists of a ``belamy-credits`` document (``unattributed``: the works
    of no known artist, which the document lists as one artist, ``UNKNOWN_ARTIST``)."""
    counts = dict(credits.get("counts") or {})
    artists = [a for a in credits.get("artists") or [] if isinstance(a, dict)]
    summary = {
        "works": counts.get("works"), "artists": counts.get("artists", len(artists)),
        "public_domain": counts.get("public_domain"), "not_public_domain": counts.get("not_public_domain"),
        "unknown": counts.get("unknown"), "rule": credits.get("rule"),
        "unattributed": sum(count_of(a.get("works")) for a in artists if a.get("name") in (None, "", UNKNOWN_ARTIST)),
        "top_artists": [{"name": a.get("name"), "works": a.get("works"), "public_domain": a.get("public_domain")}
                        for a in artists[:top]],
    }
    return {k: v for k, v in summary.items() if v is not None}


def count_of(value) -> int:
    """A count as a record or credits document states it; 0 for anything that is not a whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def code_section(arch: str | None) -> dict:
    section = {"belamy": __version__}
    commit = git_commit()
    if commit:
        section["git_commit"] = commit
    design = architecture_design(arch)
    if design:
        section["design"] = design
    return section


def architecture_design(arch: str | None) -> str | None:
    """Whose network design ``arch`` follows, as its architecture declares; None for a name belamy does
    not register (an imported or since-renamed network: its picture still gets a credit line)."""
    if not arch:
        return None
    from belamy.models.registry import get_architecture  # builds torch modules: only when asked

    try:
        return get_architecture(str(arch)).design or None
    except BelamyError:
        return None


@functools.cache
def git_commit() -> str | None:
    """The commit of the belamy source tree being run, when it is a git checkout (not an installed wheel)."""
    here = Path(__file__).resolve().parent
    root = next((p for p in here.parents if (p / ".git").exists()), None)
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def generation_section(seed: int | None = None, label: str | None = None, truncation: float | None = None,
                       latent=None, **extra) -> dict:
    section = {"seed": seed, "label": label, "truncation": truncation}
    if latent is not None:
        section["latent_sha256"] = latent_sha256(latent)
    section.update(extra)
    return {k: v for k, v in section.items() if v is not None}


def _read_json(path: Path) -> dict | None:
    try:
        data = untrusted.read_json(path, str(path), untrusted.CORPUS_WIDE, finite=False)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_record(path: str | Path) -> Record:
    """The record an image carries (PNG iTXt, TIFF description, or the C2PA manifest); empty when none."""
    try:
        return Record.from_dict(read_provenance(path))
    except (OSError, ValueError):
        return Record()


def derive(source: str | Path, stage: str, **fields) -> Record:
    """The record of a picture made from ``source`` by ``stage``: the source's record and one more step.

    ``fields`` are the stage's settings; the source's file name and SHA-256 are added as ``input`` and
    ``input_sha256``. This is what `belamy upscale`, `sign`, `print` and `translate` write.
    """
    source = Path(source)
    rec = read_record(source)
    sha = file_sha256(source) if source.is_file() else None
    return rec.add_step(stage, input=source.name, input_sha256=sha, **fields)
