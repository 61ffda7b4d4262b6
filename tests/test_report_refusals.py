"""The study reports read what they pair (issue 43): bad values, unknown models, missing columns and duplicate runs
are refused in one line with exit code 2, questions a level cannot answer are said, and a failed report leaves its
outputs byte for byte. The scripts run in this process (pure CSV, no subprocess: a few seconds in all)."""
import importlib.util
import sys
from pathlib import Path

import pytest
from test_faults import one_line_error

from slca_min.train import METRICS
from slca_min.utils.files import write_csv, write_together

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ladder():
    return script("study_ladder_report")


@pytest.fixture
def pretrained(tmp_path, monkeypatch):
    """The pretrained report writing into tmp_path, where a recorded report already lies."""
    module = script("study_pretrained_report")
    monkeypatch.setattr(module, "HERE", tmp_path)
    for name in ("study_pretrained_summary.csv", "study_pretrained_questions.csv", "study_pretrained_differences.png"):
        (tmp_path / name).write_bytes(f"recorded {name}".encode())
    return module


def row(model, seed, level=0, auc=None, **extra):
    return {"model": model, "fraction": 0.1, "seed": seed, "n_train": 42,
            **{m: 0.7 for m in METRICS}, "auc": 0.7 + 0.01 * seed if auc is None else auc,
            "data": f"data/phantoms-d{level}-n1600.npz", "weights": "w", "epochs": 10, **extra}


def recorded(folder):
    return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


@pytest.fixture
def run(capsys, monkeypatch):
    """A script as its command line runs it (sys.argv; an exit code returned or raised): (code, stdout, stderr)."""
    def run(module, args):
        monkeypatch.setattr(sys, "argv", [module.__file__, *map(str, args)])
        try:
            code = module.main() or 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def test_questions_a_level_cannot_answer_are_said_and_identical_repeats_count_once(tmp_path, ladder, run):
    rows = [row(m, s) for m in ("baseline", "slca-oracle") for s in range(3)]
    rows += [row("baseline", 0)]  # the same run twice, same values: counted once
    rows += [row(m, 0, level=1) for m in ("baseline", "slca-oracle")]  # one seed
    rows += [row("baseline", s, level=2) for s in (0, 1)] + [row("slca-oracle", s, level=2) for s in (2, 3)]
    files = []
    for level in (0, 1, 2):
        files.append(tmp_path / f"d{level}.csv")
        write_csv(files[-1], [r for r in rows if f"-d{level}-" in r["data"]])
    code, out, err = run(ladder, [*files, "--prefix", tmp_path / "out"])
    assert code == 0, err
    assert "not asked: slca-oracle - baseline at level 1, fraction 0.1: one seed (0)" in out
    assert "not asked: slca-oracle - baseline at level 2, fraction 0.1: no shared seeds (slca-oracle: 2, 3; " \
           "baseline: 0, 1)" in out
    summary = (tmp_path / "out_summary.csv").read_text().splitlines()
    assert summary[1].startswith("0,baseline,0.1,3,")  # 3 seeds, not 4


LADDER_CASES = {  # name: (rows of level 0 changed, needles)
    "two values of one run": (lambda rows: rows + [row("slca-oracle", 1, auc=0.9)],
                              ("lines 6 and 8", "slca-oracle", "level 0", "seed 1", "different auc")),
    "auc inf": (lambda rows: rows[:2] + [row("baseline", 2, auc=float("inf"))], ("line 4", "auc 'inf'", "[0, 1]")),
    "auc 1.7": (lambda rows: [row("baseline", 0, auc=1.7)] + rows[1:], ("line 2", "auc '1.7'")),
    "auc -0.2": (lambda rows: rows + [row("baseline", 9, auc=-0.2)], ("line 8", "auc '-0.2'")),
    "auc empty": (lambda rows: rows + [row("baseline", 9, auc="")], ("line 8", "auc ''")),
    "unknown model": (lambda rows: rows + [row("slca-2027", 0)], ("'slca-2027'", "not one this version knows")),
    "no auc column": (lambda rows: [{k: v for k, v in r.items() if k != "auc"} for r in rows], ("no auc column",)),
    "a seed 1.5": (lambda rows: rows + [{**row("baseline", 9), "seed": "1.5"}], ("line 8", "seed '1.5'", "integer")),
}


