"""Checker for exercise 3: a paired difference over seeds and its 95% t-interval, computed by hand."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..study.stats import paired_difference, t975
from .checks import ExerciseError, call, compare, fail, on_cpu, passed

# test AUCs of one model and the baseline, trained on the same subsets with the same six seeds
MODEL = [0.81, 0.74, 0.86, 0.79, 0.90, 0.77]
BASELINE = [0.78, 0.75, 0.80, 0.76, 0.84, 0.77]


def check_paired_difference(student_fn) -> str:
    """paired_difference(model, baseline) -> (mean, low, high): the mean of model - baseline over seeds and its
    95% t-interval, mean +- t(0.975, n - 1) * sd(ddof=1) / sqrt(n)."""
    a, b = np.array(MODEL), np.array(BASELINE)
    d, n = a - b, len(a)
    ref = paired_difference(a, b)  # the reference and the mistakes first, before any student code runs
    mean, sd = d.mean(), d.std(ddof=1)

    def interval(center: float, half: float) -> torch.Tensor:
        return torch.tensor([center, center - half, center + half], dtype=torch.float64)
    unpaired = math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    mistakes = [
        ("the sign is reversed: the difference is model - baseline", interval(-mean, t975(n - 1) * sd / math.sqrt(n))),
        ("the interval is unpaired (from each model's own spread); the seeds pair the runs, so take the differences "
         "first and use their spread", interval(mean, t975(n - 1) * unpaired)),
        ("the interval is unpaired (from each model's own spread, 2n - 2 degrees of freedom); take the differences "
         "first and use their spread", interval(mean, t975(2 * n - 2) * unpaired)),
        ("1.96 is the normal quantile; with n seeds the interval uses Student's t with n - 1 degrees of freedom "
         f"({t975(n - 1):.3f} for n = {n})", interval(mean, 1.959964 * sd / math.sqrt(n))),
        (f"Student's t with n degrees of freedom; it has n - 1 = {n - 1}", interval(mean, t975(n) * sd / math.sqrt(n))),
        ("the standard deviation divides by n (ddof=0); the sample's divides by n - 1 (ddof=1)",
         interval(mean, t975(n - 1) * d.std(ddof=0) / math.sqrt(n))),
        ("the half-width is t * sd: that is the spread of one seed's difference; the mean's is sd / sqrt(n)",
         interval(mean, t975(n - 1) * sd)),
    ]
    got = numbers(call(student_fn, list(MODEL), list(BASELINE), what="paired_difference(model, baseline)"))
    compare(got, torch.tensor([ref["diff_mean"], ref["ci_low"], ref["ci_high"]], dtype=torch.float64),
            what="paired_difference", axes=("(mean, low, high) item",), rtol=1e-3, atol=1e-4, mistakes=mistakes)
    return passed("paired_difference: the mean over seeds of model - baseline, with its 95% t-interval")


def numbers(out) -> torch.Tensor:
    """(mean, low, high) as a float64 tensor; anything else, a tensor on another device included, is named."""
    if isinstance(out, torch.Tensor):
        on_cpu(out, "paired_difference's result")
    try:
        items = list(out)
        for v in items:
            if isinstance(v, torch.Tensor):
                on_cpu(v, "paired_difference's result")
        got = torch.tensor([float(v) for v in items], dtype=torch.float64)
    except ExerciseError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever came back, the student is told what was expected
        fail(f"paired_difference(model, baseline) should return three numbers (mean, low, high); it gave "
             f"{type(e).__name__}: {e}")
    if got.shape != (3,):
        fail(f"paired_difference returned {len(got)} numbers; expected (mean, low, high)")
    return got
