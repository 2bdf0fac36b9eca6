"""Ranking a folder of candidates by the learned taste or by the discriminator, and keeping the best."""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from belamy.curate.db import DB_NAME, IMAGE_SUFFIXES, Candidate, DecisionDB, is_sheet
from belamy.curate.features import DiscriminatorCache, find_checkpoint
from belamy.curate.preference import FeatureSource, PreferenceModel, train_preference
from belamy.errors import BelamyError
from belamy.provenance.embed import read_provenance
from belamy.provenance.record import Record
from belamy.utils.atomic import atomic_path, write_text
from belamy.utils.imageio import file_sha256, open_rgb

RANK_BY = ("preference", "discriminator")


@dataclass
class RankResult:
    ranking: list[tuple[Path, float]]  # every image, best first
    selected: list[Path]  # the copies written into the output folder
    csv_path: Path
    model: PreferenceModel | None


def find_db(start: Path) -> Path | None:
    """The nearest ``belamy-studio.sqlite`` in ``start`` or a folder above it (as git finds .git)."""
    for folder in [Path(start).resolve(), *Path(start).resolve().parents]:
        if (folder / DB_NAME).is_file():
            return folder / DB_NAME
    return None


def folder_candidates(folder: Path) -> list[Candidate]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BelamyError(f"no folder of candidates at {folder}", "give a folder of PNGs, e.g. from `belamy generate`")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise BelamyError(f"{folder} holds no images", "give a folder of PNG or JPEG candidates")
    out = []
    for p in files:
        try:
            prov = read_provenance(p) if p.suffix.lower() == ".png" else None
        except Exception:
            prov = None
        prov = prov if isinstance(prov, dict) else None
        if is_sheet(prov):
            continue
        rec = Record.from_dict(prov)
        out.append(Candidate(file_sha256(p), str(p.resolve()), folder.name, rec.run, rec.checkpoint,
                             rec.checkpoint_sha256, rec.seed, prov))
    return out


def taste_scores(items: list[Candidate], db_path: Path) -> tuple[np.ndarray, PreferenceModel]:
    db = DecisionDB(db_path)
    features = FeatureSource(db.root, db)
    model = train_preference(db, features)
    if model is None:
        raise BelamyError(f"no taste learned yet in {db_path}",
                          "keep and reject a few dozen candidates in `belamy studio` first (at least 2 of each)")
    return model.score(items, features), model


def discriminator_scores(items: list[Candidate], extra_roots: list[Path]) -> np.ndarray:
    cache = DiscriminatorCache()
    scores = np.empty(len(items))
    for i, c in enumerate(items):
        ckpt = find_checkpoint(c.provenance, extra_roots)
        if ckpt is None:
            raise BelamyError(f"{Path(c.path).name} does not say which checkpoint made it, or that checkpoint is gone",
                              "rank images made by `belamy generate` while their run folder exists, or use --by preference")
        scores[i] = cache.get(ckpt).logits([open_rgb(c.path)])[0]
    return scores


def rank_folder(folder: Path, by: str = "preference", top: int = 16, out: Path | None = None,
                db: Path | None = None) -> RankResult:
    """Score every image in ``folder``, write ``ranking.csv`` and copy the best ``top`` into ``out``."""
    if by not in RANK_BY:
        raise BelamyError(f"--by {by} is not known", "use preference or discriminator")
    if top < 1:
        raise BelamyError(f"--top {top} is not valid", "keep at least 1 image")
    folder = Path(folder)
    out = Path(out) if out else folder / "selected"
    if out.resolve() == folder.resolve():
        raise BelamyError("--out is the folder being ranked", "choose another folder for the selection")
    items = folder_candidates(folder)
    model = None
    if by == "preference":
        db_path = Path(db) if db else find_db(folder)
        if db_path is None or not db_path.is_file():
            raise BelamyError(f"no decisions database found for {folder}",
                              f"pass --db PATH to a {DB_NAME} (made by `belamy studio`)")
        scores, model = taste_scores(items, db_path)
    else:
        scores = discriminator_scores(items, [folder.parent, folder.parent.parent])
    order = np.argsort(-scores, kind="stable")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BelamyError(f"cannot write to {out}: {exc.strerror or exc}", "choose another --out") from None
    selected = []
    for rank, i in enumerate(order[:top], start=1):
        src = Path(items[i].path)
        target = out / f"{rank:04d}-{src.name}"
        with atomic_path(target) as tmp:
            shutil.copyfile(src, tmp)
        selected.append(target)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["rank", "file", "score", "selected", "sha256", "run", "checkpoint", "seed"])
    for rank, i in enumerate(order, start=1):
        c = items[i]
        writer.writerow([rank, Path(c.path).name, f"{scores[i]:.6f}", int(rank <= top), c.hash, c.run or "",
                         c.checkpoint or "", "" if c.seed is None else c.seed])
    csv_path = out / "ranking.csv"
    write_text(csv_path, buf.getvalue())
    ranking = [(Path(items[i].path), float(scores[i])) for i in order]
    return RankResult(ranking, selected, csv_path, model)


def generate_curated(run: Path, out: Path, keep: int, oversample: int = 8, seed: int = 0, checkpoint: str = "latest",
                     device: str = "auto", db: Path | None = None, truncation: float = 1.0, label: str | None = None,
                     pool_size: int | None = None, grid: bool = False) -> RankResult:
    """Draw ``pool_size`` (default ``keep × oversample``) candidates into ``out/pool`` — with the same ψ, class
    and seeds ``generate`` would use — and keep the ``keep`` best by the learned taste in ``out``
    (with ``grid``, also ``out/grid.png`` of the kept ones, best first)."""
    from belamy.generate.sample import generate

    if keep < 1:
        raise BelamyError(f"--curate {keep} is not valid", "keep at least 1 image")
    if oversample < 1:
        raise BelamyError(f"oversample {oversample} is not valid", "draw at least as many as you keep")
    pool_size = keep * oversample if pool_size is None else pool_size
    if pool_size < keep:
        raise BelamyError(f"--n {pool_size} candidates cannot give --curate {keep}",
                          f"draw at least as many as you keep, e.g. --n {keep * oversample}")
    db_path = Path(db) if db else find_db(Path(out).resolve().parent) or find_db(Path.cwd())
    if db_path is None:
        raise BelamyError("no decisions database to learn the taste from",
                          f"pass --db PATH to a {DB_NAME}, made by curating in `belamy studio`")
    pool = Path(out) / "pool"
    generate(run, pool, n=pool_size, seed=seed, checkpoint=checkpoint, device=device, truncation=truncation, label=label)
    result = rank_folder(pool, "preference", top=keep, out=out, db=db_path)
    if grid and result.selected:
        import numpy as np

        from belamy.provenance.embed import save_png
        from belamy.utils.grid import make_grid
        from belamy.utils.imageio import open_rgb

        kept = np.stack([np.asarray(open_rgb(p)) for p in result.selected])
        save_png(make_grid(kept), Path(out) / "grid.png", {"curated_from": str(pool), "kept": len(kept)})
    return result
