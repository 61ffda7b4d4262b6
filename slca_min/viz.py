"""Figures: attention overlays, embedding pictures, result plots (matplotlib, no display needed)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from .encoder import to_rgb


def attention_heatmap(attention: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(C, g, g) attention -> (H, W) mean over channels, resized bilinearly as the classifier does."""
    mean = attention.float().mean(0)[None, None]  # (1, 1, g, g)
    return F.interpolate(mean, size=size, mode="bilinear", align_corners=False)[0, 0].cpu().numpy()


def plot_attention(images: Sequence, maps: Sequence[torch.Tensor], *, title: str, path: str | Path | None = None):
    """One row per image: the image, then each gated stage's mean attention overlaid on it (colours scaled per map)."""
    n, stages = len(images), len(maps)
    fig, axes = plt.subplots(n, stages + 1, figsize=(2.2 * (stages + 1), 2.2 * n), squeeze=False)
    for i, image in enumerate(images):
        rgb = to_rgb(image, i)
        axes[i, 0].imshow(rgb)
        for k, stage_maps in enumerate(maps, start=1):
            axes[i, k].imshow(rgb)
            axes[i, k].imshow(attention_heatmap(stage_maps[i], rgb.shape[:2]), cmap="jet", alpha=0.45)
            if i == 0:
                axes[i, k].set_title(f"stage {k} (channel mean)", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def pca_rgb(embedding: torch.Tensor) -> np.ndarray:
    """(256, h, w) embedding -> (h, w, 3) in [0, 1]: its first three principal components as colours."""
    X = embedding.float().flatten(1).T  # (h*w, 256)
    X = X - X.mean(0)
    _, _, V = torch.pca_lowrank(X, q=3, center=False)
    Y = X @ V  # (h*w, 3)
    Y = (Y - Y.min(0).values) / (Y.max(0).values - Y.min(0).values + 1e-8)
    return Y.reshape(*embedding.shape[1:], 3).cpu().numpy()


def plot_metrics(rows: Sequence[dict], *, title: str, path: str | Path | None = None,
                 metrics: Sequence[str] = ("acc", "balanced_acc", "auc", "f1_macro")):
    """Bar chart: one group per metric, one bar per row's "model"."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / len(rows)
    for j, row in enumerate(rows):
        ax.bar(np.arange(len(metrics)) + j * width, [row[m] for m in metrics], width, label=row["model"])
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set_ylim(0, 1)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _finish(fig, path)


def plot_lowdata(rows: Sequence[dict], *, metric: str = "auc", title: str, path: str | Path | None = None):
    """Metric against training fraction (log axis), mean +- std over seeds, one line per model."""
    groups = defaultdict(list)
    for row in rows:
        groups[row["model"], row["fraction"]].append(row[metric])
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for model in sorted({m for m, _ in groups}):
        fractions = sorted(f for m, f in groups if m == model)
        values = [np.array(groups[model, f], dtype=float) for f in fractions]
        ax.errorbar(fractions, [v.mean() for v in values], yerr=[v.std() for v in values], marker="o", capsize=3, label=model)
    ax.set_xscale("log")
    ax.set_xlabel("fraction of the training split")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _finish(fig, path)


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def attention_on_mask(maps: torch.Tensor, masks: np.ndarray) -> np.ndarray:
    """Mean attention inside each mask divided by mean attention outside it, per image.

    maps: (B, C, g, g) attention of one stage; masks: (B, H, W) bool (e.g. the lesion).
    1.0 means the attention does not tell the lesion from the background.
    """
    ratios = []
    for attention, mask in zip(maps, masks):
        heat = attention_heatmap(attention, mask.shape)
        ratios.append(heat[mask].mean() / heat[~mask].mean())
    return np.array(ratios)
