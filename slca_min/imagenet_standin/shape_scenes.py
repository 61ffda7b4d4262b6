"""Synthetic shape scenes: the generic classification task the stand-in for ImageNet is pretrained on.

A user with little labelled data starts from ImageNet weights; offline there are none. So the
library pretrains a ResNet-18 on a task of its own (pretrain.py), the way the miniature
encoder stands in for SAM. The task is generic visual content, 32 classes: which of eight shapes
(ellipse, triangle, square, hexagon, cross, ring, crescent, bar) and which of four fills (flat,
stripes, checker, dots). Everything else varies and carries no label: one to three copies, size,
place, rotation, dark or bright, four kinds of background, speckle, and the outline's roughness.

How the phantom task is kept out: this generator has its own seed (the phantoms use 0), never
draws a phantom's class, and the roughness of every outline (from smooth to many-lobed, the very
property that decides a phantom's class) is drawn independently of the label, so that the label
says nothing about it (tests/test_backbone_miniature.py checks both). Outlines themselves are
there, as they are in ImageNet.
"""
from __future__ import annotations

import numpy as np

SHAPES_SEED = 20_261_201  # the stand-in's own stream; HELD_OUT_SHAPES_SEED for its held-out accuracy
HELD_OUT_SHAPES_SEED = SHAPES_SEED + 1
KINDS = ("ellipse", "triangle", "square", "hexagon", "cross", "ring", "crescent", "bar")
FILLS = ("flat", "stripes", "checker", "dots")
CLASS_NAMES = tuple(f"{kind}, {fill}" for kind in KINDS for fill in FILLS)  # label = kind * len(FILLS) + fill


def _inside(kind: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The shape `kind` at unit size in (rotated, roughened) coordinates x, y: a boolean mask."""
    d, theta = np.hypot(x, y), np.arctan2(y, x)
    if kind == "ellipse":
        return x ** 2 + (y / rng.uniform(0.55, 1.0)) ** 2 <= 1
    if kind in ("triangle", "square", "hexagon"):
        m = {"triangle": 3, "square": 4, "hexagon": 6}[kind]
        return d <= np.cos(np.pi / m) / np.cos(np.mod(theta, 2 * np.pi / m) - np.pi / m)  # a regular polygon
    if kind == "cross":
        w = rng.uniform(0.25, 0.4)
        return ((np.abs(x) <= w) & (np.abs(y) <= 1)) | ((np.abs(y) <= w) & (np.abs(x) <= 1))
    if kind == "ring":
        return (d <= 1) & (d >= rng.uniform(0.45, 0.65))
    if kind == "crescent":
        return (d <= 1) & (np.hypot(x - rng.uniform(0.4, 0.6), y) > rng.uniform(0.7, 0.9))
    return (np.abs(x) <= 1) & (np.abs(y) <= rng.uniform(0.2, 0.35))  # bar


def _fill(fill: str, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A texture in [-1, 1] over the whole image; the object shows it inside its outline."""
    period, angle = rng.uniform(3.5, 6.0), rng.uniform(0, np.pi)
    u, v = np.cos(angle) * xx + np.sin(angle) * yy, -np.sin(angle) * xx + np.cos(angle) * yy
    if fill == "flat":
        return np.zeros_like(xx)
    if fill == "stripes":
        return np.sign(np.sin(2 * np.pi * u / period))
    if fill == "checker":
        return np.sign(np.sin(np.pi * u / period * 2) * np.sin(np.pi * v / period * 2))
    dots = np.hypot(np.mod(u, period) - period / 2, np.mod(v, period) - period / 2) <= period / 4  # dots
    return np.where(dots, 1.0, -1.0)


def _background(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    level, kind = rng.uniform(60, 200), rng.integers(4)
    if kind == 0:  # waves
        return level + rng.uniform(5, 30) * np.sin(xx / size * rng.uniform(2, 8) + rng.uniform(0, 6)) * np.cos(
            yy / size * rng.uniform(2, 8))
    if kind == 1:  # a gradient
        angle = rng.uniform(0, 2 * np.pi)
        return level + rng.uniform(10, 60) * ((np.cos(angle) * xx + np.sin(angle) * yy) / size - 0.5)
    if kind == 2:  # coarse blotches
        coarse = rng.normal(0, rng.uniform(5, 20), (size // 8 + 2, size // 8 + 2))
        return level + np.kron(coarse, np.ones((8, 8)))[:size, :size]
    return np.full((size, size), level)


def shape_scenes(n: int, *, size: int = 64, seed: int = SHAPES_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n scenes: images (n, size, size) uint8, labels (n,) int64 in range(32) (CLASS_NAMES), and the roughness
    of each scene's outlines (n,) float, drawn independently of the label (0: the shape's own outline)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images, labels, roughness = np.empty((n, size, size), np.uint8), rng.integers(0, len(CLASS_NAMES), n), np.empty(n)
    for i in range(n):
        kind, fill = KINDS[labels[i] // len(FILLS)], FILLS[labels[i] % len(FILLS)]
        image = _background(rng, size, yy, xx)
        roughness[i], lobes = rng.uniform(0, 0.35), rng.integers(3, 13)  # the same outline family for every label
        texture = _fill(fill, yy, xx, rng)
        copies = rng.integers(1, 4)
        for _ in range(copies):
            scale = size * rng.uniform(0.13, 0.26) / np.sqrt(copies)
            cy, cx = size * rng.uniform(0.2, 0.8, 2)
            angle = rng.uniform(0, 2 * np.pi)
            dy, dx = yy - cy, xx - cx
            rough = 1 + roughness[i] * np.abs(np.sin(lobes / 2 * np.arctan2(dy, dx) + rng.uniform(0, np.pi)))
            x = (np.cos(angle) * dx + np.sin(angle) * dy) / (scale * rough)  # rotated, roughened, unit size
            y = (-np.sin(angle) * dx + np.cos(angle) * dy) / (scale * rough)
            contrast = rng.uniform(40, 90) * rng.choice((-1, 1))
            if not 25 <= image.mean() + contrast <= 230:
                contrast = -contrast
            shade = image.mean() + contrast + rng.uniform(0.25, 0.45) * abs(contrast) * texture
            image = np.where(_inside(kind, x, y, rng), shade, image)
        speckle = rng.gamma(shape := rng.uniform(6, 40), 1 / shape, (size, size))  # multiplicative, mean 1
        images[i] = np.clip(image * speckle, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64), roughness
