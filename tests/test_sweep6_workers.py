"""The sixth fault sweep (issue 43), item 1: workers belong to their command, and two grids into one folder never
train a run twice. Each test fails on 0.6's code (workers outlived a SIGTERM; both grids trained every run)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_faults import SMALL

from slca_min.study.claims import PARENT, alive, claims_path, record, run_key

GRID = ["lowdata", "--data", "p.npz", "--models", "baseline,slca-oracle", "--fractions", "1.0", "--seeds", "0", "1",
        *SMALL]
LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers in /proc")


def start(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "slca_min", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    return found


def row_count(path: Path) -> int:
    return len(list(csv.DictReader(open(path)))) if path.exists() else 0


@LINUX
def test_a_terminated_command_takes_its_workers_with_it(workdir):
    parent = start(*GRID, "--seeds", "0", "1", "2", "3", "--out", "two", "--workers", "2", cwd=workdir)
    workers, deadline = [], time.monotonic() + 60
    try:
        while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
            workers = children(parent.pid)
            time.sleep(0.1)
        assert len(workers) == 2, parent.communicate()[1][-2000:]
        time.sleep(0.5)
        parent.send_signal(signal.SIGTERM)
        err = parent.communicate(timeout=30)[1]
        rows = row_count(workdir / "two/results.csv")
        assert parent.returncode == 130 and "interrupted" in err.strip().splitlines()[-1], err[-2000:]
        time.sleep(1)
        assert [w for w in workers if alive(w)] == []  # they ended with the command, not after it
        assert row_count(workdir / "two/results.csv") == rows  # and no row came after it
    finally:
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
        parent.kill()


def test_two_grids_into_one_folder_train_each_run_once(workdir):
    """Started together, both read an empty table: each run is claimed by one of them, the other waits for its row."""
    first = start(*GRID, "--out", "two", cwd=workdir)
    time.sleep(0.5)
    second = start(*GRID, "--out", "two", cwd=workdir)
    for proc in (first, second):
        err = proc.communicate(timeout=300)[1]
        assert proc.returncode == 0, err[-2000:]
    runs = [(r["model"], r["seed"]) for r in csv.DictReader(open(workdir / "two/results.csv"))]
    assert sorted(runs) == sorted({(m, s) for m in ("baseline", "slca-oracle") for s in "01"})  # each run once
    assert not claims_path(workdir / "two/results.csv").exists()  # every claim dropped with its row
    summary = list(csv.DictReader(open(workdir / "two/summary.csv")))
    assert {(s["model"], s["seeds"]) for s in summary} == {("baseline", "2"), ("slca-oracle", "2")}


def probe_grid(workdir):
    from slca_min import load_data
    from slca_min.study.experiments import FitConfig

    grid = dict(fractions=[1.0], seeds=[0, 1], config=FitConfig(grid=4), setting={"study": "claims"}, data="p.npz",
                models=["probe-oracle"], results_path=workdir / "r.csv", progress=False)
    return load_data("p.npz"), grid


def test_a_dead_processes_claim_is_taken_over_and_a_finished_row_makes_a_claim_moot(workdir):
    """Linear probes (instant): seed 0 claimed by a process that has ended is trained here; seed 1, claimed by a live
    process (this one's parent) but already in the table, is neither waited for nor trained again."""
    from slca_min.study.comparison import lowdata, model_setting

    splits, grid = probe_grid(workdir)
    lowdata(splits, {}, **{**grid, "seeds": [1]})
    dead = subprocess.Popen(["true"])
    dead.wait()
    setting = model_setting("probe-oracle", grid["setting"])
    claims_path(workdir / "r.csv").write_text(json.dumps({run_key((1.0, 0, "probe-oracle"), setting): dead.pid,
                                                          run_key((1.0, 1, "probe-oracle"), setting): os.getppid()}))
    start_time = time.monotonic()
    assert sorted(r["seed"] for r in lowdata(splits, {}, **grid)) == [0, 1]
    assert time.monotonic() - start_time < 5  # not one wait for the live claim
    assert row_count(workdir / "r.csv") == 2
    assert json.loads(claims_path(workdir / "r.csv").read_text()) == {
        run_key((1.0, 1, "probe-oracle"), setting): os.getppid()}  # others' claims stay; this process's went


def test_a_worker_whose_command_has_ended_writes_nothing(tmp_path, monkeypatch):
    """Everywhere (not only where the kernel ends it): a worker checks that its parent is the one that started it."""
    monkeypatch.setenv(PARENT, str(os.getppid() + 1))  # as if its command had ended and it had a new parent
    with pytest.raises(SystemExit, match="has ended"):
        record(tmp_path / "r.csv", {"model": "baseline", "fraction": 1.0, "seed": 0})
    assert not (tmp_path / "r.csv").exists()
    monkeypatch.setenv(PARENT, str(os.getppid()))
    assert len(record(tmp_path / "r.csv", {"model": "baseline", "fraction": 1.0, "seed": 0})) == 1


def test_a_failed_run_leaves_no_claim_to_wait_for(workdir, monkeypatch):
    """A run that fails in a process that goes on (a notebook, main() called in-process) drops its claim."""
    from slca_min.study import comparison

    splits, grid = probe_grid(workdir)

    def failing(*args, **kwargs):
        assert claims_path(workdir / "r.csv").exists()  # claimed while it runs
        raise ValueError("injected failure")
    monkeypatch.setattr(comparison, "run_probe", failing)
    try:
        comparison.lowdata(splits, {}, **grid)
    except ValueError:
        pass
    assert not claims_path(workdir / "r.csv").exists()
