"""The difficulty ladder's report: per level and fraction, each question as a paired difference with its 95% interval,
and the figure of those differences against the level.

Reads the results.csv of each level's folder (the level is read from the data file's name, phantoms-dL-...), pairs
models on the same level, fraction and seed (so on the same training subset), and writes, only once everything is
computed: benchmarks/PREFIX_summary.csv (per level, model and fraction: mean and std of every metric),
benchmarks/PREFIX_questions.csv (one row per question, level and fraction) and benchmarks/PREFIX.png.

    python benchmarks/study_ladder_report.py runs/ladder-d*/results.csv
    python benchmarks/study_ladder_report.py --prefix study_ladder_pilot runs/ladder-pilot-d*/results.csv
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slca_min.study.comparison import summarize  # noqa: E402
from slca_min.study.report import load_results, paired_questions, print_questions  # noqa: E402
from slca_min.utils.files import atomic_write, write_csv  # noqa: E402

HERE = Path(__file__).parent
QUESTIONS = [  # (a, b, what a - b asks), the most important first
    ("slca-oracle", "baseline", "does a perfect segmentation, through SLCA's gate, beat the baseline?"),
    ("slca", "baseline", "does SLCA beat the baseline?"),
    ("slca", "slca-shuffled", "does SLCA use the image's own regions?"),
    ("fusion", "baseline", "do the regions help when fused late instead of gating?"),
    ("fusion", "slca", "is gating the better way to use the regions?"),
    ("slca-multilevel", "slca", "do five levels gating five stages beat the neck gating stage 4?"),
]
MODELS = ("baseline", "slca-shuffled", "slca", "slca-multilevel", "fusion", "slca-oracle")


def level_of(row: dict, path: str) -> int:
    found = re.search(r"-d(\d+)-", Path(row.get("data", "")).name)
    if not found:
        raise ValueError(f"{path}: data {row.get('data')!r} is not a ladder file (phantoms-dL-...npz); pass the "
                         "results of study_ladder.sh")
    return int(found.group(1))


def load(paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
        for r in load_results(path):
            rows.append({**r, "level": level_of(r, path)})
    return rows


def ladder_questions(rows: list[dict]) -> list[dict]:
    table = []
    for fraction in sorted({r["fraction"] for r in rows}):
        part = [r for r in rows if r["fraction"] == fraction]
        table += [{**q, "fraction": fraction} for q in paired_questions(part, QUESTIONS, by="level")]
    return table


def figure(rows: list[dict], table: list[dict]) -> plt.Figure:
    asked = list(dict.fromkeys(q["question"] for q in table))
    columns = min(4, 1 + len(asked))
    rows_of_panels = -(-(1 + len(asked)) // columns)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(3.6 * columns, 3.3 * rows_of_panels), squeeze=False)
    for ax in axes.flat[1 + len(asked):]:
        ax.axis("off")
    fractions = sorted({r["fraction"] for r in rows})
    ladder = sorted({r["level"] for r in rows})
    ax = axes[0, 0]
    for model in (m for m in MODELS if any(r["model"] == m for r in rows)):
        for fraction in fractions:
            levels = sorted({r["level"] for r in rows if r["model"] == model and r["fraction"] == fraction})
            if not levels:
                continue
            values = [np.array([r["auc"] for r in rows if r["model"] == model and r["fraction"] == fraction
                                and r["level"] == level]) for level in levels]
            ax.errorbar(levels, [v.mean() for v in values], yerr=[v.std() for v in values], marker="o", capsize=2,
                        label=f"{model}, {fraction:g}", ls="-" if fraction == fractions[-1] else ":")
    ax.set(xlabel="difficulty level", ylabel="test AUC (mean ± std over seeds)", title="models (fraction)",
           xticks=ladder)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=5.5)
    for ax, question in zip(axes.flat[1:], asked):
        ax.set_xticks(ladder)
        for k, fraction in enumerate(fractions):
            q = [q for q in table if q["question"] == question and q["fraction"] == fraction]
            if not q:
                continue
            x = np.array([q["level"] for q in q]) + 0.08 * (k - (len(fractions) - 1) / 2)
            diff = np.array([q["diff"] for q in q])
            ax.errorbar(x, diff, yerr=[diff - [q["ci95_low"] for q in q], [q["ci95_high"] for q in q] - diff],
                        marker="o", capsize=3, label=f"fraction {fraction:g}", color=f"C{k}")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="difficulty level", ylabel="paired AUC difference [95% CI]")
        ax.set_title(question, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Difficulty ladder of the phantoms: ResNet-18 from the stand-in for ImageNet (not ImageNet);\n"
                 "SLCA reads the miniature encoder (a stand-in, not SAM)", fontsize=8)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.csv of each level")
    parser.add_argument("--prefix", default="study_ladder", help="names of the outputs, in benchmarks/ unless a path "
                                                                 "(default %(default)s)")
    args = parser.parse_args()
    try:  # everything is read and computed before anything is written: a failed run leaves the recorded report
        rows = load(args.results)
    except ValueError as e:
        sys.exit(f"error: {e}")
    summary = [{"level": level, **s} for level in sorted({r["level"] for r in rows})
               for s in summarize([r for r in rows if r["level"] == level])]
    table = ladder_questions(rows)
    fig = figure(rows, table)
    outputs = [HERE / f"{args.prefix}{end}" for end in ("_summary.csv", "_questions.csv", ".png")]
    write_csv(outputs[0], summary)
    write_csv(outputs[1], table)
    with atomic_write(outputs[2]) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    for label in dict.fromkeys(f"{r['model']}: {r['weights']}" for r in rows if r["model"] in ("slca", "slca-oracle")):
        print(label)
    print(f"backbone weights: {', '.join(dict.fromkeys(str(r.get('backbone_weights')) for r in rows))}")
    print(f"{'level':<6}{'model':<18}{'fraction':>9}{'seeds':>6}{'test AUC':>18}{'balanced acc':>18}")
    for s in summary:
        print(f"{s['level']:<6}{s['model']:<18}{s['fraction']:>9}{s['seeds']:>6}{s['auc_mean']:>11.3f} ± {s['auc_std']:.3f}"
              f"{s['balanced_acc_mean']:>11.3f} ± {s['balanced_acc_std']:.3f}")
    print()
    print_questions(table, by="level")
    print(f"wrote {', '.join(map(str, outputs))}")


if __name__ == "__main__":
    main()
