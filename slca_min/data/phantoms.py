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
from .clutter import add_clutter
from .haystack import make_haystack
from .lesions import TISSUE, finite_knobs, lesion_edge
from .loaders import SPLITS

PHANTOM_CLASSES = ("smooth margin", "irregular margin")


def _border(m: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) 0/1 masks -> their border, a band 2 pixels wide (1 outside the edge, 1 inside): dilation minus erosion."""
    return F.max_pool2d(m, 3, 1, 1) + F.max_pool2d(-m, 3, 1, 1)


def lesion_border(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool lesion masks -> (N, H, W) bool: the band 2 pixels wide along each lesion's margin (1 outside, 1 inside)."""
    return _border(torch.from_numpy(np.asarray(masks, dtype=np.float32))[:, None])[:, 0].numpy() > 0


def oracle_regions(masks: np.ndarray, grid: int = 16) -> np.ndarray:
    """(N, H, W) bool lesion masks -> (N, 2, grid, grid) float16: per region, the fraction of pixels inside the
    lesion and the fraction on its border (lesion_border)."""
    m = torch.from_numpy(np.asarray(masks, dtype=np.float32))[:, None]  # (N, 1, H, W)
    both = torch.cat([m, _border(m)], dim=1)  # (N, 2, H, W)
    return F.adaptive_avg_pool2d(both, grid).numpy().astype(np.float16)


# The difficulty ladder (issue 35): level -> (lesion_scale, lesion_contrast, speckle, clutter). Level 0 is the
# original phantom, bit for bit; each step makes the lesion smaller and fainter, the speckle stronger and adds
# structures that are not the lesion, so that finding where to look stops being free.
DIFFICULTY = {0: (1.0, 1.0, 1.0, 0), 1: (0.85, 0.85, 1.15, 2), 2: (0.7, 0.7, 1.3, 4), 3: (0.6, 0.55, 1.45, 6),
              4: (0.5, 0.45, 1.6, 8)}
SCENES = ("lesion", "haystack")  # one lesion on speckle (the ladder), or one lesion among cysts (haystack.py)


def difficulty_knobs(difficulty: int = 0, **overrides: float | int | None) -> dict:
    """The four knobs of a ladder level, any of them replaced by an override that is not None."""
    if difficulty not in DIFFICULTY:
        raise ValueError(f"difficulty={difficulty}: choose a level from {min(DIFFICULTY)} to {max(DIFFICULTY)}")
    finite_knobs(**overrides)
    knobs = dict(zip(("lesion_scale", "lesion_contrast", "speckle", "clutter"), DIFFICULTY[difficulty]))
    knobs.update({k: v for k, v in overrides.items() if v is not None})
    if knobs["lesion_scale"] <= 0 or knobs["lesion_contrast"] < 0 or knobs["speckle"] <= 0 or knobs["clutter"] < 0:
        raise ValueError(f"phantom knobs {knobs}: lesion_scale and speckle must be > 0, lesion_contrast and clutter >= 0")
    return knobs


