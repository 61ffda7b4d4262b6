"""Whole runs side by side (issue 35): `lowdata --workers 2`, and `--distribute runs` under torchrun, give the rows
one process gives (in any order), resume as one process does, and summarize every worker's rows."""
import csv
import os
import subprocess
import sys

import pytest

SLOW = pytest.mark.skipif(os.environ.get("SLCA_SLOW") != "1", reason="set SLCA_SLOW=1 (about 15 s each)")
from test_distributed import torchrun
from test_faults import SMALL

GRID = ["lowdata", "--data", "p.npz", "--models", "baseline,slca-oracle", "--fractions", "1.0", "--seeds", "0", "1", *SMALL]
KEYS = ("model", "fraction", "seed", "n_train", "auc", "balanced_acc", "best_epoch")


def cli(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "slca_min", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, timeout=600)


def rows(path):
    return sorted(tuple(r[k] for k in KEYS) for r in csv.DictReader(open(path)))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The grid's rows from one process (one thread), on the phantoms of the workdir fixture: computed once."""
    from slca_min import save_phantoms

    folder = tmp_path_factory.mktemp("sequential")
    save_phantoms(folder / "p.npz", n=40, size=32, seed=0)
    one = cli(*GRID, "--out", "one", cwd=folder)
    assert one.returncode == 0, one.stderr[-2000:]
    return rows(folder / "one/results.csv")


def test_two_workers_give_the_rows_of_one_process_and_resume(workdir, sequential):
    assert len(sequential) == 4
    first = cli(*GRID, "--seeds", "0", "--out", "two", "--workers", "2", cwd=workdir)  # half the grid, as if cut off
    assert first.returncode == 0, first.stderr[-2000:]
    both = cli(*GRID, "--out", "two", "--workers", "2", cwd=workdir)
    assert both.returncode == 0, both.stderr[-2000:]
    assert "2 of 4 runs to do, in 2 one-thread worker processes" in both.stdout
    assert rows(workdir / "two/results.csv") == sequential  # every row once, the same numbers
    summary = list(csv.DictReader(open(workdir / "two/summary.csv")))
    assert {(s["model"], s["seeds"]) for s in summary} == {("baseline", "2"), ("slca-oracle", "2")}


@SLOW
def test_a_failing_worker_is_named_in_one_line(workdir):
    """Workers whose training fails (made to fail by a sitecustomize on their path): the parent ends with one line."""
    (workdir / "inject").mkdir()
    (workdir / "inject/sitecustomize.py").write_text(
        "import slca_min.study.comparison as c\n"
        "def fit(*args, **kwargs):\n    raise ValueError('injected failure')\n"
        "c.fit = fit\n")
    result = cli(*GRID, "--out", "two", "--workers", "2", cwd=workdir, env={"PYTHONPATH": str(workdir / "inject")})
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: worker 1 of 2 failed (exit 2): error: injected failure; its log: "), last


@SLOW
def test_torchrun_ranks_taking_whole_runs_give_the_rows_of_one_process(workdir, sequential):
    result = torchrun("-m", "slca_min", *GRID, "--out", "ranks", "--distribute", "runs", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert rows(workdir / "ranks/results.csv") == sequential
    assert len(list(csv.DictReader(open(workdir / "ranks/summary.csv")))) == 2


def test_a_late_worker_takes_the_runs_of_its_place_in_the_grid(workdir):
    """Shares are fixed by a run's place in the whole grid, not in the list of runs still to do: a worker that starts
    after another finished a run neither skips a run nor repeats one (linear probes: no training, instant)."""
    from slca_min import load_data
    from slca_min.study.comparison import lowdata
    from slca_min.study.experiments import FitConfig

    splits = load_data("p.npz")
    grid = dict(fractions=[1.0], seeds=[0, 1, 2, 3], config=FitConfig(grid=4), setting={"study": "share"}, data="p.npz",
                models=["probe-oracle"], results_path=workdir / "r.csv", progress=False)
    lowdata(splits, {}, **{**grid, "seeds": [0]})  # worker 0 has finished its first run before worker 1 starts
    late = lowdata(splits, {}, **grid, share=(1, 2))
    assert sorted(r["seed"] for r in late) == [0, 1, 3]  # its own two runs, seeds 1 and 3, and the row already there
    assert sorted(r["seed"] for r in lowdata(splits, {}, **grid, share=(0, 2))) == [0, 1, 2, 3]
    assert len(list(csv.DictReader(open(workdir / "r.csv")))) == 4  # each run once
