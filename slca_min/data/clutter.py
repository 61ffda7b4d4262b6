"""What a sonographer sees besides the lesion: structures that make finding the classified lesion hard.

Four kinds, each drawn from its own random stream, never from the label (issue 35's difficulty ladder):
- a cyst: a smooth, anechoic (near-black) blob with posterior acoustic enhancement below it, which looks
  much like a benign lesion's smooth margin;
- a duct or vessel: an elongated dark tube;
- a specular line: a thin bright line at a tissue interface, roughly parallel to the probe (horizontal);
- a calcification: a small bright spot with an acoustic shadow below it (the probe is at the top).
Shadows and enhancement multiply everything below the structure, the lesion included: they hide or brighten
part of its margin at random. The lesion is drawn over the clutter, so its mask (and `oracle_regions`) stays
the classified lesion only.
"""
from __future__ import annotations

import numpy as np

KINDS = ("cyst", "duct", "specular line", "calcification")


def _segment_distance(yy, xx, y0, x0, angle, length):
    """Distance of every pixel to the segment from (y0, x0), `length` long, at `angle` (radians)."""
    dy, dx = np.sin(angle), np.cos(angle)
    t = np.clip((yy - y0) * dy + (xx - x0) * dx, 0, length)  # position along the segment, clamped to its ends
    return np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))


def below(yy, xx, y, x, half_width, size):
    """A soft column under (y, x), `half_width` wide, fading with depth: where a shadow or enhancement falls."""
    across = np.clip(1 - np.abs(xx - x) / half_width, 0, 1)
    depth = np.clip((yy - y) / 2, 0, 1) * np.exp(-np.clip(yy - y, 0, None) / size)
    return across * depth


def add_clutter(tissue: np.ndarray, count: int, rng: np.random.Generator, *, avoid: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw `count` structures on `tissue` (H, W float intensities), away from the disc `avoid` = (cy, cx, radius)
    (the lesion's nominal place, which does not depend on its class). Returns (tissue with the structures,
    gain (H, W) to multiply after the lesion is drawn: shadows < 1, enhancement > 1, and the structures' mask)."""
    size = tissue.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    tissue, gain, footprint = tissue.copy(), np.ones_like(tissue), np.zeros(tissue.shape, bool)
    cy, cx, radius = avoid
    for _ in range(count):
        kind = KINDS[rng.integers(len(KINDS))]
        for _ in range(20):  # a place whose centre is outside the lesion's nominal disc (by a margin)
            y, x = rng.uniform(0.05, 0.95, 2) * size
            if np.hypot(y - cy, x - cx) > radius * 1.4 + 0.05 * size:
                break
        if kind == "cyst":
            r = size * rng.uniform(0.04, 0.08)
            shape = np.hypot(yy - y, xx - x) <= r
            value, change = rng.uniform(10, 25), 1 + rng.uniform(0.25, 0.45) * below(yy, xx, y + r, x, r, size)
        elif kind == "duct":
            length, width = size * rng.uniform(0.25, 0.5), rng.uniform(1.0, 2.0)
            shape = _segment_distance(yy, xx, y, x, rng.uniform(0, np.pi), length) <= width
            value, change = rng.uniform(40, 65), 1.0
        elif kind == "specular line":
            length = size * rng.uniform(0.2, 0.45)
            shape = _segment_distance(yy, xx, y, x, rng.uniform(-0.4, 0.4), length) <= 0.9
            value, change = rng.uniform(180, 230), 1.0
        else:  # calcification with its acoustic shadow
            r = rng.uniform(1.0, 2.0)
            shape = np.hypot(yy - y, xx - x) <= r
            value, change = rng.uniform(190, 240), 1 - rng.uniform(0.4, 0.6) * below(yy, xx, y + r, x, r + 1.5, size)
        tissue[shape] = value
        gain *= change
        footprint |= shape | (np.asarray(change) != 1)
    return tissue, gain, footprint