def make_phantoms(n: int, *, size: int | None = None, seed: int = 0, scene: str = "lesion", difficulty: int = 0,
                  lesion_scale: float | None = None, lesion_contrast: float | None = None, speckle: float | None = None,
                  clutter: int | None = None, share: float | None = None,
                  distractors: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic ultrasound-like images: one dark lesion on a speckle background, at a random place.

    The class is a local property, the lesion's margin: 0 smooth (round or oval), 1 irregular
    (spiculated). Both classes have the same size and brightness distribution, so a classifier
    has to look at the lesion's edge. Returns images (n, size, size) uint8, labels (n,) int64
    and lesion masks (n, size, size) bool.

    size: the canvas's side (default 64; 128 for haystack scenes).
    scene="haystack": the positive control's scenes instead (data/haystack.py): one classified lesion among
    `distractors` cysts (default 4), its mean share of the image `share` (default 0.02); the ladder's knobs do
    not apply there.
    difficulty: a level of DIFFICULTY (0, the default, is the original phantom, bit for bit), or set a knob alone:
    lesion_scale (radius x scale; 1 = 14-20 % of the side, 0.5 = 2-4 % of the area), lesion_contrast (the lesion's
    darkness below the tissue, x contrast), speckle (its standard deviation x speckle) and clutter (that many
    cysts, ducts, specular lines and shadowing calcifications: data/clutter.py). What the knobs leave alone: the
    labels depend on the seed only; the lesions' places and shapes depend on the seed and the speckle knob (the
    speckle is drawn from the same stream, and how many draws it takes depends on the knob), never on
    lesion_scale (which scales the same lesions), lesion_contrast or clutter (its own stream). So the ladder's
    levels, each with its own speckle, are different images with the same labels, not the same lesions made
    harder; compare levels by their distributions, image by image only at equal speckle.
    """
    if scene not in SCENES:
        raise ValueError(f"scene={scene!r}: choose {' or '.join(SCENES)}")
    if scene == "haystack":
        if difficulty or any(v is not None for v in (lesion_scale, lesion_contrast, speckle, clutter)):
            raise ValueError("scene='haystack' has its own knobs (size, share, distractors); the ladder's (difficulty, "
                             "lesion_scale, lesion_contrast, speckle, clutter) do not apply to it")
        given = {k: v for k, v in dict(share=share, distractors=distractors).items() if v is not None}
        return make_haystack(n, size=size or 128, seed=seed, **given)
    if share is not None or distractors is not None:
        raise ValueError("share and distractors are knobs of scene='haystack'; pass scene='haystack' or leave them out")
    size = size or 64
    knobs = difficulty_knobs(difficulty, lesion_scale=lesion_scale, lesion_contrast=lesion_contrast,
                             speckle=speckle, clutter=clutter)
    rng, clutter_rng = np.random.default_rng(seed), np.random.default_rng([seed, 35])
    shape = 4.0 / knobs["speckle"] ** 2  # gamma(k, 1/k): mean 1, standard deviation 1/sqrt(k) = speckle / 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n, size, size), np.uint8)
    masks = np.empty((n, size, size), bool)
    labels = rng.integers(0, 2, n)
    for i in range(n):
        radius = size * rng.uniform(0.14, 0.2) * knobs["lesion_scale"]
        cy, cx = size * rng.uniform(0.3, 0.7, 2)
        theta, distance = np.arctan2(yy - cy, xx - cx), np.hypot(yy - cy, xx - cx)
        masks[i] = distance <= lesion_edge(rng, labels[i] == 1, radius, theta)
        tissue = TISSUE + 25 * np.sin(xx / size * rng.uniform(2, 5) + rng.uniform(0, 6)) * np.cos(yy / size * rng.uniform(2, 5))
        gain = 1.0
        if knobs["clutter"]:
            tissue, gain, _ = add_clutter(tissue, knobs["clutter"], clutter_rng, avoid=(cy, cx, radius))
        lesion = rng.uniform(35, 60)
        if knobs["lesion_contrast"] != 1:
            lesion = TISSUE - knobs["lesion_contrast"] * (TISSUE - lesion)
        tissue = np.where(masks[i], lesion, tissue) * gain
        speckle_field = rng.gamma(shape, 1 / shape, (size, size))  # multiplicative, mean 1
        images[i] = np.clip(tissue * speckle_field, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64), masks


def save_phantoms(path: str | Path, *, n: int = 600, size: int | None = None, seed: int = 0,
                  split: tuple[float, float, float] = (0.7, 0.1, 0.2), **knobs) -> Path:
    """Phantoms in MedMNIST npz format ({split}_images, {split}_labels (N, 1)), plus {split}_masks and class_names.
    `knobs`: scene=, difficulty= and the single knobs of make_phantoms."""
    images, labels, masks = make_phantoms(n, size=size, seed=seed, **knobs)
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
