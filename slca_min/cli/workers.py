"""Whole runs side by side: `lowdata --workers N` on one machine, `--distribute runs` under torchrun.

A tiny run gains nothing from being split (a 9-image run over 8 processes is mostly waiting); eight runs
side by side are eight times the work done. Each worker takes every N-th run of the grid (comparison.lowdata's
`share`) and adds its rows to the one results.csv under the file's lock, so resume is unchanged: a rerun, with
any number of workers, does only the runs whose rows are missing. The parent (or rank 0) waits for the rows
and then summarizes them all. Workers belong to their command: however the parent ends (SIGTERM, SIGHUP, an
exception, Ctrl-C, even SIGKILL on Linux) its workers end with it, and none writes a row after it has returned.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from ..study.claims import PARENT
from ..utils import distributed


def side_by_side(args, run: Callable, *, count: Callable[[], int], total: int) -> bool:
    """Train the grid's runs side by side when the command line asks for it, and wait (rank 0) until all `total`
    rows are there (`count()` of them now); False when it does not ask (the caller runs the grid in order).
    `run(progress=..., share=(i, n))` trains share i of n of the runs still to do."""
    if args.workers > 1:
        if distributed.world_size() > 1:
            raise ValueError("--workers: not under torchrun, where the ranks are the workers: pass --distribute runs")
        todo = total - count()
        print(f"{todo} of {total} runs to do, in {args.workers} one-thread worker processes")
        procs = spawn(args.argv, min(args.workers, todo)) if todo else []
        try:
            with signals_interrupt():
                wait_for_rows(count, total, procs=procs, progress=not args.quiet)
        finally:  # whatever ends the wait: the workers end before the command does
            stop(procs)
        return True
    if args.distribute == "runs" and distributed.world_size() > 1:  # each rank whole runs, alone
        share = (distributed.rank(), distributed.world_size())
        with distributed.solo():
            run(progress=not args.quiet, share=share)
        if distributed.is_main():
            wait_for_rows(count, total, progress=not args.quiet)
        return True
    return False


def spawn(argv: list[str], workers: int) -> list[tuple[subprocess.Popen, Path]]:
    """`python -m slca_min ARGV --worker i/N` for each i, one thread each; their stderr goes to a log apiece. Each
    knows its parent's pid (claims.check_parent) and, on Linux, gets SIGTERM from the kernel when the parent dies."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", PARENT: str(os.getpid())}  # N one-thread processes: N cores used
    logs = Path(tempfile.mkdtemp(prefix="slca_min-workers-"))
    procs = []
    for i in range(workers):
        log = logs / f"worker{i}.log"
        with open(log, "w") as err:
            procs.append((subprocess.Popen([sys.executable, "-m", "slca_min", *argv, "--worker", f"{i}/{workers}"],
                                           env=env, stdout=subprocess.DEVNULL, stderr=err,
                                           preexec_fn=die_with_parent()), log))
    return procs


def die_with_parent():
    """Linux: a preexec_fn asking the kernel for SIGTERM when the parent ends, however it ends (prctl
    PR_SET_PDEATHSIG); None elsewhere, where the worker's own check of its parent's pid stops it before a row."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not between fork and exec
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent ended before the line above took effect
            os._exit(1)
    return preexec


@contextmanager
def signals_interrupt():
    """SIGTERM and SIGHUP (a closed terminal) end the wait as Ctrl-C does, so that the workers are stopped first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    wanted = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    before = {s: signal.signal(s, interrupt) for s in wanted}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def wait_for_rows(count: Callable[[], int], total: int, *, procs=(), progress: bool = True, every: float = 2.0) -> None:
    """Wait until `count()` (rows finished) reaches `total` or every process in `procs` has ended, showing progress.
    A worker that failed (or ended before the rows are all there) raises ChildProcessError with its last line."""
    start = count()
    with tqdm(total=total, initial=start, desc="runs", unit="run", disable=not progress) as bar:
        while True:
            done = count()
            bar.update(done - bar.n)
            ended = [p.poll() is not None for p, _ in procs]
            if all(ended) if procs else done >= total:
                break
            time.sleep(every)
    for i, (proc, log) in enumerate(procs):
        if proc.returncode:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            raise ChildProcessError(f"worker {i + 1} of {len(procs)} failed (exit {proc.returncode}): "
                                    f"{lines[-1] if lines else 'no message'}; its log: {log}")
    if count() < total:
        raise ChildProcessError(f"the workers ended with {total - count()} of {total} runs missing; run the same "
                                "command again to do them")
    for _, log in procs:
        log.unlink()
    if procs:
        log.parent.rmdir()


def stop(procs, *, grace: float = 10.0) -> None:
    """End the workers still running and wait for them (killed after `grace` s): the rows they finished stay, a
    rerun does the rest, and no row comes after the command."""
    for proc, _ in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc, _ in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
