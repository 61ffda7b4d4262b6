"""Figures: attention overlays, embedding pictures, result plots (matplotlib, no display needed)."""
from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ..sam.preprocessing import to_rgb
from ..train import METRICS
from ..utils.files import atomic_write
from .comparison import images_of


def upsample_attention(attention: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, g, g) attention -> (C, H, W), resized bilinearly as the classifier does."""
    return F.interpolate(attention[None].float(), size=tuple(size), mode="bilinear", align_corners=False)[0]


def attention_heatmap(attention: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(C, g, g) attention -> (H, W) mean over channels."""
    return upsample_attention(attention, size).mean(0).cpu().numpy()


def attention_scales(runs: Sequence[Sequence[torch.Tensor]]) -> list[tuple[float, float]]:
    """Per stage, (vmin, vmax) of the channel-mean attention over every run (one (B, C_k, g, g) map per stage each):
    one colour scale per stage that all the runs share, so a colour means the same gate value in every model's panel.

    Resizing (bilinear, as the classifier does) only averages neighbours, so the bounds hold at every resolution.
    A flat stage still gets a scale a thousandth wide: its colour bar then says that it is flat."""
    scales = []
    for stage_maps in zip(*runs):
        means = [m.float().mean(1) for m in stage_maps]  # (B, g, g) each
        lo, hi = min(m.min().item() for m in means), max(m.max().item() for m in means)
        middle, half = (lo + hi) / 2, max(hi - lo, 1e-3) / 2
        scales.append((middle - half, middle + half))
    return scales


