"""The experiments the command line and the notebooks share: pick the encoder, cache regions, fit, low-data grid.

Kept apart from the core so that a notebook and `python -m slca_min` run the same code.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .cache import extract
from .classifier import SLCAClassifier
from .data import RegionDataset, Split, atomic_write, num_classes, stratified_fraction
from .encoder import SAMEncoder
from .train import METRICS, evaluate, train

DEFAULT_CHECKPOINT = Path("checkpoints/sam_vit_b_01ec64.pth")


def load_encoder(checkpoint: str | Path | None = None, *, sam_input: int | None = None,
                 device: str = "cpu") -> SAMEncoder:
    """The SAM checkpoint given, else the one at checkpoints/sam_vit_b_01ec64.pth, else the untrained tiny encoder."""
    if checkpoint is None and DEFAULT_CHECKPOINT.is_file():
        checkpoint = DEFAULT_CHECKPOINT
    if checkpoint is None:
        return SAMEncoder.untrained("tiny", seed=0, sam_input=sam_input, device=device)
    return SAMEncoder.from_checkpoint(checkpoint, sam_input=sam_input, device=device)


def weights_label(encoder: SAMEncoder) -> str:
    """The encoder's weights, with a warning attached when they are random."""
    return encoder.weights if encoder.trained else f"{encoder.weights} (UNTRAINED: a pipeline check, not a SAM result)"


def extract_splits(splits: dict[str, Split], encoder: SAMEncoder, *, name: str, cache_dir: str | Path = "cache",
                   grid: int = 16, batch_size: int | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """Region descriptors of every split, from the cache (cache_dir/NAME-SPLIT-...npy) or computed into it."""
    weights_id = hashlib.sha1(encoder.weights.encode()).hexdigest()[:8]
    produced_by = f"{encoder.model_type}-{encoder.sam_input}-g{grid}-{weights_id}"
    return {split: extract(data.images, encoder, Path(cache_dir) / f"{name}-{split}-{produced_by}.npy", grid=grid,
                           batch_size=batch_size, progress=progress)
            for split, data in splits.items()}


@dataclass
class FitConfig:
    backbone: str = "resnet18"
    image_size: int = 224  # side of the classifier's input
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32
    grid: int = 16  # must match the cached regions
    pretrained_backbone: bool = False
    class_weights: str | None = None  # None or "balanced"
    device: str = "cpu"


def fit(splits: dict[str, Split], regions: dict[str, np.ndarray] | None, *, slca: bool, config: FitConfig,
        fraction: float = 1.0, seed: int = 0, progress: bool = True):
    """Train on a stratified `fraction` of the train split, select on val, report on test.

    Returns (model, history, test metrics).
    """
    def dataset(split: str, indices=None, augment=False):
        data, R = splits[split], None if regions is None else regions[split]
        if indices is not None:
            data, R = data.subset(indices), None if R is None else R[indices]
        return RegionDataset(data.images, data.labels, R, image_size=config.image_size, augment=augment)

    indices = stratified_fraction(splits["train"].labels, fraction, seed)
    torch.manual_seed(seed)
    model = SLCAClassifier(num_classes=num_classes(splits), backbone=config.backbone, slca=slca, grid=config.grid,
                           pretrained_backbone=config.pretrained_backbone)
    history = train(model, dataset("train", indices, augment=True), dataset("val"), epochs=config.epochs, lr=config.lr,
                    batch_size=config.batch_size, seed=seed, device=config.device,
                    class_weights=config.class_weights, progress=progress)
    return model, history, evaluate(model, dataset("test"), batch_size=config.batch_size, device=config.device)


def lowdata(splits: dict[str, Split], regions: dict[str, np.ndarray], *, fractions: Sequence[float],
            seeds: Sequence[int], config: FitConfig, weights: str, data: str, results_path: str | Path | None = None,
            progress: bool = True) -> list[dict]:
    """Baseline and SLCA for every (fraction, seed): one row each with the test metrics.

    With `results_path`, the CSV is rewritten after every run and a rerun skips the rows that
    are already there with the same weights, data and settings: interrupted grids resume.
    """
    setting = {"weights": weights, "data": data, "backbone": config.backbone, "epochs": config.epochs,
               "image_size": config.image_size, "lr": config.lr, "batch_size": config.batch_size}
    rows = [r for r in read_csv(results_path) if all(str(r.get(k)) == str(v) for k, v in setting.items())]
    for r in rows:  # the CSV holds text
        r.update(fraction=float(r["fraction"]), seed=int(r["seed"]), **{m: float(r[m]) for m in METRICS})
    done = {(r["model"], r["fraction"], r["seed"]) for r in rows}
    for fraction, seed, model_name in itertools.product(fractions, seeds, ("baseline", "slca")):
        if (model_name, float(fraction), int(seed)) in done:
            continue
        _, history, metrics = fit(splits, regions, slca=model_name == "slca", config=config, fraction=fraction,
                                  seed=seed, progress=progress)
        best = [h for h in history if h["best"]][-1]  # the epoch whose weights were restored
        rows.append({"model": model_name, "fraction": fraction, "seed": seed,
                     "n_train": len(stratified_fraction(splits["train"].labels, fraction, seed)),
                     **{k: metrics[k] for k in METRICS}, "best_epoch": best["epoch"], "val_auc": best["val_auc"], **setting})
        if results_path:
            write_csv(results_path, rows)
    return rows


def summarize(rows: Sequence[dict]) -> list[dict]:
    """Mean and standard deviation over seeds of every metric, one row per (model, fraction)."""
    keys = sorted({(r["model"], float(r["fraction"])) for r in rows}, key=lambda k: (k[1], k[0]))
    summary = []
    for model, fraction in keys:
        group = [r for r in rows if r["model"] == model and float(r["fraction"]) == fraction]
        row = {"model": model, "fraction": fraction, "seeds": len(group)}
        for m in METRICS:
            values = np.array([float(r[m]) for r in group])
            row[f"{m}_mean"], row[f"{m}_std"] = float(values.mean()), float(values.std())
        row["weights"] = group[0]["weights"]
        summary.append(row)
    return summary


def read_csv(path: str | Path | None) -> list[dict]:
    if path is None or not Path(path).is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: str | Path, rows: Sequence[dict]) -> None:
    """Write a CSV atomically (see atomic_write): a killed run never leaves half a table."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


