"""Paired comparisons over seeds: a model minus the baseline, trained on the same subset with the same seed."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# Student's t, 97.5% quantile, for 1..30 degrees of freedom (standard tables); beyond, a Cornish-Fisher expansion.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired_difference(model: Sequence[float], baseline: Sequence[float]) -> dict:
    """Mean of model - baseline over seeds, its 95% t-interval (NaN with one seed), and how many seeds the model won."""
    d = np.asarray(model, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(d)
    half = t975(n - 1) * d.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    return {"diff_mean": float(d.mean()), "ci_low": float(d.mean() - half), "ci_high": float(d.mean() + half),
            "seeds": n, "won": int((d > 0).sum())}
