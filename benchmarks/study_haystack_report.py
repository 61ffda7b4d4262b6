"""The haystack study's report (issue 44): per training-set size, each question as a paired difference with its
95% interval, and the figure of those differences against the number of training images.

Reads the results.csv files the study wrote (pilot or full study, any number of folders), pairs models on the
same fraction and seed (so on the same training subset), reads the scene's knobs from the data file's name
(haystack-sSIZE-shSHARE-dDISTRACTORS-nN.npz, as the study scripts write it) and writes, only once everything is
computed and drawn, benchmarks/PREFIX_summary.csv (per size and model: mean and std of every metric),
benchmarks/PREFIX_questions.csv (one row per question and size, with its half-width and the seeds a half-width
of 0.03 would take) and benchmarks/PREFIX.png: all three or none. Refusals: one line, exit 2.

    python benchmarks/study_haystack_report.py --prefix study_haystack_pilot runs/haystack-pilot-*/results.csv
    python benchmarks/study_haystack_report.py benchmarks/haystack/results-*.csv
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from study_ladder_report import png

import matplotlib.pyplot as plt  # noqa: E402 (study_ladder_report chose the Agg backend)
import numpy as np  # noqa: E402

from slca_min.cli.main import Parser  # noqa: E402
from slca_min.study.comparison import summarize  # noqa: E402
from slca_min.study.report import (load_results, paired_questions, print_questions, unasked_questions,  # noqa: E402
                                   unique_runs)
from slca_min.utils.files import csv_text, write_together  # noqa: E402

HERE = Path(__file__).parent
QUESTIONS = [  # (a, b, what a - b asks), in the order of the plan (docs/study.md)
    ("oracle-crop", "baseline", "the positive control: does knowing where to look help here?"),
    ("slca-oracle", "baseline", "can SLCA's gate use a perfect location?"),
    ("oracle-crop", "slca-oracle", "how much of the ceiling does the gate's form leave?"),
    ("slca-oracle-residual", "baseline", "does the residual gate F*(1+A) use a perfect location?"),
    ("slca", "slca-shuffled", "do the haystack miniature's regions carry it?"),
    ("slca", "baseline", "does SLCA beat the baseline?"),
    ("cbam", "baseline", "does attention learnt from the image alone help?"),
    ("fusion", "baseline", "do the regions help when fused late instead of gating?"),
    # the follow-up, planned after the questions above were answered (docs/study.md): what in the regions helps?
    ("slca-inside", "slca-oracle", "does the mass's content give the gate more than its location?"),
    ("slca", "slca-inside", "what do the regions away from the mass add?"),
    ("slca-outside", "baseline", "do the regions help without the mass's own cells?"),
    ("slca-inside", "baseline", "do the regions on the mass's cells alone help?"),
    ("slca", "slca-oracle", "post hoc: do the learnt regions beat the true location?"),
    # the second follow-up, planned after the first was answered (docs/study.md): is slca-outside's hole the help?
    ("slca-outside", "slca-outside-swapped", "does the hole that marks the mass's place help slca-outside?"),
    ("slca-outside-swapped", "baseline", "do the regions help without the mass's content or any mark of its place?"),
]
KNOBS = re.compile(r"haystack-s(\d+)-sh([\d.]+)-d(\d+)-")


def scene_of(row: dict, path: str) -> dict:
    found = KNOBS.search(Path(row.get("data", "")).name)
    if not found:
        raise ValueError(f"{path}: data {row.get('data')!r} is not a haystack file (haystack-sS-shF-dK-nN.npz); pass "
                         "the results of study_haystack*.sh")
    return {"canvas": int(found[1]), "share": float(found[2]), "distractors": int(found[3])}


def load(paths: list[str]) -> tuple[list[dict], dict]:
    """Every file's rows, one per run (model, fraction, seed), and the one scene they share."""
    rows = []
    for path in paths:
        rows += [{**r, **scene_of(r, path)} for r in load_results(path)]
    scenes = {tuple(scene_of(r, r["origin"][0]).values()) for r in rows}
    if len(scenes) > 1:
        raise ValueError(f"{', '.join(paths)}: rows of {len(scenes)} different scenes; report one scene at a time")
    return unique_runs(rows), scene_of(rows[0], rows[0]["origin"][0])


