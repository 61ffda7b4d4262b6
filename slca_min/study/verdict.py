"""A study's answer in plain sentences, generated from its recorded CSVs, so that the words change when the study does.

The notebooks end with these sentences instead of prose that could drift from the numbers: each question of a
study's questions.csv becomes one sentence with the image count, both models' mean test AUC (from its
summary.csv), the paired difference with its 95% interval, and what that interval does and does not show.
`versus_study` reads a notebook's own small run against the study in the same words.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..utils.files import read_csv

NUMBERS = ("fraction", "diff", "ci95_low", "ci95_high", "half_width", "auc_mean", "auc_std")


def read_table(path: str | Path) -> list[dict]:
    """A questions or summary CSV with its numbers as numbers (level, seeds and n_train as integers)."""
    rows = read_csv(path)
    for r in rows:
        r.update({k: float(r[k]) for k in NUMBERS if r.get(k) not in (None, "")})
        r.update({k: int(r[k]) for k in ("level", "seeds", "seeds_won", "n_train") if r.get(k) not in (None, "")})
        r["excludes_0"] = str(r.get("excludes_0")) == "True"
    return rows


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
    """One question as a sentence: where, the two means, the paired difference, and its reading."""
    a, b = q["question"].split(" - ")
    means = [(m, mean_auc(summary, m, q)) for m in (a, b)]
    level = " and ".join(f"{m} {v:.3f}" for m, v in means if v is not None)
    interval = f"[{q['ci95_low']:+.3f}, {q['ci95_high']:+.3f}]"
    text = (f"{q['asks'][0].upper()}{q['asks'][1:]} At {where(q)}" + (f", mean test AUC {level}" if level else "") +
            f"; paired by seed, {a} − {b} = {q['diff']:+.3f} {interval}, {q['seeds_won']} of {q['seeds']} seeds won. ")
    if not q["excludes_0"]:
        return text + (f"Not shown: the interval contains 0, so {q['seeds']} seeds cannot tell the two apart; what they "
                       f"do show is that a true difference outside {interval} is unlikely.")
    direction = "ahead of" if q["diff"] > 0 else "behind"
    low, high = sorted((abs(q["ci95_low"]), abs(q["ci95_high"])))
    return text + (f"Shown: the interval excludes 0, so {a} is {direction} {b} here, by {low:.3f} to {high:.3f} "
                   "(among many questions, about one interval in 20 excludes 0 by chance).")


def verdict(questions: Sequence[dict], summary: Sequence[dict] = ()) -> list[str]:
    """Every question as a sentence, then a closing count of how many intervals exclude 0 out of how many."""
    lines = [sentence(q, summary) for q in questions]
    shown = [q for q in questions if q["excludes_0"]]
    lines.append(f"In all, {len(shown)} of {len(questions)} intervals exclude 0 (at 95 %, about {len(questions) / 20:.1f} "
                 "would by chance alone if no model differed from another)"
                 + (": " + "; ".join(f"{q['question']} at {where(q)}" for q in shown) + "." if shown else "."))
    return lines


def versus_study(own: Sequence[dict], study: Sequence[dict]) -> list[str]:
    """This notebook's paired differences (report.paired_questions on its rows) against the study's same question."""
    lines = []
    for q in own:
        asked = [s for s in study if s["question"] == q["question"] and s.get("level") == q.get("level")]
        same = [s for s in asked if s["fraction"] == q["fraction"]]
        line = (f"{q['question']}, here at {where(q)} with {q['seeds']} seeds: {q['diff']:+.3f} "
                f"[{q['ci95_low']:+.3f}, {q['ci95_high']:+.3f}]. ")
        for s in same or asked[:1]:
            line += ("The study" + ("" if same else " asked it only") + f" at {where(s)} with {s['seeds']} seeds: "
                     f"{s['diff']:+.3f} [{s['ci95_low']:+.3f}, {s['ci95_high']:+.3f}]")
            narrower = q["half_width"] / s["half_width"] if s["half_width"] else float("inf")
            line += (f"; its interval is {narrower:.0f}x narrower: {q['seeds']} seeds cannot decide this, its "
                     f"{s['seeds']} can come closer." if narrower >= 2 else ".")
        lines.append(line if asked else line + "The study did not ask this.")
    return lines
