"""Synthetic phantoms: lesions on speckle whose class is decided by the margin, and their "perfect" regions.

Phantoms let everything run offline, and they know where the lesion is: `oracle_regions` turns
the lesion masks into region descriptors of a perfect segmenter (per region: the fraction
inside the lesion and the fraction on its border), the input of the `slca-oracle` control.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..utils.files import atomic_write
from .loaders import SPLITS

PHANTOM_CLASSES = ("smooth margin", "irregular margin")


def _border(m: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) 0/1 masks -> their border, a 3-pixel band: dilation minus erosion."""
    return F.max_pool2d(m, 3, 1, 1) + F.max_pool2d(-m, 3, 1, 1)


def lesion_border(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool lesion masks -> (N, H, W) bool: the 3-pixel band along each lesion's margin."""
    return _border(torch.from_numpy(np.asarray(masks, dtype=np.float32))[:, None])[:, 0].numpy() > 0


def oracle_regions(masks: np.ndarray, grid: int = 16) -> np.ndarray:
    """(N, H, W) bool lesion masks -> (N, 2, grid, grid) float16: per region, the fraction of pixels inside the
    lesion and the fraction on its border (lesion_border)."""
    m = torch.from_numpy(np.asarray(masks, dtype=np.float32))[:, None]  # (N, 1, H, W)
    both = torch.cat([m, _border(m)], dim=1)  # (N, 2, H, W)
    return F.adaptive_avg_pool2d(both, grid).numpy().astype(np.float16)


def make_phantoms(n: int, *, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic ultrasound-like images: one dark lesion on a speckle background, at a random place.

    The class is a local property, the lesion's margin: 0 smooth (round or oval), 1 irregular
    (spiculated). Both classes have the same size and brightness distribution, so a classifier
    has to look at the lesion's edge. Returns images (n, size, size) uint8, labels (n,) int64
    and lesion masks (n, size, size) bool.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n, size, size), np.uint8)
    masks = np.empty((n, size, size), bool)
    labels = rng.integers(0, 2, n)
    for i in range(n):
        radius = size * rng.uniform(0.14, 0.2)
        cy, cx = size * rng.uniform(0.3, 0.7, 2)
        theta, distance = np.arctan2(yy - cy, xx - cx), np.hypot(yy - cy, xx - cx)
        if labels[i] == 1:  # irregular margin: many sharp lobes
            lobes = rng.integers(5, 9)
            edge = radius * (1 + rng.uniform(0.35, 0.5) * np.abs(np.sin(lobes / 2 * theta + rng.uniform(0, np.pi))) - 0.25)
        else:  # smooth margin: an oval
            edge = radius * (1 + rng.uniform(0.0, 0.2) * np.cos(2 * (theta - rng.uniform(0, np.pi))))
        masks[i] = distance <= edge
        tissue = 110 + 25 * np.sin(xx / size * rng.uniform(2, 5) + rng.uniform(0, 6)) * np.cos(yy / size * rng.uniform(2, 5))
        tissue = np.where(masks[i], rng.uniform(35, 60), tissue)
        speckle = rng.gamma(4.0, 1 / 4.0, (size, size))  # multiplicative, mean 1
        images[i] = np.clip(tissue * speckle, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64), masks


def save_phantoms(path: str | Path, *, n: int = 600, size: int = 64, seed: int = 0,
                  split: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> Path:
    """Phantoms in MedMNIST npz format ({split}_images, {split}_labels (N, 1)), plus {split}_masks and class_names."""
    images, labels, masks = make_phantoms(n, size=size, seed=seed)
    ends = np.cumsum([math.floor(f * n) for f in split[:2]])
    parts = dict(zip(SPLITS, np.split(np.arange(n), ends)))
    if min(len(p) for p in parts.values()) == 0:
        raise ValueError(f"n={n}: too few phantoms for a non-empty train/val/test split")
    arrays = {}
    for name, idx in parts.items():
        arrays.update({f"{name}_images": images[idx], f"{name}_labels": labels[idx, None], f"{name}_masks": masks[idx]})
    arrays["class_names"] = np.array(PHANTOM_CLASSES)
    with atomic_write(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
        np.savez_compressed(f, **arrays)
    return Path(path)
