"""The pretrained-setting study's report: its questions as paired differences with 95% intervals, and its figure.

Reads the rows `benchmarks/study_pretrained.sh` wrote (the pretrained folder, and the from-scratch one for the
contrast), pairs models on the same fraction and seed (so on the same training subset), and writes
benchmarks/study_pretrained_summary.csv (per model and fraction: mean and std of every metric),
benchmarks/study_pretrained_questions.csv (one row per question and fraction), benchmarks/study_pretrained.png (the
means) and benchmarks/study_pretrained_differences.png (the paired differences with their intervals: what to read),
all four or none, once everything is computed and drawn. What it cannot ask (one seed, no shared seed) it says in a
line; what it cannot read it refuses in one line, exit code 2, leaving the recorded outputs as they were.

    python benchmarks/study_pretrained_report.py runs/study-pretrained/results.csv runs/study-scratch/results.csv
    python benchmarks/study_pretrained_report.py --differences-from benchmarks/study_pretrained_questions.csv
                                                 # only the differences figure, from the recorded questions
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slca_min.study.comparison import images_of, summarize  # noqa: E402
from slca_min.cli.main import Parser  # noqa: E402
from slca_min.study.report import (load_results, paired_questions, print_questions, unasked_questions,  # noqa: E402
                                   unique_runs)
from slca_min.utils.files import csv_text, write_together  # noqa: E402
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


def differences(table: list[dict]) -> plt.Figure:
    return plot_differences(table, title="The pretrained-setting study: paired differences of test AUC over 1120 test "
                                         "phantoms; ResNet-18 from the stand-in for ImageNet (not ImageNet), SLCA "
                                         "reading the miniature encoder (not SAM)")


def png(fig: plt.Figure) -> bytes:
    """The figure drawn in memory: it must exist before any output is written."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    return buffer.getvalue()


def redraw_differences(path: str) -> None:
    """Only the differences figure, from a recorded questions CSV (its intervals checked by read_table)."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such questions file (--differences-from)")
    table = read_table(path)
    needed = ("question", "fraction", "seeds", "diff", "ci95_low", "ci95_high")
    missing = [k for k in needed if k not in table[0]] if table else ["row"]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)}; pass a questions CSV this report wrote")
    write_together({HERE / "study_pretrained_differences.png": png(differences(table))})
    print(f"wrote {HERE / 'study_pretrained_differences.png'}")


def report(args) -> None:
    """Read, compute and draw everything, then write all outputs together, then say what they hold."""
    if args.differences_from:
        redraw_differences(args.differences_from)
        return
    rows = load_results(args.pretrained) + (load_results(args.scratch, rename=" (scratch)") if args.scratch else [])
    rows = unique_runs(rows)
    summary = summarize([r for r in rows if "scratch" not in r["model"]])
    table = paired_questions(rows, QUESTIONS)
    outputs = {HERE / "study_pretrained_summary.csv": csv_text(summary).encode(),
               HERE / "study_pretrained_questions.csv": csv_text(table).encode(),
               HERE / "study_pretrained.png": png(figure(rows)),
               HERE / "study_pretrained_differences.png": png(differences(table))}
    write_together(outputs)
    lines = [f"encoder weights: {next((r['weights'] for r in rows if r['model'] == 'slca'), '?')}"]
    for label in dict.fromkeys(r.get("backbone_weights") for r in rows):  # each file's own, never only the first's
        lines.append(f"backbone weights: {label} "
                     f"({', '.join(dict.fromkeys(r['model'] for r in rows if r.get('backbone_weights') == label))})")
    lines.append(f"{'model':<20}{'images':>7}{'fraction':>9}{'seeds':>6}{'test AUC':>18}{'balanced acc':>18}")
    for model in sorted({r["model"] for r in rows}, key=lambda m: (m.endswith("(scratch)"), m)):
        for fraction in sorted({r["fraction"] for r in rows if r["model"] == model}):
            group = [r for r in rows if r["model"] == model and r["fraction"] == fraction]
            auc, bal = np.array([r["auc"] for r in group]), np.array([r["balanced_acc"] for r in group])
            chance = sum(r.get("at_chance") == "True" for r in group)
            lines.append(f"{model:<20}{images_of(group):>7}{fraction:>9}{len(group):>6}{auc.mean():>11.3f} ± {auc.std():.3f}"
                         f"{bal.mean():>11.3f} ± {bal.std():.3f}" + (f"   at chance in {chance}" if chance else ""))
    print(*lines, "", sep="\n")
    print_questions(table)
    print(*unasked_questions(rows, QUESTIONS), f"wrote {', '.join(map(str, outputs))}", sep="\n")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("pretrained", nargs="?", help="results.csv of the pretrained setting")
    parser.add_argument("scratch", nargs="?", help="results.csv of the from-scratch setting (the contrast)")
    parser.add_argument("--differences-from", metavar="QUESTIONS_CSV",
                        help="redraw only study_pretrained_differences.png from a recorded questions CSV")
    args = parser.parse_args(argv)
    if not args.pretrained and not args.differences_from:
        parser.error("pass the pretrained results.csv (or --differences-from a questions CSV)")
    try:  # everything is read, computed and drawn before anything is written: a failed run leaves the recorded report
        report(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
