"""The difficulty ladder's report: per level and fraction, each question as a paired difference with its 95% interval,
and the figure of those differences against the level.

Reads the results.csv of each level's folder (the level is read from the data file's name, phantoms-dL-...), pairs
models on the same level, fraction and seed (so on the same training subset), and writes, only once everything is
computed and drawn: benchmarks/PREFIX_summary.csv (per level, model and fraction: mean and std of every metric),
benchmarks/PREFIX_questions.csv (one row per question, level and fraction) and benchmarks/PREFIX.png, all three or
none. What it cannot ask (one seed, no shared seed) it says in a line; what it cannot read it refuses in one line,
exit code 2, leaving the recorded outputs as they were.

    python benchmarks/study_ladder_report.py runs/ladder-d*/results.csv
    python benchmarks/study_ladder_report.py --prefix study_ladder_pilot runs/ladder-pilot-d*/results.csv
"""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slca_min.study.comparison import summarize  # noqa: E402
from slca_min.cli.main import Parser  # noqa: E402
from slca_min.study.report import (load_results, paired_questions, print_questions, unasked_questions,  # noqa: E402
                                   unique_runs)
from slca_min.utils.files import csv_text, read_csv, write_together  # noqa: E402

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
    """Every level's rows, one per run (model, level, fraction, seed) across all files."""
    rows = []
    for path in paths:
        levels = [level_of(r, path) for r in read_csv(path)]  # a file of other data is named as such first
        rows += [{**r, "level": level} for r, level in zip(load_results(path), levels)]
    return unique_runs(rows, ("model", "level", "fraction", "seed"))


def ladder_questions(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """The questions asked per level and fraction, and a line for each one a level cannot answer."""
    table, unasked = [], []
    for fraction in sorted({r["fraction"] for r in rows}):
        part = [r for r in rows if r["fraction"] == fraction]
        table += [{**q, "fraction": fraction} for q in paired_questions(part, QUESTIONS, by="level")]
        unasked += unasked_questions(part, QUESTIONS, by="level", also=f", fraction {fraction:g}")
    return table, unasked


def png(fig: plt.Figure) -> bytes:
    """The figure drawn in memory: it must exist before any output is written."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    return buffer.getvalue()


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


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.csv of each level")
    parser.add_argument("--prefix", default="study_ladder", help="names of the outputs, in benchmarks/ unless a path "
                                                                 "(default %(default)s)")
    args = parser.parse_args(argv)
    try:  # everything is read, computed and drawn before anything is written: a failed run leaves the recorded report
        rows = load(args.results)
        summary = [{"level": level, **s} for level in sorted({r["level"] for r in rows})
                   for s in summarize([r for r in rows if r["level"] == level])]
        table, unasked = ladder_questions(rows)
        outputs = [HERE / f"{args.prefix}{end}" for end in ("_summary.csv", "_questions.csv", ".png")]
        write_together(dict(zip(outputs, (csv_text(summary).encode(), csv_text(table).encode(),
                                          png(figure(rows, table))))))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for label in dict.fromkeys(f"{r['model']}: {r['weights']}" for r in rows if r["model"] in ("slca", "slca-oracle")):
        print(label)
    print(f"backbone weights: {', '.join(dict.fromkeys(str(r.get('backbone_weights')) for r in rows))}")
    print(f"{'level':<6}{'model':<18}{'images':>7}{'fraction':>9}{'seeds':>6}{'test AUC':>18}{'balanced acc':>18}")
    for s in summary:
        print(f"{s['level']:<6}{s['model']:<18}{s['n_train']:>7}{s['fraction']:>9}{s['seeds']:>6}{s['auc_mean']:>11.3f} ± {s['auc_std']:.3f}"
              f"{s['balanced_acc_mean']:>11.3f} ± {s['balanced_acc_std']:.3f}")
    print()
    print_questions(table, by="level")
    for line in unasked:  # every question the data cannot answer, said
        print(line)
    print(f"wrote {', '.join(map(str, outputs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
