"""A study's report from its results.csv files: questions as paired differences with 95% intervals, and how many
seeds an interval of a given half-width would need.

Read for benchmarks/study_*_report.py. What it guards against: a report is only as good as the rows it pairs, so
an empty file, a file without rows, rows of one model made with different settings (bf16 and fp32, from scratch
and from a weights file), a missing column, a model this version does not know, a metric that is not a number in
[0, 1], and two rows of one run with different values are refused with one line naming the file, never averaged
together; and a question a level cannot answer (one seed, no shared seed) is named, never silently dropped.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..train import METRICS
from ..utils.files import read_csv
from .comparison import MODELS
from .stats import paired_difference, t975

# Columns a run produced (or that name the run), not settings that made it.
OUTCOMES = {*METRICS, "model", "fraction", "seed", "n_train", "n_params", "best_epoch", "val_auc", "at_chance",
            "single_class", "note", "data", "origin"}


NEEDED = ("model", "fraction", "seed", *METRICS, "weights")  # the columns a report reads


def load_results(path: str | Path, *, rename: str = "") -> list[dict]:
    """The rows of one results.csv, numbers as numbers; `rename` is appended to each model's name (e.g. " (scratch)").
    Raises ValueError naming the file when it is missing, holds no rows, mixes settings within a model, lacks a
    column, names an unknown model, or holds a metric that is not a finite number in [0, 1] (naming the line).
    Each row keeps where it came from in "origin" (file, line), for unique_runs."""
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
    missing = [k for k in NEEDED if k not in rows[0]]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} column; a report reads the results.csv that `lowdata` wrote")
    unknown = [m for m in dict.fromkeys(r["model"] for r in rows) if m not in MODELS]
    if unknown:
        raise ValueError(f"{path}: model {', '.join(map(repr, unknown))} is not one this version knows "
                         f"({', '.join(MODELS)}); report it with the version that wrote it")
    for line, r in enumerate(rows, start=2):  # line 1 is the header
        r.update(model=r["model"] + rename, origin=(str(path), line), fraction=_number(r, "fraction", path, line),
                 seed=_number(r, "seed", path, line), **{m: _number(r, m, path, line) for m in METRICS})
    return rows


def _number(row: dict, key: str, path, line: int) -> float | int:
    """A row's value as the number it must be: a seed an integer, a fraction in (0, 1], a metric in [0, 1] (NaN and
    infinities fail the comparisons)."""
    text = row.get(key) or ""
    try:
        value = int(text) if key == "seed" else float(text)
    except ValueError:
        value = None
    must = {"seed": "an integer", "fraction": "a number in (0, 1]"}.get(key, "a finite number in [0, 1]")
    if value is None or (key == "fraction" and not 0 < value <= 1) or (key in METRICS and not 0 <= value <= 1):
        raise ValueError(f"{path}, line {line}: {key} {text!r} of {row['model']}, seed {row.get('seed')} is not "
                         f"{must}; fix or remove that row")
    return value


def unique_runs(rows: Sequence[dict], keys: Sequence[str] = ("model", "fraction", "seed")) -> list[dict]:
    """One row per run (the same `keys`): repeats with the same metrics are counted once, repeats that differ are
    refused with one line naming both rows, since either could be the run's result."""
    first: dict[tuple, dict] = {}
    for r in rows:
        other = first.setdefault(tuple(r[k] for k in keys), r)
        if other is not r and any(other[m] != r[m] for m in METRICS):
            (path_a, line_a), (path_b, line_b) = other["origin"], r["origin"]
            where = f"{path_a}, lines {line_a} and {line_b}" if path_a == path_b else \
                f"{path_a}, line {line_a} and {path_b}, line {line_b}"
            run = ", ".join(f"{k} {r[k]:g}" if isinstance(r[k], float) else f"{k} {r[k]}" for k in keys)
            differ = next(m for m in METRICS if other[m] != r[m])
            raise ValueError(f"{where}: two rows of {run} with different {differ} ({other[differ]:g}, {r[differ]:g}); "
                             "a run is recorded once: keep the row that is right")
    return list(first.values())


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


def unasked_questions(rows: Sequence[dict], questions: Sequence[tuple[str, str, str]], *, by: str = "fraction",
                      also: str = "") -> list[str]:
    """One line per question and value of `by` where both models have rows but paired_questions cannot ask it: one
    seed in common gives no interval, no seed in common gives nothing to pair. Said, never silently dropped; `also`
    is added to where (e.g. ", fraction 0.1")."""
    lines = []
    for a, b, _ in questions:
        for level in sorted({r[by] for r in rows}):
            seeds = {m: sorted({r["seed"] for r in rows if r["model"] == m and r[by] == level}) for m in (a, b)}
            shared = sorted(set(seeds[a]) & set(seeds[b]))
            if not (seeds[a] and seeds[b]) or len(shared) > 1:
                continue
            why = (f"one seed ({shared[0]}), and an interval needs two" if shared else
                   f"no shared seeds ({a}: {', '.join(map(str, seeds[a]))}; {b}: {', '.join(map(str, seeds[b]))})")
            lines.append(f"not asked: {a} - {b} at {by} {level:g}{also}: {why}")
    return lines


def print_questions(table: Sequence[dict], *, by: str = "fraction", half_width: float = 0.03) -> None:
    print("paired differences of test AUC, same subsets and seeds [95% t-interval] (seeds won); * excludes 0")
    for q in table:
        size = ([f"{q['n_train']} images"] if q.get("n_train") not in (None, "") else []) + \
            ([f"fraction {q['fraction']:g}"] if "fraction" in q else [])
        where = (f"{by} {q[by]}, " if by != "fraction" else "") + ", ".join(size)
        print(f"{q['question']:<34}{where:<32}  {q['diff']:+.3f} [{q['ci95_low']:+.3f}, {q['ci95_high']:+.3f}] "
              f"({q['seeds_won']}/{q['seeds']}){' *' if q['excludes_0'] else '  '}  half-width {q['half_width']:.3f}, "
              f"seeds for {half_width:g}: {q[f'seeds_for_half_width_{half_width:g}']}")
