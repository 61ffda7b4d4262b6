"""Who trains which run of a `lowdata` grid: claims beside results.csv, so that no run is trained twice.

Two grids into one folder (two commands, or their `--workers`) read the table at the same moment and would both
train every missing run. Instead a process claims a run in RESULTS.claims, under results.csv's own lock, just
before it trains it: a run with a finished row is never claimed (the row makes any claim moot), a run claimed by
a live process is left to it (and waited for at the end), and a run claimed by a process that has died is taken
over. Writing the row drops the claim, under the same lock. A worker of `lowdata --workers` whose command has
ended stops before it claims or writes anything: no row appears after the command has returned.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..utils.distributed import grouped
from ..utils.files import locked, read_csv, read_json, write_csv, write_json

PARENT = "SLCA_MIN_WORKER_OF"  # set by `lowdata --workers` for its workers: the pid of the command they belong to
Run = tuple[float, int, str]  # (fraction, seed, model), as comparison.lowdata orders them


def claims_path(results: Path) -> Path:
    return results.with_name(results.name + ".claims")


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not). Without POSIX signals no process counts: claims never block."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def check_parent() -> None:
    """A worker whose command has ended (its parent is gone: it was killed, hung up or failed) stops here, before it
    writes anything. On Linux the kernel already ends it (workers.spawn); this holds everywhere."""
    parent = os.environ.get(PARENT)
    if parent and os.getppid() != int(parent):
        raise SystemExit(f"worker {os.getpid()}: its command (pid {parent}) has ended; stopping without writing")


def same_setting(row: dict, setting: dict) -> bool:
    """True when a (CSV) row was produced with exactly `setting` (values compared as CSV text)."""
    text = lambda v: "" if v is None else str(v)  # noqa: E731 (the CSV writes None as an empty field)
    return all(text(row.get(k)) == text(v) for k, v in setting.items())


def run_key(run: Run, setting: dict) -> str:
    """'model,fraction,seed,hash of the setting': one run of one setting."""
    fraction, seed, model = run
    digest = hashlib.sha256(json.dumps(setting, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{model},{float(fraction)},{int(seed)},{digest}"


def take(results: Path, run: Run, setting: dict) -> str:
    """Claim `run` for this process: "mine" (train it), "done" (its row is there) or "held" (a live process has it)."""
    fraction, seed, model = run
    with locked(results):
        check_parent()
        if any(r["model"] == model and float(r["fraction"]) == float(fraction) and int(r["seed"]) == int(seed)
               and same_setting(r, setting) for r in read_csv(results)):
            return "done"
        claims, key = read_json(claims_path(results)), run_key(run, setting)
        holder = claims.get(key)
        if isinstance(holder, int) and holder != os.getpid() and alive(holder):
            return "held"
        write_json(claims_path(results), {**claims, key: os.getpid()})  # new, or taken over from a dead process
    return "mine"


def claimed(runs: Iterable[Run], results: Path | None, *, setting_of: Callable[[str], dict],
            every: float = 1.0) -> Iterator[Run]:
    """Each of `runs` that this process claims, one at a time (the next is claimed when the previous is done); runs
    other live processes hold are tried again after the rest and waited for, so that the caller returns with every
    row there. Under torchrun's DDP (all ranks train each run together) or without `results`, every run."""
    if results is None or grouped():
        yield from runs
        return
    results, pending, told = Path(results), list(runs), False
    while pending:
        held = []
        for run in pending:
            state = take(results, run, setting_of(run[2]))
            if state == "mine":
                try:
                    yield run
                except GeneratorExit:  # the caller's run failed: its claim goes, so that nobody waits for it
                    with locked(results):
                        drop_mine(results)
                    raise
            elif state == "held":
                held.append(run)
        if held and held == pending:  # nothing left but other processes' runs: wait for their rows (or their death)
            if not told:
                print(f"waiting for {len(held)} run(s) that another process is training into {results} (claimed in "
                      f"{claims_path(results).name}; taken over if that process ends without its row)", file=sys.stderr)
                told = True
            time.sleep(every)
        pending = held


def record(results: str | Path, row: dict) -> list[dict]:
    """Add `row` to the CSV and drop this process's claim, under the file's lock (re-read first: rows others added
    meanwhile stay); a worker whose command has ended writes nothing. Returns every row now in the file."""
    results = Path(results)
    with locked(results):
        check_parent()
        everything = read_csv(results) + [dict(row)]
        write_csv(results, everything)
        drop_mine(results)
    return everything


def drop_mine(results: Path) -> None:
    """Remove this process's claims (the caller holds the lock); the file goes with the last claim."""
    claims = read_json(claims_path(results))
    rest = {key: pid for key, pid in claims.items() if pid != os.getpid()}
    if not rest:
        claims_path(results).unlink(missing_ok=True)
    elif len(rest) < len(claims):
        write_json(claims_path(results), rest)