def figure(rows: list[dict], table: list[dict], scene: dict) -> plt.Figure:
    asked = list(dict.fromkeys(q["question"] for q in table))
    columns = min(4, 1 + len(asked))
    panels = -(-(1 + len(asked)) // columns)
    fig, axes = plt.subplots(panels, columns, figsize=(3.6 * columns, 3.3 * panels), squeeze=False)
    for ax in axes.flat[1 + len(asked):]:
        ax.axis("off")
    ax = axes[0, 0]
    for model in dict.fromkeys(r["model"] for r in rows):
        sizes = sorted({int(r["n_train"]) for r in rows if r["model"] == model})
        values = [np.array([r["auc"] for r in rows if r["model"] == model and int(r["n_train"]) == n]) for n in sizes]
        ax.errorbar(sizes, [v.mean() for v in values], yerr=[v.std() for v in values], marker="o", capsize=2, label=model)
    ax.set(xscale="log", xlabel="training images", ylabel="test AUC (mean ± std over seeds)", title="models")
    sizes = sorted({int(r["n_train"]) for r in rows})
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=6)
    for ax, question in zip(axes.flat[1:], asked):
        q = sorted((q for q in table if q["question"] == question), key=lambda q: int(q["n_train"]))
        x, diff = np.array([int(q["n_train"]) for q in q]), np.array([q["diff"] for q in q])
        ax.errorbar(x, diff, yerr=[diff - [q["ci95_low"] for q in q], [q["ci95_high"] for q in q] - diff],
                    marker="o", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xscale="log", xlabel="training images", ylabel="paired AUC difference [95% CI]",
               ylim=(max(ax.get_ylim()[0], -1), min(ax.get_ylim()[1], 1)))  # a difference of AUCs lies in [-1, 1]
        ax.set_title(question + (" (post hoc)" if q[0]["asks"].startswith("post hoc") else ""), fontsize=9)
    for ax in axes.flat[:1 + len(asked)]:  # the sizes themselves as ticks, not a log scale's decades
        ax.set_xticks(sizes, [str(n) for n in sizes], fontsize=7)
        ax.minorticks_off()
    fig.suptitle(f"Haystack scenes ({scene['canvas']} px, lesion {scene['share']:.0%} of the image, "
                 f"{scene['distractors']} cysts): ResNet-18 from the stand-in for ImageNet (not ImageNet);\n"
                 "slca reads the haystack miniature (a stand-in, not SAM); the oracles read the true lesion", fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.csv files of one scene")
    parser.add_argument("--prefix", default="study_haystack", help="names of the outputs, in benchmarks/ unless a "
                                                                   "path (default %(default)s)")
    args = parser.parse_args(argv)
    try:  # everything is read, computed and drawn before anything is written
        rows, scene = load(args.results)
        summary = [{**scene, **s} for s in summarize(rows)]  # s["n_train"]: the size's images
        table = [{**scene, **q} for q in paired_questions(rows, QUESTIONS)]
        unasked = unasked_questions(rows, QUESTIONS)
        outputs = [HERE / f"{args.prefix}{end}" for end in ("_summary.csv", "_questions.csv", ".png")]
        write_together(dict(zip(outputs, (csv_text(summary).encode(), csv_text(table).encode(),
                                          png(figure(rows, table, scene))))))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"scene: {scene}")
    print(f"{'model':<22}{'images':>7}{'seeds':>6}{'AUC':>17}")
    for s in summary:
        print(f"{s['model']:<22}{s['n_train']:>7}{s['seeds']:>6}{s['auc_mean']:>9.3f} ± {s['auc_std']:.3f}")
    print_questions(table)
    for line in unasked:
        print(line)
    print(f"wrote {', '.join(map(str, outputs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