@pytest.mark.parametrize("case", LADDER_CASES)
def test_the_ladder_report_refuses_what_it_cannot_read_and_writes_nothing(tmp_path, ladder, run, case):
    change, needles = LADDER_CASES[case]
    write_csv(tmp_path / "d0.csv", change([row(m, s) for m in ("baseline", "slca-oracle") for s in range(3)]))
    (tmp_path / "out_summary.csv").write_text("recorded")
    code, out, err = run(ladder, [tmp_path / "d0.csv", "--prefix", tmp_path / "out"])
    assert code == 2 and one_line_error(err, str(tmp_path / "d0.csv"), *needles), err
    assert recorded(tmp_path) == {"d0.csv": (tmp_path / "d0.csv").read_bytes(), "out_summary.csv": b"recorded"}


def test_two_files_of_one_level_that_disagree_are_both_named(tmp_path, ladder, run):
    write_csv(tmp_path / "a.csv", [row(m, s) for m in ("baseline", "slca") for s in range(2)])
    write_csv(tmp_path / "b.csv", [row("slca", 1, auc=0.5)])
    code, _, err = run(ladder, [tmp_path / "a.csv", tmp_path / "b.csv", "--prefix", tmp_path / "out"])
    assert code == 2 and one_line_error(err, f"{tmp_path / 'a.csv'}, line 5 and {tmp_path / 'b.csv'}, line 2")


def test_the_pretrained_report_refuses_with_code_2_and_leaves_the_recorded_report(tmp_path, pretrained, run):
    before = recorded(tmp_path)
    rows = [row(m, s) for m in ("baseline", "slca") for s in range(2)]
    write_csv(tmp_path / "r.csv", rows + [row("slca", 0, auc=1.7)])
    code, _, err = run(pretrained, [tmp_path / "r.csv"])
    assert code == 2 and one_line_error(err, str(tmp_path / "r.csv"), "line 6", "auc '1.7'"), err
    write_csv(tmp_path / "q.csv", [{"question": "slca - baseline", "diff": 0.01, "ci95_low": 0.03, "ci95_high": -0.01}])
    code, _, err = run(pretrained, ["--differences-from", tmp_path / "q.csv"])
    assert code == 2 and one_line_error(err, str(tmp_path / "q.csv"), "line 2", "inverted"), err
    assert {k: v for k, v in recorded(tmp_path).items() if k in before} == before


def test_a_figure_that_cannot_be_written_leaves_every_output_as_it_was(tmp_path, pretrained, run):
    (tmp_path / "study_pretrained.png").mkdir()  # a folder where the figure goes
    before = recorded(tmp_path)
    write_csv(tmp_path / "r.csv", [row(m, s) for m in ("baseline", "slca") for s in range(2)])
    code, out, err = run(pretrained, [tmp_path / "r.csv"])
    assert code == 2 and one_line_error(err, "study_pretrained.png", "is a folder"), err
    assert recorded(tmp_path) == {**before, "r.csv": (tmp_path / "r.csv").read_bytes()} and not out
    (tmp_path / "study_pretrained.png").rmdir()
    code, out, err = run(pretrained, [tmp_path / "r.csv"])  # the same report, once the figure has a place
    assert code == 0 and not err and all(recorded(tmp_path)[name] != content for name, content in before.items())
    assert (tmp_path / "study_pretrained.png").read_bytes().startswith(b"\x89PNG")
    code, out, err = run(pretrained, ["--differences-from", tmp_path / "study_pretrained_questions.csv"])
    assert code == 0 and "wrote" in out


def test_outputs_are_written_together_or_not_at_all(tmp_path, monkeypatch):
    import os

    (tmp_path / "a.csv").write_bytes(b"old a")
    move = os.replace

    def replace(src, dst):  # the second output cannot be moved into place, after the first was
        if Path(dst).name == "b.png":
            raise PermissionError(13, "Permission denied")
        move(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="b.png: cannot write"):
        write_together({tmp_path / "a.csv": b"new a", tmp_path / "b.png": b"new b"})
    monkeypatch.undo()
    assert recorded(tmp_path) == {"a.csv": b"old a"}  # moved back, no temporary file left
