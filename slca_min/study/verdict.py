"""A study's answer in plain sentences, generated from its recorded CSVs, so that the words change when the study does.

The notebooks end with these sentences instead of prose that could drift from the numbers: each question of a
study's questions.csv becomes one sentence with the image count, both models' mean test AUC (from its
summary.csv), the paired difference with its 95% interval, and what that interval does and does not show.
`versus_study` reads a notebook's own small run against the study in the same words.

The reading comes from the interval's own numbers (its ends, their signs), never from a stored `excludes_0`
column, which a spreadsheet may have rewritten (TRUE) or a hand may have left stale: a missing or NaN interval
reads "no interval (one seed)", an inverted one (low > high) is refused.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from ..utils.files import read_csv

NUMBERS = ("fraction", "diff", "ci95_low", "ci95_high", "half_width", "auc_mean", "auc_std")
INTEGERS = ("level", "seeds", "seeds_won", "n_train")


def read_table(path: str | Path) -> list[dict]:
    """A questions or summary CSV with its numbers as numbers (level, seeds and n_train as integers); `excludes_0`
    is recomputed from the interval (what a figure colours), a damaged row is refused naming the file and line."""
    rows = read_csv(path)
    for line, r in enumerate(rows, start=2):  # line 1 is the header
        for k in (*NUMBERS, *INTEGERS):
            if r.get(k) not in (None, ""):
                kind = int if k in INTEGERS else float
                try:
                    r[k] = kind(r[k])
                except ValueError:
                    raise ValueError(f"{path}, line {line}: {k} {r[k]!r} is not a number") from None
        if "question" in r:
            try:
                r["excludes_0"] = reading(r) == "shown"
            except ValueError as e:
                raise ValueError(f"{path}, line {line}: {e}") from None
    return rows


def interval(q: dict) -> tuple[float, float] | None:
    """A question's 95% interval (low, high), or None when it has none (one seed: empty or NaN); refuses an
    inverted or infinite one, which no paired difference gives."""
    ends = [q.get(k) for k in ("ci95_low", "ci95_high")]
    if any(e in (None, "") or math.isnan(float(e)) for e in ends):
        return None
    low, high = map(float, ends)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{q.get('question', 'a question')}: interval [{low:+.3f}, {high:+.3f}] is "
                         f"{'inverted (low > high)' if low > high else 'not finite'}; the questions file is damaged, "
                         "write it again with the study's report")
    return low, high


def reading(q: dict) -> str:
    """'shown' when the interval lies on one side of 0, 'not shown' when it contains 0, 'no interval' without one."""
    ends = interval(q)
    return "no interval" if ends is None else "shown" if ends[0] > 0 or ends[1] < 0 else "not shown"


def interval_text(q: dict) -> str:
    ends = interval(q)
    return "no interval (one seed)" if ends is None else f"[{ends[0]:+.3f}, {ends[1]:+.3f}]"


def where(q: dict) -> str:
    """'9 training images (fraction 0.02), difficulty level 1' from a question's row (an empty column is left out)."""
    known = {k for k in ("n_train", "level") if q.get(k) not in (None, "")}
    images = f"{q['n_train']} training images (fraction {q['fraction']:g})" if "n_train" in known else f"fraction {q['fraction']:g}"
    return images + (f", difficulty level {q['level']}" if "level" in known else "")


def mean_auc(summary: Sequence[dict], model: str, q: dict) -> float | None:
    match = [s for s in summary if s["model"] == model and s["fraction"] == q["fraction"]
             and s.get("level", q.get("level")) == q.get("level")]
    return match[0]["auc_mean"] if match else None


def sentence(q: dict, summary: Sequence[dict] = ()) -> str:
    """One question as a sentence: where, the two means, the paired difference, and its reading (from the interval)."""
    a, b = q["question"].split(" - ")
    means = [(m, mean_auc(summary, m, q)) for m in (a, b)]
    level = " and ".join(f"{m} {v:.3f}" for m, v in means if v is not None)
    read = reading(q)
    text = (f"{q['asks'][0].upper()}{q['asks'][1:]} At {where(q)}" + (f", mean test AUC {level}" if level else "") +
            f"; paired by seed, {a} − {b} = {q['diff']:+.3f} {interval_text(q)}, {q['seeds_won']} of {q['seeds']} "
            "seeds won. ")
    if read == "no interval":
        return text + (f"Not shown: with no interval (one seed) nothing can be told about {a} against {b} here; "
                       "a second seed gives an interval.")
    low, high = interval(q)
    if read == "not shown":
        return text + (f"Not shown: the interval contains 0, so {q['seeds']} seeds cannot tell the two apart; what they "
                       f"do show is that a true difference outside [{low:+.3f}, {high:+.3f}] is unlikely.")
    direction = "ahead of" if low > 0 else "behind"
    near, far = sorted((abs(low), abs(high)))
    return text + (f"Shown: the interval excludes 0, so {a} is {direction} {b} here, by {near:.3f} to {far:.3f} "
                   "(among many questions, about one interval in 20 excludes 0 by chance).")


def verdict(questions: Sequence[dict], summary: Sequence[dict] = ()) -> list[str]:
    """Every question as a sentence, then a closing count of how many intervals exclude 0 out of how many."""
    lines = [sentence(q, summary) for q in questions]
    shown = [q for q in questions if reading(q) == "shown"]
    intervals = sum(reading(q) != "no interval" for q in questions)
    without = len(questions) - intervals
    lines.append(f"In all, {len(shown)} of {intervals} intervals exclude 0 (at 95 %, about {intervals / 20:.1f} "
                 "would by chance alone if no model differed from another)"
                 + (": " + "; ".join(f"{q['question']} at {where(q)}" for q in shown) if shown else "") + "."
                 + (f" {without} question{'s have' if without > 1 else ' has'} no interval (one seed) and "
                    f"{'are' if without > 1 else 'is'} not counted." if without else ""))
    return lines


def size(q: dict) -> float:
    """A question's training-set size: its image count where it has one (a fraction means different counts on
    different training splits), else its fraction."""
    return float(q["n_train"]) if q.get("n_train") not in (None, "") else float(q["fraction"])


def versus_study(own: Sequence[dict], study: Sequence[dict]) -> list[str]:
    """This notebook's paired differences (report.paired_questions on its rows) against the study's same question at
    the same training-set size (in images), else at its nearest."""
    lines = []
    for q in own:
        asked = sorted((s for s in study if s["question"] == q["question"] and s.get("level") == q.get("level")),
                       key=lambda s: abs(math.log(size(s) / size(q))))
        same = [s for s in asked if size(s) == size(q)]
        line = f"{q['question']}, here at {where(q)} with {q['seeds']} seeds: {q['diff']:+.3f} {interval_text(q)}. "
        for s in same or asked[:1]:
            line += ("The study" + ("" if same else " did not ask it at this size; nearest") + f" at {where(s)} with {s['seeds']} seeds: "
                     f"{s['diff']:+.3f} {interval_text(s)}")
            ours, theirs = interval(q), interval(s)
            narrower = ((ours[1] - ours[0]) / (theirs[1] - theirs[0]) if theirs[1] > theirs[0] else float("inf")
                        ) if ours and theirs else 0
            line += (f"; its interval is {narrower:.0f}x narrower: {q['seeds']} seeds cannot decide this, its "
                     f"{s['seeds']} can come closer." if narrower >= 2 else ".")
        lines.append(line if asked else line + "The study did not ask this.")
    return lines