def plot_attention(images: Sequence, maps: Sequence[torch.Tensor], *, title: str, path: str | Path | None = None,
                   captions: Sequence[str] | None = None, stages: Sequence[int] | None = None,
                   masks: Sequence[np.ndarray] | None = None, bands: Sequence[np.ndarray] | None = None,
                   grids: Sequence[tuple[int, int]] | None = None, scales: Sequence[tuple[float, float]] | None = None):
    """One row per image: its caption, the image, then each gate's attention (stages: the model's gated positions,
    0 the stem; default 1, 2, ...), averaged over channels and smoothed onto the image as the classifier resizes it.

    Drawn to be compared, so that a flat map looks flat: every panel of a stage shares one colour scale, shown by a
    colour bar in gate values under the stage's column. `scales`: (vmin, vmax) per stage; by default
    attention_scales over these rows; pass one attention_scales over several figures to compare them. A row is
    one image and its maps (row i of every stage's (B, C_k, g, g) tensor): to compare models on one image, repeat
    the image, stack the models' maps and name each model in its caption.
    `grids`: the (h, w) each stage multiplies its gate on (a 64-px ResNet-18: 16x16, 8x8, 4x4, 2x2); each overlay
    then gets a panel with the map at that grid, block by block, since the finer map is not what the stage uses.
    `masks` (phantoms): the lesion's outline in red on every panel; `bands`: the margin band (e.g. lesion_border),
    filled in orange on the image."""
    n, stages = len(images), list(stages or range(1, len(maps) + 1))
    scales = list(scales or attention_scales([maps]))
    per_stage = 2 if grids is not None else 1
    first = 2 if captions is not None else 1  # the column of the first stage
    wrapped = [] if captions is None else ["\n".join(textwrap.fill(line, 26) for line in c.split("\n")) for c in captions]
    text_width = min(1.3, 0.3 + 0.04 * max((len(line) for c in wrapped for line in c.split("\n")), default=0))
    ratios = [text_width] * (captions is not None) + [1.0] + [1.0, 0.65][:per_stage] * len(stages)
    fig, axes = plt.subplots(n + 1, len(ratios), figsize=(1.3 * sum(ratios) + 0.3, 1.2 * n + 1.5), squeeze=False,
                             gridspec_kw={"width_ratios": ratios, "height_ratios": [1.0] * n + [0.09]})
    for ax in axes.flat:
        ax.set_axis_off()
    g = tuple(maps[0].shape[-2:])  # the region grid SLCA's maps come in
    for i, image in enumerate(images):
        rgb = to_rgb(image, i)
        size = rgb.shape[:2]
        extent = (-0.5, size[1] - 0.5, size[0] - 0.5, -0.5)  # the stage grid drawn over the image's pixels
        if captions is not None:
            axes[i, 0].text(0.0, 0.5, wrapped[i], fontsize=7, va="center", ha="left", transform=axes[i, 0].transAxes)
        image_ax = axes[i, first - 1]
        image_ax.imshow(rgb)
        image_ax.set_label(f"image, row {i}")
        if bands is not None:
            image_ax.contourf(bands[i].astype(float), levels=[0.5, 1.5], colors=["orange"], alpha=0.6)
        panels = [image_ax]
        for k, stage in enumerate(stages):
            name, (vmin, vmax) = ("stem" if stage == 0 else f"stage {stage}"), scales[k]
            overlay = axes[i, first + per_stage * k]
            overlay.imshow(rgb)
            overlay.imshow(attention_heatmap(maps[k][i], size), cmap="viridis", alpha=0.5, vmin=vmin, vmax=vmax)
            overlay.set_label(f"{name} overlay, row {i}")
            panels.append(overlay)
            if i == 0:
                overlay.set_title(f"{name}:\n{g[0]}×{g[1]} map, smoothed", fontsize=7)
            if grids is not None:
                block = axes[i, first + per_stage * k + 1]
                block.imshow(attention_heatmap(maps[k][i], grids[k]), cmap="viridis", vmin=vmin, vmax=vmax,
                             interpolation="nearest", extent=extent)
                block.set_label(f"{name} at its grid, row {i}")
                panels.append(block)
                if i == 0:
                    block.set_title(f"what {name}\nuses: {grids[k][0]}×{grids[k][1]}", fontsize=7)
        for ax in panels if masks is not None else ():
            ax.contour(masks[i], levels=[0.5], colors="red", linewidths=0.8)
        if i == 0:
            image_ax.set_title("image" + ("\n(orange: margin band)" if bands is not None else ""), fontsize=7)
    for k, stage in enumerate(stages):
        columns = slice(first + per_stage * k, first + per_stage * (k + 1))  # under the stage's panels
        for ax in axes[n, columns]:
            ax.remove()
        bar, (vmin, vmax) = fig.add_subplot(axes[0, 0].get_gridspec()[n, columns]), scales[k]
        colours = fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(vmin, vmax), "viridis"), cax=bar,
                               orientation="horizontal", ticks=[vmin, (vmin + vmax) / 2, vmax], format="%.3f")
        colours.ax.tick_params(labelsize=6)
        colours.set_label(f"{'stem' if stage == 0 else f'stage {stage}'}: gate value", fontsize=7)
        bar.set_label(f"{'stem' if stage == 0 else f'stage {stage}'} colour bar")
    legend = ["One colour scale per stage, the same in every row (its colour bar under its column); a gate value "
              "multiplies a feature: 0 blocks it, 1 passes it unchanged."]
    legend += ["Red: the lesion's outline."] if masks is not None else []
    legend += ["Orange (on the image): the margin band."] if bands is not None else []
    legend += ["Overlays are half transparent; the block panels show the colours exactly."] if grids is not None else []
    fig.suptitle(f"{title}\n" + textwrap.fill(" ".join(legend), 130), fontsize=8)
    return _finish(fig, path)


def pca_rgb(embedding: torch.Tensor) -> np.ndarray:
    """(256, h, w) embedding -> (h, w, 3) in [0, 1]: its first three principal components as colours.

    Exact and deterministic (an SVD, each component's sign fixed so that its largest loading is positive), so the
    same embedding is always drawn in the same colours; which colour a feature gets still carries no meaning."""
    X = embedding.float().flatten(1).T  # (h*w, 256)
    X = X - X.mean(0)
    _, _, Vh = torch.linalg.svd(X, full_matrices=False)
    V = Vh[:3].T  # (256, 3)
    V = V * torch.sign(V.gather(0, V.abs().argmax(0, keepdim=True)))  # a fixed sign per component
    Y = X @ V  # (h*w, 3)
    Y = (Y - Y.min(0).values) / (Y.max(0).values - Y.min(0).values + 1e-8)
    return Y.reshape(*embedding.shape[1:], 3).cpu().numpy()


