"""Haystack scenes: the positive control's phantoms, where knowing *where* to look must help (issue 44).

On a larger canvas, one classified lesion among distractors of the same kind. Every blob, lesion and
distractor alike, has a smooth or an irregular margin drawn like the ladder's phantoms (lesions.lesion_edge);
only the classified lesion's margin gives the class, the distractors' margins are drawn independently of the
label. What tells the classified lesion apart is what a sonographer uses to tell a solid mass from a cyst:

- the classified lesion is a *solid mass*: hypoechoic (grey, not black), with internal echoes (a coarse,
  heterogeneous texture) and posterior acoustic shadowing (everything below it darker);
- each distractor is a *simple cyst*: anechoic (near black, no internal echoes) with posterior acoustic
  enhancement (everything below it brighter).

So an irregular margin *somewhere* in the image says little about the class; an irregular margin on the solid
mass says it all. A segmentation model can learn the mass (texture and shadow); `oracle_regions` and
`oracle_crop` mark it, and only it. The scenes have their own random streams: today's phantoms and every ladder
level are unchanged (tested), and per image the distractors are drawn from a stream of their own that never
reads the label.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .clutter import below
from .lesions import TISSUE, finite_knobs, lesion_edge

CROP = 64  # the oracle crop's side in pixels: the ladder's canvas, so the crop looks like a level-0 phantom


def haystack_knobs(*, size: int = 128, share: float = 0.02, distractors: int = 4) -> dict:
    """The scene's knobs, checked: canvas side `size`, the classified lesion's mean share of the image's area
    `share`, and the number of distractor cysts."""
    finite_knobs(share=share)
    if size < 32 or not 0 < share <= 0.2 or distractors < 0 or distractors > 12:
        raise ValueError(f"haystack knobs size={size}, share={share}, distractors={distractors}: need size >= 32, "
                         "0 < share <= 0.2 and 0-12 distractors")
    return {"size": size, "share": share, "distractors": distractors}


def _places(rng: np.random.Generator, radii: np.ndarray, size: int) -> np.ndarray:
    """(K, 2) centres for discs of `radii` (the first is the classified lesion), inside the canvas and apart
    from each other (rejection sampling; a disc that finds no place after 200 tries is dropped: NaN)."""
    centres = np.full((len(radii), 2), np.nan)
    for k, r in enumerate(radii):
        for _ in range(200):
            c = rng.uniform(1.3 * r + 2, size - 1.3 * r - 2, 2)
            gaps = np.hypot(*(centres[:k] - c).T) - 1.3 * (radii[:k] + r) - 3
            if not np.any(gaps < 0):  # NaN gaps (dropped discs) compare False
                centres[k] = c
                break
    return centres


def make_haystack(n: int, *, size: int = 128, seed: int = 0, share: float = 0.02,
                  distractors: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Haystack scenes: images (n, size, size) uint8, labels (n,) int64 (0 smooth, 1 irregular margin of the
    classified lesion) and masks (n, size, size) bool of the classified lesion only.

    share: the classified lesion's mean area over the image's (its radius varies by x0.85-1.15 around
    size * sqrt(share / pi): at 128 px and 0.02, 10.2 px, the ladder's level-0 radius at 64 px).
    distractors: that many anechoic cysts of the same size distribution, each with a smooth or irregular margin
    at random (probability 1/2), independent of the label. Labels come from their own stream; each image's
    lesion from a stream of (seed, image) and its distractors from another, so an image does not change when
    `n` or another image changes, and nothing about the distractors depends on the label.
    """
    knobs = haystack_knobs(size=size, share=share, distractors=distractors)
    labels = np.random.default_rng([seed, 44]).integers(0, 2, n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n, size, size), np.uint8)
    masks = np.zeros((n, size, size), bool)
    mean_radius = size * math.sqrt(knobs["share"] / math.pi)
    for i in range(n):
        rng, cyst_rng = np.random.default_rng([seed, 44, i]), np.random.default_rng([seed, 44, i, 1])
        radii = mean_radius * np.concatenate([rng.uniform(0.85, 1.15, 1), cyst_rng.uniform(0.85, 1.15, distractors)])
        centres = _places(cyst_rng, radii, size)
        tissue = TISSUE + 25 * np.sin(xx / size * rng.uniform(2, 5) + rng.uniform(0, 6)) * np.cos(yy / size * rng.uniform(2, 5))
        gain = np.ones_like(tissue)
        for k in range(distractors + 1)[::-1]:  # the cysts first, the classified lesion last (on top)
            if np.isnan(centres[k, 0]):
                continue
            blob_rng, irregular = (rng, labels[i] == 1) if k == 0 else (cyst_rng, cyst_rng.random() < 0.5)
            (cy, cx), r = centres[k], radii[k]
            theta, distance = np.arctan2(yy - cy, xx - cx), np.hypot(yy - cy, xx - cx)
            inside = distance <= lesion_edge(blob_rng, irregular, r, theta)
            if k == 0:  # solid mass: grey, coarse internal echoes, posterior shadowing
                echoes = 1 + 0.5 * (blob_rng.random((size // 4 + 1, size // 4 + 1)).repeat(4, 0).repeat(4, 1)[:size, :size] - 0.5)
                tissue = np.where(inside, blob_rng.uniform(35, 55) * echoes, tissue)
                gain *= 1 - blob_rng.uniform(0.35, 0.5) * below(yy, xx, cy + r, cx, r, size)
                masks[i] = inside
            else:  # simple cyst: anechoic, posterior enhancement
                tissue = np.where(inside, cyst_rng.uniform(4, 12), tissue)
                gain *= 1 + cyst_rng.uniform(0.3, 0.5) * below(yy, xx, cy + r, cx, r, size)
        speckle_field = rng.gamma(4.0, 1 / 4.0, (size, size))  # multiplicative, mean 1 (the phantoms' speckle)
        images[i] = np.clip(tissue * gain * speckle_field, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64), masks


def lesion_boxes(masks: np.ndarray, side: int = CROP) -> np.ndarray:
    """(N, H, W) masks -> (N, 2) top-left corners of a `side`-pixel box centred on each mask's centroid, kept
    inside the image (a mask with no pixel: the image's centre)."""
    n, height, width = masks.shape
    corners = np.empty((n, 2), np.int64)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        cy, cx = (ys.mean(), xs.mean()) if len(ys) else (height / 2, width / 2)
        corners[i] = (np.clip(round(cy - side / 2), 0, max(height - side, 0)),
                      np.clip(round(cx - side / 2), 0, max(width - side, 0)))
    return corners


def oracle_crop(images: np.ndarray, masks: np.ndarray, side: int = CROP) -> np.ndarray:
    """The `oracle-crop` control's input: each image cut to a `side`-pixel box around its classified lesion, at
    native resolution (no resizing): the ceiling of what knowing where to look can give."""
    side = min(side, *images.shape[1:3])
    corners = lesion_boxes(masks, side)
    return np.stack([im[y:y + side, x:x + side] for im, (y, x) in zip(images, corners)])


def segmentation_scenes(n: int, *, seed: int, side: int = 64, **knobs) -> tuple[np.ndarray, np.ndarray]:
    """Haystack scenes for segmentation pretraining (the haystack miniature): images and the classified lesion's
    masks at side x side (the miniature's MaskHead output); the labels are dropped, never read."""
    images, _, masks = make_haystack(n, seed=seed, **knobs)
    small = F.adaptive_avg_pool2d(torch.from_numpy(masks).float()[:, None], side)[:, 0] >= 0.5  # (n, side, side)
    return images, small.numpy()
