"""A study's answer in sentences, read from its CSVs, and the figures of paired differences and attention."""
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from slca_min.study.verdict import read_table, verdict, versus_study  # noqa: E402
from slca_min.study.viz import plot_attention, plot_differences  # noqa: E402
from slca_min.utils.files import write_csv  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def question(diff, low, high, fraction=0.1, n_train=42, seeds=10):
    return {"question": "slca - baseline", "asks": "does SLCA beat the baseline?", "fraction": fraction, "n_train": n_train,
            "seeds": seeds, "diff": diff, "ci95_low": low, "ci95_high": high, "half_width": (high - low) / 2,
            "seeds_won": 7, "excludes_0": low > 0 or high < 0}


def test_the_sentences_follow_the_numbers(tmp_path):
    write_csv(tmp_path / "q.csv", [question(0.014, 0.004, 0.025), question(0.011, -0.027, 0.049, 0.02, 9, 15)])
    write_csv(tmp_path / "s.csv", [{"model": "slca", "fraction": 0.1, "auc_mean": 0.942},
                                   {"model": "baseline", "fraction": 0.1, "auc_mean": 0.928}])
    shown, unshown, total = verdict(read_table(tmp_path / "q.csv"), read_table(tmp_path / "s.csv"))
    assert shown.startswith("Does SLCA beat the baseline? At 42 training images (fraction 0.1), mean test AUC slca 0.942 "
                            "and baseline 0.928") and "+0.014 [+0.004, +0.025]" in shown and "Shown:" in shown
    assert "At 9 training images (fraction 0.02);" in unshown and "Not shown" in unshown and "15 seeds" in unshown
    assert total.startswith("In all, 1 of 2 intervals exclude 0")
    mine = versus_study([question(0.0, -0.2, 0.2, seeds=2)], read_table(tmp_path / "q.csv"))[0]
    assert "here at 42 training images (fraction 0.1) with 2 seeds" in mine and "narrower" in mine
    # the same image count on another training split is another fraction: matched by images, never by fraction
    mine = versus_study([question(0.0, -0.2, 0.2, fraction=0.06, seeds=2)], read_table(tmp_path / "q.csv"))[0]
    assert "The study at 42 training images (fraction 0.1) with 10 seeds" in mine
    other = versus_study([question(0.0, -0.2, 0.2, fraction=0.1, n_train=70, seeds=2)], read_table(tmp_path / "q.csv"))[0]
    assert "did not ask it at this size; nearest at 42 training images" in other


@pytest.mark.parametrize("low, high, flag, reads", [
    (0.010, 0.030, "TRUE", "Shown: the interval excludes 0, so slca is ahead of baseline here, by 0.010 to 0.030"),
    (0.010, 0.030, "False", "Shown: the interval excludes 0, so slca is ahead of baseline"),  # a stale flag
    (-0.030, -0.010, "", "Shown: the interval excludes 0, so slca is behind baseline here, by 0.010 to 0.030"),
    (-0.010, 0.020, "True", "Not shown: the interval contains 0"),
    ("nan", "nan", "False", "no interval (one seed)"),
    ("", "", "", "no interval (one seed)"),
])
def test_the_reading_comes_from_the_interval_never_from_a_stored_flag(tmp_path, low, high, flag, reads):
    write_csv(tmp_path / "q.csv", [{**question(0.02, 0.0, 0.0), "ci95_low": low, "ci95_high": high,
                                    "excludes_0": flag}])
    table = read_table(tmp_path / "q.csv")
    line, total = verdict(table)
    assert reads in line and ("contains 0" in line) == ("contains 0" in reads), line
    shown = reads.startswith("Shown")
    assert table[0]["excludes_0"] is shown  # what the differences figure colours
    if low in ("", "nan"):
        assert total.startswith("In all, 0 of 0 intervals") and "1 question has no interval (one seed)" in total
        assert "no interval (one seed)" in versus_study([question(0.0, -0.2, 0.2, seeds=2)], table)[0]
    else:
        assert total.startswith(f"In all, {int(shown)} of 1 intervals exclude 0")


def test_an_inverted_interval_is_refused(tmp_path):
    write_csv(tmp_path / "q.csv", [question(0.02, 0.01, 0.03), question(0.02, 0.03, -0.01)])
    with pytest.raises(ValueError, match=r"q.csv, line 3: slca - baseline: interval \[\+0.030, -0.010\] is inverted"):
        read_table(tmp_path / "q.csv")
    with pytest.raises(ValueError, match="inverted"):
        verdict([question(0.02, 0.03, -0.01)])


def test_every_recorded_question_reads_as_a_sentence():
    for name in ("study_pretrained", "study_ladder"):
        questions = read_table(BENCHMARKS / f"{name}_questions.csv")
        lines = verdict(questions, read_table(BENCHMARKS / f"{name}_summary.csv"))
        assert len(lines) == len(questions) + 1 and all("training images" in line for line in lines[:-1])


def test_the_figures_draw(rng):
    fig = plot_differences([question(0.014, 0.004, 0.025), question(0.011, -0.027, 0.049)], title="t")
    assert len(fig.axes[0].get_yticklabels()) == 2
    images = [rng.integers(0, 256, (32, 32), dtype=np.uint8) for _ in range(2)]
    masks = np.zeros((2, 32, 32), bool)
    masks[:, 10:20, 10:20] = True
    fig = plot_attention(images, [torch.rand(2, 4, 4, 4), torch.full((2, 8, 4, 4), 0.5)], title="t", masks=masks)
    assert "stage 2:\n4×4 map, smoothed" in [ax.get_title() for ax in fig.axes]  # more: test_attention_figure.py
