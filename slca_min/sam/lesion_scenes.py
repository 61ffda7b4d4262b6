"""Synthetic lesion scenes for pretraining the miniature encoder: images and lesion masks, no class labels.

SAM learned from masks, never from classes; so does the miniature. This generator is separate
from the classification phantoms (data/phantoms.py) on purpose: it has its own seeds, it draws no
class and knows of none, and its shapes come from one continuous family (a random Fourier
series for the radius: ovals, lobed, spiky and in-between outlines, 0 to 3 lesions, dark or
bright, large or small, on four kinds of background), so that "smooth versus irregular margin"
is never a variable it sets. The classification task therefore cannot leak into pretraining.
"""
from __future__ import annotations

import numpy as np

PRETRAIN_SEED = 20_261_128  # the miniature's own stream: the phantoms use seed 0 and its neighbours
HELD_OUT_SEED = PRETRAIN_SEED + 1  # held-out scenes for Dice, never trained on


def _background(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """One of four backgrounds: speckled tissue, a smooth gradient with noise, blotches, or flat with speckle."""
    level = rng.uniform(70, 190)
    kind = rng.integers(4)
    if kind == 0:  # tissue bands
        return level + rng.uniform(10, 35) * np.sin(xx / size * rng.uniform(2, 7) + rng.uniform(0, 6)) * np.cos(
            yy / size * rng.uniform(2, 7))
    if kind == 1:  # a gradient in a random direction
        angle = rng.uniform(0, 2 * np.pi)
        return level + rng.uniform(10, 50) * ((np.cos(angle) * xx + np.sin(angle) * yy) / size - 0.5)
    if kind == 2:  # blotches: coarse noise, upsampled
        coarse = rng.normal(0, rng.uniform(8, 25), (size // 8 + 2, size // 8 + 2))
        return level + np.kron(coarse, np.ones((8, 8)))[:size, :size]
    return np.full((size, size), level)


def _outline(rng: np.random.Generator, theta: np.ndarray, radius: float) -> np.ndarray:
    """The lesion's radius at each angle: 1 + a random Fourier series, from an oval to a many-lobed star."""
    harmonics = rng.integers(2, 13)
    decay = rng.uniform(0.3, 1.5)
    r = np.ones_like(theta)
    for j in range(2, harmonics + 1):
        r += rng.uniform(0, 0.35) / (j - 1) ** decay * np.cos(j * theta + rng.uniform(0, 2 * np.pi))
    return radius * np.maximum(r, 0.25)


def lesion_scenes(n: int, *, size: int = 64, seed: int = PRETRAIN_SEED) -> tuple[np.ndarray, np.ndarray]:
    """n scenes: images (n, size, size) uint8 and the union of their lesion masks (n, size, size) bool."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images, masks = np.empty((n, size, size), np.uint8), np.zeros((n, size, size), bool)
    for i in range(n):
        image = _background(rng, size, yy, xx)
        for _ in range(rng.choice(4, p=(0.1, 0.55, 0.25, 0.1))):
            cy, cx = size * rng.uniform(0.15, 0.85, 2)
            distance, theta = np.hypot(yy - cy, xx - cx), np.arctan2(yy - cy, xx - cx)
            lesion = distance <= _outline(rng, theta, size * rng.uniform(0.06, 0.22))
            contrast = rng.uniform(35, 100) * rng.choice((-1, 1), p=(0.7, 0.3))  # mostly dark, as in ultrasound
            if not 20 <= image.mean() + contrast <= 235:  # keep the lesion visible: the other sign
                contrast = -contrast
            image = np.where(lesion, image.mean() + contrast + rng.uniform(-8, 8, (size, size)), image)
            masks[i] |= lesion
        speckle = rng.gamma(shape := rng.uniform(3, 12), 1 / shape, (size, size))  # multiplicative, mean 1
        images[i] = np.clip(image * speckle, 0, 255).astype(np.uint8)
    return images, masks