def plot_metrics(rows: Sequence[dict], *, title: str, path: str | Path | None = None,
                 metrics: Sequence[str] = METRICS):
    """Bar chart: one group per metric, one bar per row's "model"."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / len(rows)
    for j, row in enumerate(rows):
        ax.bar(np.arange(len(metrics)) + j * width, [row[m] for m in metrics], width, label=row["model"])
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score on the test split (1 = perfect)")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="0.5: chance AUC (binary)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(textwrap.fill(title, 70), fontsize=9)
    return _finish(fig, path)


def plot_lowdata(rows: Sequence[dict], *, metric: str = "auc", title: str, path: str | Path | None = None):
    """Metric against training images (log axis, plain-number ticks; rows without n_train: fractions), mean +- std
    over seeds, one line per model; with a single size, one point per model along x (lines at one x hide each other)."""
    groups = defaultdict(list)
    for row in rows:
        groups[row["model"], row["fraction"]].append(row[metric])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if metric == "auc":
        ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="chance")
    models = sorted({m for m, _ in groups})
    colours = plt.get_cmap("tab10" if len(models) <= 10 else "tab20").colors  # one colour per model, never repeated
    of_size = {f: [r for r in rows if r["fraction"] == f] for f in sorted({f for _, f in groups})}
    images = {f: images_of(size_rows) for f, size_rows in of_size.items()}  # 42, or "40-44" (multi-label)
    in_images = "" not in images.values()
    x_of = {f: float(np.mean([int(r["n_train"]) for r in of_size[f]])) if in_images else f for f in of_size}
    if len(of_size) == 1:
        (fraction,) = of_size
        for x, (model, colour) in enumerate(zip(models, colours)):
            values = np.array(groups[model, fraction], dtype=float)
            ax.errorbar([x], [values.mean()], yerr=[values.std()], marker="o", capsize=3, color=colour)
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.set_xlabel(f"model ({images[fraction]} training images, fraction {fraction:g})" if in_images else
                      f"model (fraction {fraction:g} of the training split)")
    else:
        for model, colour in zip(models, colours):
            fractions = sorted(f for m, f in groups if m == model)
            values = [np.array(groups[model, f], dtype=float) for f in fractions]
            ax.errorbar([x_of[f] for f in fractions], [v.mean() for v in values], yerr=[v.std() for v in values],
                        marker="o", capsize=3, label=model, color=colour)
        ax.set_xscale("log")
        ax.set_xticks(list(x_of.values()), [str(images[f]) if in_images else f"{f:g}" for f in of_size])
        ax.minorticks_off()
        ax.set_xlabel("training images (log scale)" if in_images else "fraction of the training split used (log scale)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: it never hides a point
    ax.set_ylabel(f"test {metric} (mean ± std over seeds)")
    ax.set_title(textwrap.fill(title, 80), fontsize=9)
    return _finish(fig, path)


def difference_label(q: dict) -> str:
    """'slca - baseline (level 1, fraction 0.1, 42 images, 10 seeds)'."""
    where = [f"level {q['level']}"] if q.get("level") not in (None, "") else []
    where += [f"fraction {q['fraction']:g}"] + ([f"{q['n_train']} images"] if q.get("n_train") not in (None, "") else [])
    return f"{q['question']} ({', '.join(where)}, {q['seeds']} seeds)"


def plot_differences(table: Sequence[dict], *, title: str, path: str | Path | None = None, ax=None):
    """Paired differences with their 95% intervals, one row per question (and fraction, level), a line at zero:
    the comparison a study is about, which overlapping means hide. `table`: report.paired_questions rows."""
    fig, ax = (plt.subplots(figsize=(9.5, 0.3 * len(table) + 1.6)) if ax is None else (ax.figure, ax))
    for y, q in enumerate(table):
        colour = "C3" if q["excludes_0"] else "C0"
        ax.errorbar([q["diff"]], [y], xerr=[[q["diff"] - q["ci95_low"]], [q["ci95_high"] - q["diff"]]], marker="o",
                    capsize=3, color=colour)
    ax.set_yticks(range(len(table)), [difference_label(q) for q in table], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("paired difference of test AUC, mean [95% t-interval] (red: excludes 0)", fontsize=8)
    ax.set_title(textwrap.fill(title, 75), fontsize=8)
    return _finish(fig, path)


def _finish(fig, path):
    """Lay out; with a path, save atomically (a full disk never leaves an empty PNG) and close."""
    fig.tight_layout()
    if path is not None:
        with atomic_write(path) as tmp:
            fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
        plt.close(fig)
    return fig


def attention_on_mask(maps: torch.Tensor, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How one stage's attention treats a masked area (e.g. the lesion) against the rest, per image.

    maps: (B, C, g, g) attention; masks: (B, H, W) bool. Returns two arrays of B values:
    ratio, mean attention inside the mask / mean outside (1.0: as much attention on the lesion
    as elsewhere); contrast, for each channel |mean inside - mean outside| in units of the
    standard deviation outside, averaged over channels (0: the lesion is gated like the
    background; a channel that favours the lesion and one that avoids it both count).
    """
    ratios, contrasts = [], []
    for attention, mask in zip(maps, masks):
        A = upsample_attention(attention, mask.shape)  # (C, H, W)
        inside, outside = A[:, torch.from_numpy(mask)], A[:, torch.from_numpy(~mask)]  # (C, n_in), (C, n_out)
        ratios.append((inside.mean() / outside.mean()).item())
        contrasts.append(((inside.mean(1) - outside.mean(1)).abs() / (outside.std(1) + 1e-8)).mean().item())
    return np.array(ratios), np.array(contrasts)


