"""The pretrained-setting study's report: its questions as paired differences with 95% intervals, and its figure.

Reads the rows `benchmarks/study_pretrained.sh` wrote (the pretrained folder, and the from-scratch one for the
contrast), pairs models on the same fraction and seed (so on the same training subset), and writes
benchmarks/study_pretrained_summary.csv (per model and fraction: mean and std of every metric),
benchmarks/study_pretrained_questions.csv (one row per question and fraction), benchmarks/study_pretrained.png (the
means) and benchmarks/study_pretrained_differences.png (the paired differences with their intervals: what to read).

    python benchmarks/study_pretrained_report.py runs/study-pretrained/results.csv runs/study-scratch/results.csv
    python benchmarks/study_pretrained_report.py --differences-from benchmarks/study_pretrained_questions.csv
                                                 # only the differences figure, from the recorded questions
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slca_min.study.comparison import summarize  # noqa: E402
from slca_min.study.report import load_results, paired_questions, print_questions  # noqa: E402
from slca_min.utils.files import atomic_write, write_csv  # noqa: E402
from slca_min.study.verdict import read_table  # noqa: E402
from slca_min.study.viz import plot_differences  # noqa: E402

HERE = Path(__file__).parent
QUESTIONS = [  # (a, b, what a - b asks)
    ("slca", "baseline", "does SLCA beat the pretrained baseline?"),
    ("slca", "slca-shuffled", "does SLCA use the image's own regions?"),
    ("slca", "se", "does SLCA beat channel attention without SAM (SE)?"),
    ("slca", "cbam", "does SLCA beat spatial attention without SAM (CBAM)?"),
    ("slca-oracle", "baseline", "does a perfect segmentation, through this gate, beat the baseline?"),
    ("slca-oracle", "slca-shuffled", "does a perfect segmentation beat shuffled regions?"),
    ("slca-residual", "slca", "does F*(1+A), which keeps pretrained features at start, beat F*A?"),
    ("baseline", "baseline (scratch)", "does the stand-in for ImageNet help the plain baseline?"),
]


def figure(rows: list[dict]) -> plt.Figure:
    models = [m for m in ("baseline (scratch)", "baseline", "se", "cbam", "slca-shuffled", "slca", "slca-residual",
                          "slca-oracle") if any(r["model"] == m for r in rows)]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for i, model in enumerate(models):
        fractions = sorted({r["fraction"] for r in rows if r["model"] == model})
        values = [np.array([r["auc"] for r in rows if r["model"] == model and r["fraction"] == f]) for f in fractions]
        ax.errorbar(np.array(fractions) * (1 + 0.03 * (i - len(models) / 2)), [v.mean() for v in values],
                    yerr=[v.std() for v in values], marker="o", capsize=3, label=model,
                    ls=":" if "scratch" in model else "-")
    ax.set_xscale("log")
    ticks = sorted({r["fraction"] for r in rows})
    ax.set_xticks(ticks, [f"{f:g}" for f in ticks])
    ax.minorticks_off()
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("fraction of the 420 training phantoms (log scale)")
    ax.set_ylabel("test AUC, 1120 images (mean ± std over seeds)")
    ax.set_title("Phantoms, ResNet-18 from the stand-in for ImageNet (not ImageNet); SLCA reads the miniature encoder "
                 "(a stand-in, not SAM)", fontsize=8, wrap=True)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def write_differences(table: list[dict]) -> None:
    plot_differences(table, path=HERE / "study_pretrained_differences.png",
                     title="The pretrained-setting study: paired differences of test AUC over 1120 test phantoms; ResNet-18 "
                           "from the stand-in for ImageNet (not ImageNet), SLCA reading the miniature encoder (not SAM)")
    print(f"wrote {HERE / 'study_pretrained_differences.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pretrained", nargs="?", help="results.csv of the pretrained setting")
    parser.add_argument("scratch", nargs="?", help="results.csv of the from-scratch setting (the contrast)")
    parser.add_argument("--differences-from", metavar="QUESTIONS_CSV",
                        help="redraw only study_pretrained_differences.png from a recorded questions CSV")
    args = parser.parse_args()
    if args.differences_from:
        write_differences(read_table(args.differences_from))
        return
    if not args.pretrained:
        parser.error("pass the pretrained results.csv (or --differences-from a questions CSV)")
    try:  # everything is read and computed before anything is written: a failed run leaves the recorded report
        rows = load_results(args.pretrained) + (load_results(args.scratch, rename=" (scratch)") if args.scratch else [])
    except ValueError as e:
        sys.exit(f"error: {e}")
    summary = summarize([r for r in rows if "scratch" not in r["model"]])
    table = paired_questions(rows, QUESTIONS)
    fig = figure(rows)
    write_csv(HERE / "study_pretrained_summary.csv", summary)
    write_csv(HERE / "study_pretrained_questions.csv", table)
    with atomic_write(HERE / "study_pretrained.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    write_differences(table)
    print(f"encoder weights: {next((r['weights'] for r in rows if r['model'] == 'slca'), '?')}")
    for label in dict.fromkeys(r.get("backbone_weights") for r in rows):  # each file's own, never only the first's
        print(f"backbone weights: {label} ({', '.join(dict.fromkeys(r['model'] for r in rows if r.get('backbone_weights') == label))})")
    print(f"{'model':<20}{'fraction':>9}{'seeds':>6}{'test AUC':>18}{'balanced acc':>18}")
    for model in sorted({r["model"] for r in rows}, key=lambda m: (m.endswith("(scratch)"), m)):
        for fraction in sorted({r["fraction"] for r in rows if r["model"] == model}):
            group = [r for r in rows if r["model"] == model and r["fraction"] == fraction]
            auc, bal = np.array([r["auc"] for r in group]), np.array([float(r["balanced_acc"]) for r in group])
            chance = sum(r.get("at_chance") == "True" for r in group)
            print(f"{model:<20}{fraction:>9}{len(group):>6}{auc.mean():>11.3f} ± {auc.std():.3f}"
                  f"{bal.mean():>11.3f} ± {bal.std():.3f}" + (f"   at chance in {chance}" if chance else ""))
    print()
    print_questions(table)


if __name__ == "__main__":
    main()
