"""A study's report from its results.csv files: questions as paired differences with 95% intervals, and how many
seeds an interval of a given half-width would need.

Read for benchmarks/study_*_report.py. What it guards against: a report is only as good as the rows it pairs, so
an empty file, a file without rows, or rows of one model made with different settings (bf16 and fp32, from scratch
and from a weights file) are refused with one line naming the file and the setting, never averaged together.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..train import METRICS
from ..utils.files import read_csv
from .stats import paired_difference, t975

# Columns a run produced (or that name the run), not settings that made it.
OUTCOMES = {*METRICS, "model", "fraction", "seed", "n_train", "n_params", "best_epoch", "val_auc", "at_chance",
            "single_class", "note", "data"}


def load_results(path: str | Path, *, rename: str = "") -> list[dict]:
    """The rows of one results.csv, numbers as numbers; `rename` is appended to each model's name (e.g. " (scratch)").
    Raises ValueError naming the file when it is missing, holds no rows, or mixes settings within a model."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such results file; pass a results.csv that `lowdata` wrote")
    rows = read_csv(path)
    if not rows or "model" not in rows[0]:
        raise ValueError(f"{path}: no result rows (empty, or a header only); run the study first")
    for model in dict.fromkeys(r["model"] for r in rows):
        group = [r for r in rows if r["model"] == model]
        for key in dict.fromkeys(k for r in group for k in r if k not in OUTCOMES):
            values = sorted({r.get(key, "") for r in group})
            if len(values) > 1:
                raise ValueError(f"{path}: the rows of {model} were made with different {key} ({', '.join(values)}); "
                                 "a report pairs rows of one setting: split the file by that column")
    for r in rows:
        r.update(model=r["model"] + rename, fraction=float(r["fraction"]), seed=int(r["seed"]), auc=float(r["auc"]),
                 balanced_acc=float(r["balanced_acc"]))
    return rows


def seeds_for(sd: float, half_width: float) -> int | None:
    """The fewest seeds whose 95% t-interval of a paired difference with this spread has at most `half_width`."""
    return next((n for n in range(2, 10_000) if t975(n - 1) * sd / math.sqrt(n) <= half_width), None)


def paired_questions(rows: Sequence[dict], questions: Sequence[tuple[str, str, str]], *, by: str = "fraction",
                     metric: str = "auc", half_width: float = 0.03) -> list[dict]:
    """One row per (question, value of `by`): a - b over the seeds both have (same subset, same seed), its 95%
    t-interval, seeds won, and the seeds an interval of `half_width` would need at this spread."""
    value = {(r["model"], r[by], r["seed"]): float(r[metric]) for r in rows}
    out = []
    for a, b, asks in questions:
        for level in sorted({r[by] for r in rows}):
            seeds = sorted(s for (m, v, s) in value if m == a and v == level and (b, v, s) in value)
            if len(seeds) < 2:
                continue
            differences = [value[a, level, s] - value[b, level, s] for s in seeds]
            d = paired_difference([value[a, level, s] for s in seeds], [value[b, level, s] for s in seeds])
            n_train = next((r["n_train"] for r in rows if r["model"] == a and r[by] == level and "n_train" in r), "")
            out.append({"question": f"{a} - {b}", "asks": asks, by: level, "n_train": n_train, "seeds": len(seeds),
                        "diff": d["diff_mean"], "ci95_low": d["ci_low"], "ci95_high": d["ci_high"],
                        "half_width": (d["ci_high"] - d["ci_low"]) / 2, "seeds_won": d["won"],
                        f"seeds_for_half_width_{half_width:g}": seeds_for(float(np.std(differences, ddof=1)), half_width),
                        "excludes_0": d["ci_low"] > 0 or d["ci_high"] < 0})
    return out


def print_questions(table: Sequence[dict], *, by: str = "fraction", half_width: float = 0.03) -> None:
    print("paired differences of test AUC, same subsets and seeds [95% t-interval] (seeds won); * excludes 0")
    for q in table:
        where = f"{by} {q[by]}" + (f", fraction {q['fraction']:g}" if by != "fraction" and "fraction" in q else "")
        print(f"{q['question']:<34}{where:<22}  {q['diff']:+.3f} [{q['ci95_low']:+.3f}, {q['ci95_high']:+.3f}] "
              f"({q['seeds_won']}/{q['seeds']}){' *' if q['excludes_0'] else '  '}  half-width {q['half_width']:.3f}, "
              f"seeds for {half_width:g}: {q[f'seeds_for_half_width_{half_width:g}']}")
