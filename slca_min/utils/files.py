"""Writing files so that nothing half-written is ever seen: atomic files, run folders, locks, tables.

Every output of the library goes through here: a reader sees the old file or the complete new
one, a run's outputs appear together or not at all, and a write that fails (disk full, read-only
folder) says which path and what to do instead of a bare `[Errno 28]`.
"""
from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import shutil
import uuid
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
    the temporary file and raises an OSError that names `path`. Each call has its own temporary name,
    so two writers of one file (two lowdata runs writing summary.csv) never write into each other's.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
            raise write_error(path, e) from None
        raise


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_weights(path: str | Path) -> str:
    """'name sha256:12345678': a short, checkable name for the weights in a file."""
    return f"{Path(path).name} sha256:{sha256_of(path)[:8]}"


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


def csv_text(rows: Sequence[dict]) -> str:
    """Rows under the union of their keys (in order of first appearance); missing values stay empty."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(dict.fromkeys(k for row in rows for k in row)), restval="")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def write_csv(path: str | Path, rows: Sequence[dict]) -> None:
    """csv_text(rows), written atomically."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(csv_text(rows))


def write_together(contents: dict[Path, bytes]) -> None:
    """Write every file of `contents` or none: a report's tables and figures belong together.

    Each file is first written beside its path, then all are moved into place; a folder where a file goes is
    refused before anything is written, and a move that fails puts the files already moved back as they were."""
    contents = {Path(p): data for p, data in contents.items()}
    for path in contents:
        if path.is_dir():
            raise OSError(f"{path}: is a folder, not a file; move it away or write the outputs elsewhere")
    staged, before, moved = {}, {}, []
    try:
        for path, data in contents.items():
            staged[path] = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                staged[path].write_bytes(data)
                before[path] = path.read_bytes() if path.is_file() else None
            except OSError as e:
                raise write_error(path, e) from None
        for path, tmp in staged.items():
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise write_error(path, e) from None
            moved.append(path)
    except BaseException:
        for path in moved:  # back as they were, byte for byte
            if before[path] is None:
                path.unlink(missing_ok=True)
            else:
                with atomic_write(path) as tmp:
                    tmp.write_bytes(before[path])
        raise
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)


def read_csv(path: str | Path | None) -> list[dict]:
    if path is None or not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def append_rows(path: str | Path, rows: Sequence[dict]) -> list[dict]:
    """Add `rows` to the CSV at `path` under its lock, re-reading it first: rows that another process added in the
    meantime stay. Returns every row now in the file."""
    path = Path(path)
    with locked(path):
        everything = read_csv(path) + [dict(r) for r in rows]
        write_csv(path, everything)
    return everything


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


RUN_MARK = ".slca_min-run"  # in every run folder, listing the files the run wrote: the next run may replace those
RUN_FILES_0_3 = {"model.pt", "history.csv", "results.csv", "results.json", "metrics.png", "attention.png"}


def foreign_files(folder: Path) -> list[str]:
    """The files in `folder` that no run of this library wrote: every file of a folder without the mark (an empty
    folder has none), else those its mark does not list. run_folder refuses a folder that holds any."""
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if RUN_MARK not in names:
        return names
    written = set((folder / RUN_MARK).read_text().splitlines()[1:]) or RUN_FILES_0_3  # 0.3's mark lists none
    return [n for n in names if n != RUN_MARK and n not in written]


@contextmanager
def run_folder(out: str | Path) -> Iterator[Path]:
    """Stage a run's outputs in OUT.partial/ and move them to OUT together when the block finishes.

    Checked before any work: OUT must be new, empty or a previous run that holds only the files it wrote
    (anything else is refused, naming the files, never wiped), only one run at a time may write it (OUT.lock; a second is refused), and the
    staging folder must be writable. A previous OUT is replaced only after the new one is complete
    (it sits at OUT.previous for the instant between two renames). A failed or killed run leaves
    OUT as it was.
    """
    out = Path(out)
    out = out.resolve() if out.name in ("", ".", "..") else out  # `--out .`: the folder's own name
    busy = f"{out}: another run is writing to it right now; wait for it to finish or choose another --out"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(out, e) from None
    with locked(out, wait=False, busy=busy):
        if out.exists() and not out.is_dir():
            raise OSError(f"{out}: is a file, not a folder; choose another --out")
        foreign = foreign_files(out)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OSError(f"{out}: holds files no run of slca_min wrote ({shown}), and a run replaces its whole --out "
                          "folder; move them out or choose a new or empty folder (e.g. --out runs/NAME)")
        staging, previous = out.with_name(out.name + ".partial"), out.with_name(out.name + ".previous")
        shutil.rmtree(staging, ignore_errors=True)
        check_writable(staging)
        try:
            yield staging
            written = sorted(p.name for p in staging.iterdir())
            (staging / RUN_MARK).write_text("written by slca_min: the next run into this folder replaces these files\n"
                                            + "".join(f"{name}\n" for name in written))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(previous, ignore_errors=True)
        if out.exists():
            os.replace(out, previous)
        os.replace(staging, out)
        shutil.rmtree(previous, ignore_errors=True)


def cache_path(variable: str, name: str) -> Path:
    """$variable if set, else ~/.cache/slca_min/NAME (XDG_CACHE_HOME respected): where a file built on first use lives."""
    if os.environ.get(variable):
        return Path(os.environ[variable])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "slca_min" / name


def build_once(path: Path, build, *, what: str, variable: str) -> Path:
    """`path`, made by build(path) on first use (another process building it meanwhile is waited for), and checked
    readable: a folder, an impossible path or a damaged file is an error that says what to do, naming `variable`,
    the environment variable that can point elsewhere."""
    where = f"{path} (${variable})" if os.environ.get(variable) else str(path)
    if path.is_dir():
        raise OSError(f"{where}: is a folder; point ${variable} at a file (or unset it)")
    if not path.is_file():
        try:
            with locked(path, on_wait=lambda: print(f"waiting for another process that is building {path}")):
                if not path.is_file():
                    build(path)
        except (FileExistsError, NotADirectoryError):
            raise OSError(f"{where}: cannot be made there, a part of the path is a file; point ${variable} at a path in "
                          "a folder (or unset it)") from None
    try:
        import torch  # here, so that the rest of this module stays free of it

        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{where}: {what} is truncated or damaged ({type(e).__name__}); delete the file and it is "
                         "rebuilt on next use") from None
    return path


@contextmanager
def locked(path: Path, on_wait=None, *, wait: bool = True, busy: str = "") -> Iterator[None]:
    """Hold an exclusive lock on `path`.lock while the block runs; other processes wait for it
    (wait=False: they get an OSError with the message `busy` instead).

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
            if not wait:
                os.close(fd)
                raise OSError(busy or f"{path}: in use by another process") from None
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
