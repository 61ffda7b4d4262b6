"""Writing files so that nothing half-written is ever seen: atomic files, run folders, locks, tables.

Every output of the library goes through here: a reader sees the old file or the complete new
one, a run's outputs appear together or not at all, and a write that fails (disk full, read-only
folder) says which path and what to do instead of a bare `[Errno 28]`.
"""
from __future__ import annotations

import csv
import errno
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, concurrent writers are not detected
    fcntl = None


def write_error(path: Path, e: OSError) -> OSError:
    """An OSError naming `path` and a way out, for a failed write."""
    reason = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
              errno.EFBIG: "file too large for this file system or ulimit",
              errno.EACCES: "permission denied", errno.EROFS: "read-only file system"}.get(e.errno, e.strerror or str(e))
    return OSError(f"{path}: cannot write ({reason}); free some space or write elsewhere (--out / --cache-dir)")


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it becomes `path` only when the block finishes.

    Readers see the old file or the complete new one, never half of one. A failed write removes
    the temporary file and raises an OSError that names `path`.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
            raise write_error(path, e) from None
        raise


def write_json(path: str | Path, content) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(content, indent=1, default=str))


def read_json(path: Path) -> dict:
    """The JSON object in `path`, or {} when it is missing or unreadable."""
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def write_csv(path: str | Path, rows: Sequence[dict]) -> None:
    """Rows under the union of their keys (in order of first appearance); missing values stay empty."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: str | Path | None) -> list[dict]:
    if path is None or not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def check_writable(folder: str | Path) -> None:
    """Make `folder` and prove a file can be written in it: fail before hours of work, not after."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".slca_min-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise write_error(folder, e) from None


@contextmanager
def run_folder(out: str | Path) -> Iterator[Path]:
    """Stage a run's outputs in OUT.partial/ and move them to OUT together when the block finishes.

    The staging folder is made first, so a read-only or full `out` fails before any training.
    A previous OUT is replaced only after the new one is complete (it sits at OUT.previous for
    the instant between two renames). A failed or killed run leaves OUT as it was.
    """
    out = Path(out)
    staging, previous = out.with_name(out.name + ".partial"), out.with_name(out.name + ".previous")
    shutil.rmtree(staging, ignore_errors=True)
    check_writable(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(previous, ignore_errors=True)
    if out.exists():
        os.replace(out, previous)
    os.replace(staging, out)
    shutil.rmtree(previous, ignore_errors=True)


@contextmanager
def locked(path: Path, on_wait=None) -> Iterator[None]:
    """Hold an exclusive lock on `path`.lock while the block runs; other processes wait for it.

    The lock file is removed on release. A waiter that then finds its (now deleted) file no
    longer at the path tries again, so two processes never hold the lock at once.
    """
    if fcntl is None:
        yield
        return
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
                on_wait = None
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed this file on release: lock the new one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)
