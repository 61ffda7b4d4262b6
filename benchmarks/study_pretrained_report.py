"""The pretrained-setting study's report: its questions as paired differences with 95% intervals, and its figure.

Reads the rows `benchmarks/study_pretrained.sh` wrote (the pretrained folder, and the from-scratch one for the
contrast), pairs models on the same fraction and seed (so on the same training subset), and writes
benchmarks/study_pretrained_summary.csv (per model and fraction: mean and std of every metric),
benchmarks/study_pretrained_questions.csv (one row per question and fraction) and benchmarks/study_pretrained.png.

    python benchmarks/study_pretrained_report.py runs/study-pretrained/results.csv runs/study-scratch/results.csv
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slca_min.study.comparison import summarize  # noqa: E402
from slca_min.study.stats import paired_difference, t975  # noqa: E402
from slca_min.utils.files import read_csv, write_csv  # noqa: E402

HERE = Path(__file__).parent
TARGET = 0.03  # the half-width the issue asks for, slca - slca-shuffled
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


def load(pretrained: str, scratch: str | None) -> list[dict]:
    rows = read_csv(pretrained)
    if scratch:
        rows += [{**r, "model": f"{r['model']} (scratch)"} for r in read_csv(scratch)]
    for r in rows:
        r.update(fraction=float(r["fraction"]), seed=int(r["seed"]), auc=float(r["auc"]))
    return rows


def questions(rows: list[dict]) -> list[dict]:
    auc = {(r["model"], r["fraction"], r["seed"]): r["auc"] for r in rows}
    out = []
    for a, b, asks in QUESTIONS:
        for fraction in sorted({r["fraction"] for r in rows}):
            seeds = sorted(s for (m, f, s) in auc if m == a and f == fraction and (b, f, s) in auc)
            if len(seeds) < 2:
                continue
            d = paired_difference([auc[a, fraction, s] for s in seeds], [auc[b, fraction, s] for s in seeds])
            sd = np.std([auc[a, fraction, s] - auc[b, fraction, s] for s in seeds], ddof=1)
            half = (d["ci_high"] - d["ci_low"]) / 2
            needed = next((n for n in range(2, 10_000) if t975(n - 1) * sd / math.sqrt(n) <= TARGET), None)
            out.append({"question": f"{a} - {b}", "asks": asks, "fraction": fraction, "seeds": len(seeds),
                        "diff": d["diff_mean"], "ci95_low": d["ci_low"], "ci95_high": d["ci_high"], "half_width": half,
                        "seeds_won": d["won"], "seeds_for_half_width_0.03": needed,
                        "excludes_0": d["ci_low"] > 0 or d["ci_high"] < 0})
    return out


def figure(rows: list[dict], path: Path) -> None:
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
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pretrained", help="results.csv of the pretrained setting")
    parser.add_argument("scratch", nargs="?", help="results.csv of the from-scratch setting (the contrast)")
    args = parser.parse_args()
    for path in filter(None, (args.pretrained, args.scratch)):
        if not Path(path).is_file():  # never overwrite the recorded report with an empty one
            parser.error(f"{path}: no such results file; pass the results.csv that study_pretrained.sh wrote")
    rows = load(args.pretrained, args.scratch)
    summary = summarize([r for r in rows if "scratch" not in r["model"]])
    write_csv(HERE / "study_pretrained_summary.csv", summary)
    table = questions(rows)
    write_csv(HERE / "study_pretrained_questions.csv", table)
    figure(rows, HERE / "study_pretrained.png")
    print(f"encoder weights: {next((r['weights'] for r in rows if r['model'] == 'slca'), '?')}")
    print(f"backbone weights: {rows[0].get('backbone_weights')}")
    print(f"{'model':<20}{'fraction':>9}{'seeds':>6}{'test AUC':>18}{'balanced acc':>18}")
    for model in sorted({r["model"] for r in rows}, key=lambda m: (m.endswith("(scratch)"), m)):
        for fraction in sorted({r["fraction"] for r in rows if r["model"] == model}):
            group = [r for r in rows if r["model"] == model and r["fraction"] == fraction]
            auc, bal = np.array([r["auc"] for r in group]), np.array([float(r["balanced_acc"]) for r in group])
            chance = sum(r.get("at_chance") == "True" for r in group)
            print(f"{model:<20}{fraction:>9}{len(group):>6}{auc.mean():>11.3f} ± {auc.std():.3f}"
                  f"{bal.mean():>11.3f} ± {bal.std():.3f}" + (f"   at chance in {chance}" if chance else ""))
    print("\npaired differences of test AUC, same subsets and seeds [95% t-interval] (seeds won); * excludes 0")
    for q in table:
        print(f"{q['question']:<34}{q['fraction']:>6}  {q['diff']:+.3f} [{q['ci95_low']:+.3f}, {q['ci95_high']:+.3f}] "
              f"({q['seeds_won']}/{q['seeds']}){' *' if q['excludes_0'] else '  '}  half-width {q['half_width']:.3f}, "
              f"seeds for 0.03: {q['seeds_for_half_width_0.03']}")


if __name__ == "__main__":
    main()
