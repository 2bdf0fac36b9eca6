"""Training curves as an image an artist can glance at: losses, D's opinions and speed over kimg."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from belamy.utils.atomic import atomic_path, read_jsonl  # noqa: E402


def plot_curves(metrics_path: Path, target: Path) -> Path | None:
    """Draw ``metrics.jsonl`` into ``target`` (PNG). Returns None when there is nothing to draw yet."""
    records = read_jsonl(metrics_path)
    if not records:
        return None
    kimg = [r["kimg"] for r in records]
    panels = [
        ("losses", [("loss_G", "G"), ("loss_D", "D")]),
        ("discriminator's view", [("D_real", "D(x)"), ("D_fake", "D(G(z))")]),
        ("speed (img/s)", [("img_per_s", "img/s")]),
    ]
    extra = sorted({k for r in records for k in r if k.startswith("swd") or k.startswith("ada_p")})
    if extra:
        panels.append(("quality and augmentation", [(k, k) for k in extra]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), dpi=100)
    for ax, (title, series) in zip(axes, panels, strict=True):
        for key, label in series:
            points = [(k, r[key]) for k, r in zip(kimg, records, strict=True) if key in r]
            if points:
                ax.plot(*zip(*points, strict=True), label=label, linewidth=1.4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("kimg")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a panel whose series have no points yet has no legend
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return target
