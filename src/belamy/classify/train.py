"""`belamy classify train`: a style classifier learned from a labelled corpus, with held-out accuracy.

A fixed, stratified fraction of every style is held out before training and never seen by it; the
accuracy reported (and stored) is on those images only, after the last epoch (no model selection on
them, so the figure is not flattered). The held-out indices are stored too, so `belamy eval` can
measure real paintings the classifier never saw.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from belamy.classify.model import StyleClassifier
from belamy.classify.store import save_classifier
from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.models.latents import check_seed
from belamy.trainer.data import corpus_labels, fit_shape
from belamy.utils.device import resolve_device
from belamy.utils.progress import console, make_progress


@dataclass
class ClassifierReport:
    out: Path
    names: list[str]
    accuracy: float  # on the held-out images
    per_class_accuracy: dict[str, float]
    n_train: int
    n_heldout: int
    seconds: float
    confusion: list[list[int]] = field(repr=False, default_factory=list)  # rows: true style, columns: predicted

    @property
    def chance(self) -> float:
        return 1.0 / len(self.names)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices, sorted: ``fraction`` of each class held out (at least one image of a
    class with two or more; a class with one image stays in training)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_held = 0 if len(members) < 2 else min(len(members) - 1, max(1, round(fraction * len(members))))
        held.append(members[:n_held])
        train.append(members[n_held:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _check(res: int, epochs: int, batch: int, holdout: float, lr: float, channels: int) -> None:
    if not 16 <= res <= 512:
        raise BelamyError(f"--res {res} is not valid", "use 16 to 512 pixels (64 is plenty for style)")
    if not 1 <= epochs <= 10_000:
        raise BelamyError(f"--epochs {epochs} is not valid", "use 1 to 10000")
    if not 2 <= batch <= 4096:
        raise BelamyError(f"--batch {batch} is not valid", "use 2 to 4096")
    if not 0.0 < holdout <= 0.5:
        raise BelamyError(f"--holdout {holdout} is not valid", "hold out a fraction above 0 and at most 0.5, e.g. 0.2")
    if not (lr > 0 and math.isfinite(lr)):
        raise BelamyError(f"--lr {lr} is not valid", "use a positive learning rate, e.g. 0.002")
    if not 4 <= channels <= 256:
        raise BelamyError(f"--channels {channels} is not valid", "use 4 to 256 (16 is the default)")


def _input_shape(corpus_h: int, corpus_w: int, res: int) -> tuple[int, int]:
    """The corpus's shape scaled so its shorter side is ``res``."""
    if corpus_h <= corpus_w:
        return res, round(res * corpus_w / corpus_h)
    return round(res * corpus_h / corpus_w), res


def _augment(batch: torch.Tensor, generator: torch.Generator, shift: int) -> torch.Tensor:
    """Random mirror and a random translation of up to ``shift`` pixels (reflected borders)."""
    n, _, h, w = batch.shape
    flip = torch.rand(n, generator=generator) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    if shift:
        padded = F.pad(batch, (shift, shift, shift, shift), mode="reflect")
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator).tolist()
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator).tolist()
        batch = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    return batch


def _as_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@torch.no_grad()
def _predict(net: StyleClassifier, images: np.ndarray, device: torch.device, batch: int = 256) -> np.ndarray:
    net.eval()
    out = [net(_as_input(images[s : s + batch], device)).argmax(dim=1).cpu() for s in range(0, len(images), batch)]
    return torch.cat(out).numpy()


def train_classifier(corpus: Path, labels: str, out: Path, res: int = 64, epochs: int = 30, batch: int = 64,
                     holdout: float = 0.2, lr: float = 2e-3, channels: int = 16, seed: int = 0,
                     device: str = "auto") -> ClassifierReport:
    """Train a style classifier on ``corpus`` labelled by ``labels`` (a manifest field or ``folder``)."""
    _check(res, epochs, batch, holdout, lr, channels)
    check_seed(seed)
    if Path(out).exists() and not Path(out).is_dir():
        raise BelamyError(f"--out {out} is a file", "give a folder for the classifier")
    started = time.perf_counter()
    data = open_corpus(corpus)
    names, targets = corpus_labels(data.manifest, labels)
    height, width = _input_shape(data.height, data.width, res)
    images = np.asarray(fit_shape(data.images, height, width))
    train_idx, held_idx = stratified_split(targets, holdout, seed)
    if len(held_idx) == 0:
        raise BelamyError("no style has two images to hold one out", "label more images per style")
    dev = resolve_device(device)
    torch.manual_seed(seed)
    net = StyleClassifier(len(names), width=channels).to(dev)
    steps_per_epoch = max(1, len(train_idx) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train = images[train_idx], torch.from_numpy(targets[train_idx]).to(dev)
    shift = max(1, min(height, width) // 16)
    console.print(f"training a {len(names)}-style classifier at {width}×{height} on {len(train_idx)} images "
                  f"({len(held_idx)} held out), {dev}")
    with make_progress("img") as progress:
        task = progress.add_task("classifier", total=epochs * steps_per_epoch * batch)
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(train_idx), generator=gen).numpy()
            total_loss = 0.0
            for step in range(steps_per_epoch):
                pick = np.sort(order[step * batch : (step + 1) * batch])
                x = _augment(_as_input(x_train[pick], dev), gen, shift)
                loss = F.cross_entropy(net(x), y_train[pick], label_smoothing=0.1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total_loss += float(loss.detach())
                progress.advance(task, len(pick))
            line = f"epoch {epoch + 1}/{epochs} loss {total_loss / steps_per_epoch:.3f}"
            progress.update(task, description=f"classifier {line}")
            if progress.disable:  # no bar in a pipe or a log: one line per epoch instead
                console.print(line)
    predicted = _predict(net, images[held_idx], dev)
    truth = targets[held_idx]
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    per_class = {n: float(confusion[i, i] / max(1, confusion[i].sum())) for i, n in enumerate(names)}
    accuracy = float((predicted == truth).mean())
    info = {
        "names": names, "labels": labels, "height": height, "width": width, "channels": channels,
        "corpus": {"path": str(Path(corpus).resolve()), "count": len(data)},
        "heldout": [int(i) for i in held_idx], "n_train": len(train_idx), "n_heldout": len(held_idx),
        "accuracy": round(accuracy, 4), "per_class_accuracy": {k: round(v, 4) for k, v in per_class.items()},
        "confusion": confusion.tolist(), "epochs": epochs, "batch": batch, "lr": lr, "holdout": holdout, "seed": seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_classifier(out, net, info)
    return ClassifierReport(out=Path(out), names=names, accuracy=accuracy, per_class_accuracy=per_class,
                            n_train=len(train_idx), n_heldout=len(held_idx), seconds=time.perf_counter() - started,
                            confusion=confusion.tolist())