def plot_difficulty_levels(levels: Sequence[int], *, per_class: int = 2, size: int = 64, seed: int = 0,
                           path: str | Path | None = None):
    """The phantoms' difficulty ladder at a glance: one row per level, `per_class` phantoms of each class, the
    lesion's outline (its mask, which only the oracle sees) drawn in the right-hand copy of each."""
    from ..data.phantoms import difficulty_knobs, make_phantoms

    columns = 4 * per_class
    fig, axes = plt.subplots(len(levels), columns, figsize=(1.3 * columns, 1.45 * len(levels) + 0.5), squeeze=False)
    for row, level in zip(axes, levels):
        images, labels, masks = make_phantoms(40, size=size, seed=seed, difficulty=level)
        chosen = [i for c in (0, 1) for i in np.flatnonzero(labels == c)[:per_class]]
        for k, i in enumerate(chosen):
            for j, outline in enumerate((False, True)):
                ax = row[2 * k + j]
                ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
                if outline:
                    ax.contour(masks[i], levels=[0.5], colors="yellow", linewidths=0.6)
                ax.set_xticks([])
                ax.set_yticks([])
                if not outline:
                    ax.set_title(("smooth", "irregular")[labels[i]], fontsize=7)
        knobs = difficulty_knobs(level)
        row[0].set_ylabel(f"level {level}\nsize x{knobs['lesion_scale']:g}, contrast x{knobs['lesion_contrast']:g}\n"
                          f"speckle x{knobs['speckle']:g}, clutter {knobs['clutter']}", fontsize=6)
    fig.suptitle("Phantoms by difficulty level (pairs: the image, then its lesion outlined); the class is the lesion's "
                 "margin, never the clutter", fontsize=8)
    return _finish(fig, path)


def plot_haystack(*, per_class: int = 3, seed: int = 0, path: str | Path | None = None, **knobs):
    """Haystack scenes at a glance: per class, `per_class` scenes with the classified lesion outlined (only the
    oracle knows it), and under each the oracle crop, the 64-px box the `oracle-crop` control sees."""
    from ..data.haystack import CROP, lesion_boxes, make_haystack, oracle_crop

    images, labels, masks = make_haystack(40, seed=seed, **knobs)
    chosen = [i for c in (0, 1) for i in np.flatnonzero(labels == c)[:per_class]]
    crops, corners = oracle_crop(images, masks), lesion_boxes(masks)
    fig, axes = plt.subplots(2, len(chosen), figsize=(1.9 * len(chosen), 4.3), squeeze=False,
                             gridspec_kw={"height_ratios": (2, 1)})
    for k, i in enumerate(chosen):
        top, bottom = axes[0, k], axes[1, k]
        top.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        top.contour(masks[i], levels=[0.5], colors="yellow", linewidths=0.6)
        y, x = corners[i]
        top.add_patch(plt.Rectangle((x - 0.5, y - 0.5), CROP, CROP, fill=False, edgecolor="cyan", linewidth=0.6, ls="--"))
        top.set_title(f"{('smooth', 'irregular')[labels[i]]} margin", fontsize=8)
        bottom.imshow(crops[i], cmap="gray", vmin=0, vmax=255)
        bottom.set_title("oracle crop", fontsize=7)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Haystack scenes: the class is the margin of the solid mass (grey, internal echoes, shadow below; "
                 "outlined),\nnot of the anechoic cysts (black, brighter below), whose margins are drawn apart from "
                 "the label", fontsize=8)
    return _finish(fig, path)
