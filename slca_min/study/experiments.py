"""What the command line and the notebooks share: cache regions, fit one model.

Kept apart from the core so that a notebook and `python -m slca_min` run the same code. The encoder is picked
and labelled in sam/loading.py (its names are importable from here too, as the notebooks do).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..classifier import SLCAClassifier
from ..data.dataset import RegionDataset
from ..data.loaders import Split, num_classes, stratified_fraction
from ..pipeline.cache import cache_key, extract  # noqa: F401 (cache_key: tests and notebooks import it from here)
from ..sam.encoder import SAMEncoder
from ..sam.levels import NECK, split_channels
from ..sam.loading import DEFAULT_CHECKPOINT, load_encoder, short_label, weights_label  # noqa: F401 (notebooks import them from here)
from ..train import chance_warning, classification_metrics, predict, steps_per_epoch, train

NO_SAM = "not used (no SAM)"  # the weights column of a model that does not use SAM (baseline, SE, CBAM)


def extract_splits(splits: dict[str, Split], encoder: SAMEncoder, *, name: str, cache_dir: str | Path = "cache",
                   grid: int = 16, levels=NECK, batch_size: int | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """Region descriptors of every split and `levels`, from the cache (cache_dir/NAME-SPLIT-...npy) or computed into it."""
    produced_by = cache_key(encoder, grid, levels)
    return {split: extract(data.images, encoder, Path(cache_dir) / f"{name}-{split}-{produced_by}.npy", grid=grid,
                           levels=levels, batch_size=batch_size, progress=progress, desc=f"{split} regions")
            for split, data in splits.items()}


@dataclass
class FitConfig:
    backbone: str = "resnet18"
    image_size: int = 224  # side of the classifier's input
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32
    grid: int = 16  # must match the cached regions
    backbone_weights: str = "none"  # none, imagenet, miniature (the offline stand-in for ImageNet) or a file
    class_weights: str | None = None  # None or "balanced"
    min_steps: int = 0  # train at least this many steps: small fractions get more epochs instead of a few updates
    recalibrate_bn: bool = True  # recompute BatchNorm statistics over the training set at the end (train.py)
    train_precision: str = "fp32"  # or "bf16": the classifier's forward and backward under bfloat16 autocast
    device: str = "cpu"


def fit(splits: dict[str, Split], regions: dict[str, np.ndarray] | None, *, config: FitConfig, gate: str | None = None,
        slca: bool = True, fraction: float = 1.0, seed: int = 0, integrate: str = "multiply", sam_levels=NECK,
        progress: bool = True, desc: str = "train"):
    """Train on a stratified `fraction` of the train split, select on val, report on test.

    gate: "slca", "none", "se" or "cbam" (slca=False is gate="none"); integrate and sam_levels: how SLCA
    gates and from which SAM levels (see SLCAClassifier); `regions` hold exactly those levels.
    Returns (model, history, test metrics); the metrics' "at_chance" is True when the model has not shown that it
    tells the test classes apart (one class predicted, or balanced accuracy within chance: train.chance_warning),
    and then a warning is printed, with progress=False too.
    """
    def dataset(split: str, indices=None, augment=False):  # indices: rows read on access, nothing copied
        return RegionDataset(splits[split].images, splits[split].labels, None if regions is None else regions[split],
                             image_size=config.image_size, augment=augment, indices=indices)

    indices = stratified_fraction(splits["train"].labels, fraction, seed)
    torch.manual_seed(seed)
    model = SLCAClassifier(num_classes=num_classes(splits), backbone=config.backbone, gate=gate or ("slca" if slca else "none"),
                           grid=config.grid, backbone_weights=config.backbone_weights,
                           in_channels=256 if regions is None else split_channels(regions["train"].shape[1], sam_levels),
                           integrate=integrate, sam_levels=sam_levels)
    epochs = max(config.epochs, math.ceil(config.min_steps / steps_per_epoch(len(indices), config.batch_size)))
    history = train(model, dataset("train", indices, augment=True), dataset("val"), epochs=epochs, lr=config.lr,
                    batch_size=config.batch_size, seed=seed, device=config.device,
                    class_weights=config.class_weights, progress=progress, desc=desc, recalibrate_bn=config.recalibrate_bn,
                    precision=config.train_precision)
    scores, labels = predict(model, dataset("test"), batch_size=config.batch_size, device=config.device,
                             precision=config.train_precision)
    warning = chance_warning(labels, scores)
    if warning:  # about the result: printed with progress=False (--quiet) too
        print(f"  {warning}")
    return model, history, {**classification_metrics(labels, scores), "at_chance": warning is not None}
