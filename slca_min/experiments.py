"""The experiments the command line and the notebooks share: pick the encoder, cache regions, fit, low-data grid.

Kept apart from the core so that a notebook and `python -m slca_min` run the same code.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .cache import extract
from .classifier import SLCAClassifier
from .data import RegionDataset, Split, num_classes, stratified_fraction
from .encoder import SAMEncoder
from .files import read_csv, write_csv
from .model_file import LIBRARY_VERSION
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
    produced_by = f"{encoder.model_type}-{encoder.sam_input}-{encoder.precision}-g{grid}-{weights_id}"
    return {split: extract(data.images, encoder, Path(cache_dir) / f"{name}-{split}-{produced_by}.npy", grid=grid,
                           batch_size=batch_size, progress=progress, desc=f"{split} regions")
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
        fraction: float = 1.0, seed: int = 0, progress: bool = True, desc: str = "train"):
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
                    class_weights=config.class_weights, progress=progress, desc=desc)
    return model, history, evaluate(model, dataset("test"), batch_size=config.batch_size, device=config.device)


def result_setting(config: FitConfig, splits: dict[str, Split], encoder: SAMEncoder) -> dict:
    """Everything that can change a result row: the fit settings (all of FitConfig but the device), the data
    (a fingerprint of images and labels), the encoder and the library version."""
    fit_settings = {k: v for k, v in asdict(config).items() if k != "device"}
    data_id = hashlib.sha256("".join(s.fingerprint for s in splits.values()).encode()).hexdigest()[:16]
    return {**fit_settings, "data_id": data_id, "weights": weights_label(encoder), "model_type": encoder.model_type,
            "sam_input": encoder.sam_input, "precision": encoder.precision, "library": LIBRARY_VERSION}


ENCODER_KEYS = ("weights", "model_type", "sam_input", "precision")
BASELINE_WEIGHTS = "not used (baseline)"  # the weights column of a model that does not use SAM


def model_setting(model_name: str, setting: dict) -> dict:
    """The part of `setting` that can change `model_name`'s result: a baseline does not depend on the encoder."""
    if model_name != "baseline":
        return setting
    return {**{k: v for k, v in setting.items() if k not in ENCODER_KEYS}, "weights": BASELINE_WEIGHTS}


def same_setting(row: dict, setting: dict) -> bool:
    """True when a (CSV) row was produced with exactly `setting` (values compared as CSV text)."""
    return all(str(row.get(k, "")) == ("" if v is None else str(v)) for k, v in setting.items())


def lowdata(splits: dict[str, Split], regions: dict[str, np.ndarray], *, fractions: Sequence[float],
            seeds: Sequence[int], config: FitConfig, setting: dict, data: str, results_path: str | Path | None = None,
            progress: bool = True) -> list[dict]:
    """Baseline and SLCA for every (fraction, seed) under `setting` (see result_setting): the rows of this setting.

    With `results_path`, rows are only ever added to that CSV (rows of other settings stay as
    they are), it is rewritten after every run, and a rerun skips the (model, fraction, seed)
    already there with the same setting: interrupted grids resume, changed settings recompute.
    """
    models = ("baseline", "slca")
    all_rows = read_csv(results_path)
    done = {(r["model"], float(r["fraction"]), int(r["seed"])) for r in all_rows
            if r["model"] in models and same_setting(r, model_setting(r["model"], setting))}
    runs = [run for run in itertools.product(fractions, seeds, models) if (run[2], float(run[0]), int(run[1])) not in done]
    for i, (fraction, seed, model_name) in enumerate(runs, start=1):
        desc = f"[{i}/{len(runs)}] {model_name}, fraction {fraction}, seed {seed}"
        _, history, metrics = fit(splits, regions, slca=model_name == "slca", config=config, fraction=fraction,
                                  seed=seed, progress=progress, desc=desc)
        best = [h for h in history if h["best"]][-1]  # the epoch whose weights were restored
        all_rows.append({"model": model_name, "fraction": fraction, "seed": seed,
                         "n_train": len(stratified_fraction(splits["train"].labels, fraction, seed)),
                         **{k: metrics[k] for k in METRICS}, "best_epoch": best["epoch"], "val_auc": best["val_auc"],
                         "data": data, **model_setting(model_name, setting)})
        if results_path:
            write_csv(results_path, all_rows)
    rows = [r for r in (read_csv(results_path) if results_path else all_rows)
            if r["model"] in models and same_setting(r, model_setting(r["model"], setting))]
    for r in rows:  # CSV text -> numbers
        r.update(fraction=float(r["fraction"]), seed=int(r["seed"]), **{m: float(r[m]) for m in METRICS})
    wanted = {(float(f), int(s)) for f in fractions for s in seeds}
    return [r for r in rows if (r["fraction"], r["seed"]) in wanted]


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
