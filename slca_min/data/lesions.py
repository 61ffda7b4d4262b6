"""What every phantom scene draws a lesion with: the tissue it sits in and its margin, the class's cue."""
from __future__ import annotations

import math

import numpy as np

TISSUE = 110.0  # the background's mean intensity, which lesion_contrast scales the lesion's darkness against


def lesion_edge(rng: np.random.Generator, irregular: bool, radius: float, theta: np.ndarray) -> np.ndarray:
    """The margin's distance from the centre at each angle `theta`: irregular (many sharp lobes) or smooth (an oval)."""
    if irregular:
        lobes = rng.integers(5, 9)
        return radius * (1 + rng.uniform(0.35, 0.5) * np.abs(np.sin(lobes / 2 * theta + rng.uniform(0, np.pi))) - 0.25)
    return radius * (1 + rng.uniform(0.0, 0.2) * np.cos(2 * (theta - rng.uniform(0, np.pi))))


def finite_knobs(**knobs: float | int | None) -> None:
    """Refuse a NaN or infinite knob (NaN passes every comparison: it would write lesions of no size, or black
    images)."""
    for name, value in knobs.items():
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name}={value}: a phantom knob must be a finite number")
