"""The feature cache: SAM region descriptors computed once, stored in fp16, reused while they still match.

`extract` writes `NAME.npy` (N, C, g, g) float16 and a sidecar `NAME.json` describing what
produced it (encoder weights, SAM input size, preprocessing, grid, feature levels, a fingerprint
of the images, a format version) and a sha256 of the stored data. C is 256 for the neck alone;
an entry holding more levels (sam/levels.py) also serves a request for fewer, never the other way round. A cache is reused only when the description matches
and the data still has that checksum; anything else (other settings, overwritten bytes, a
truncated or empty file) is recomputed with a one-line notice. Work in progress lives in
`NAME.partial.npy` / `NAME.partial.json` (and a progress file per rank), flushed after every
batch; the final names appear only when every image is done, so a killed run resumes where it
stopped. While one job writes an entry, others wait for it (`NAME.lock`) and then reuse it.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..data.loaders import fingerprint
from ..data.split import image_name
from ..sam.encoder import SAMEncoder
from ..sam.levels import NECK, check_levels, select_levels
from ..sam.preprocessing import ImageError
from ..utils.distributed import all_true, barrier, is_main, rank, shard, world_size
from ..utils.files import locked, read_json, write_error, write_json

FORMAT_VERSION = 3  # 2: the sidecar carries a sha256 of the data; 3: levels and preprocessing


def cache_key(encoder: SAMEncoder, grid: int, levels=NECK) -> str:
    """The part of a cache file's name that says what produced it (the sidecar says it in full)."""
    weights_id = hashlib.sha1(f"{encoder.weights} {encoder.preprocessing}".encode()).hexdigest()[:8]
    return f"{encoder.model_type}-{encoder.sam_input}-{encoder.precision}-g{grid}-{'+'.join(check_levels(levels))}-{weights_id}"


def describe(images: Sequence, encoder: SAMEncoder, grid: int, levels: Sequence[str] = NECK) -> dict:
    """What a cache holds: if any field differs, the cache is recomputed, never reused (levels: see _superset)."""
    return {"format": FORMAT_VERSION, "weights": encoder.weights, "model_type": encoder.model_type,
            "sam_input": encoder.sam_input, "preprocess": encoder.preprocessing, "precision": encoder.precision,
            "grid": grid, "levels": list(check_levels(levels)), "count": len(images), "images": fingerprint(images)}


def checksum(path: Path) -> str:
    """sha256 of the array data in an .npy file (about 2 GB/s: a small cost next to reading it)."""
    array = np.load(path, mmap_mode="r")
    with open(path, "rb") as f:
        f.seek(array.offset)
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_if_valid(path: Path, want: dict, notice: bool = True) -> np.ndarray | None:
    """The cached array when the sidecar describes `want` and the data matches its checksum, else None (with a notice)."""
    sidecar = read_json(path.with_suffix(".json"))
    if not path.is_file() and not sidecar:
        return None
    recorded = sidecar.pop("sha256", None)
    if sidecar != {**want, "complete": True}:
        changed = sorted(k for k in {**want, **sidecar} if sidecar.get(k) != want.get(k) and k != "complete")
        if notice:
            _notice(f"cache {path.name}: made with other settings ({', '.join(changed) or 'incomplete'}); recomputing")
        return None
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        ok = array.dtype == np.float16 and array.shape[0] == want["count"] and checksum(path) == recorded
    except Exception as e:  # truncated, empty, not an array: all mean "recompute"
        if notice:
            _notice(f"cache {path.name}: unreadable ({type(e).__name__}: {e}); recomputing")
        return None
    if not ok and notice:
        _notice(f"cache {path.name}: its data does not match the checksum in {path.with_suffix('.json').name} "
                "(modified or damaged); recomputing")
    return array if ok else None


def _superset(path: Path, want: dict) -> np.ndarray | None:
    """Regions of the levels in `want` taken from a valid entry in path's folder that holds these levels or more and
    matches in everything else (an entry of 0.3, named without the data's fingerprint, included), or None. A view of
    its file when the levels are adjacent (sam/levels.py)."""
    for sidecar in sorted(path.parent.glob("*.json")):
        found = read_json(sidecar)
        have = found.get("levels", [])
        if not found.get("complete") or not set(want["levels"]) <= set(have) or sidecar == path.with_suffix(".json"):
            continue
        if {k: v for k, v in found.items() if k not in ("levels", "sha256", "complete")} == {
                k: v for k, v in want.items() if k != "levels"}:
            array = _load_if_valid(sidecar.with_suffix(".npy"), {**want, "levels": have}, notice=False)
            if array is not None:
                if is_main() and set(want["levels"]) < set(have):
                    print(f"regions: the levels {', '.join(want['levels'])} taken from cache {sidecar.with_suffix('.npy')}")
                _touch(sidecar)
                return select_levels(array, have, want["levels"])
    return None


def extract(images: Sequence, encoder: SAMEncoder, path: str | Path, *, grid: int = 16, levels: Sequence[str] = NECK,
            batch_size: int | None = None, progress: bool = True, desc: str | None = None) -> np.ndarray:
    """Region descriptors of `images`, (N, C, grid, grid) float16, from the cache at `path` (or an entry beside
    it with more levels) or computed into `path`. C: 256 for the neck alone (see SAMEncoder.region_channels).

    Streams: only one batch of embeddings is in memory at a time, and each batch is on disk
    before the next starts (batch_size: the encoder's default if None). Returns a read-only memmap.
    Under torchrun every rank computes its own block of images into the same file (see _compute).
    """
    if len(images) == 0:
        raise ValueError("extract: no images to extract regions from")
    if grid < 1:
        raise ValueError(f"grid={grid}: must be at least 1 (16 is the default)")
    path = Path(path).with_suffix(".npy")
    want = describe(images, encoder, grid, levels)
    cached = _load_if_valid(path, want, notice=False)
    if cached is None and path.parent.is_dir():
        cached = _superset(path, want)
    if cached is None and is_main():
        _load_if_valid(path, want)  # says why the entry at `path`, if there is one, is not used
    if all_true(cached is not None):
        source = Path(getattr(cached, "filename", None) or path)  # another entry's file when _superset found it
        if progress and is_main():
            print(f"{desc or 'regions'}: reusing cache {source}")
        _touch(source.with_suffix(".json"))
        return cached
    waiting = lambda: _notice(f"cache {path.name}: another process is writing it; waiting")  # noqa: E731
    with locked(path, on_wait=waiting) if is_main() else nullcontext():  # rank 0 locks for the whole job
        if not all_true(_load_if_valid(path, want, notice=False) is not None):  # another job may have just finished it
            try:
                _compute(images, encoder, path, want, grid=grid, levels=want["levels"], batch_size=batch_size,
                         progress=progress, desc=desc)
            except OSError as e:
                raise write_error(path, e) from None
    return np.load(path, mmap_mode="r")


def _compute(images, encoder, path: Path, want: dict, *, grid, levels, batch_size, progress, desc) -> None:
    """Fill NAME.partial.npy: each rank its block of rows, progress in NAME.partial.rankR-of-W.json; then rank 0
    checksums it and gives it its final name. A rerun, with any number of processes, skips every image that a
    progress file (of any earlier world size) says is written."""
    sidecar, partial = path.with_suffix(".json"), path.with_suffix(".partial.npy")
    partial_sidecar = partial.with_suffix(".json")
    r, w, n = rank(), world_size(), len(images)
    if is_main():
        path.parent.mkdir(parents=True, exist_ok=True)
        sidecar.unlink(missing_ok=True)  # whatever was at `path` is no longer described as complete
        if not (partial.is_file() and read_json(partial_sidecar) == want):  # nothing to resume
            for old in _progress_files(partial):
                old.unlink()
            np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16, shape=(n, encoder.region_channels(levels), grid, grid))
            write_json(partial_sidecar, want)
    barrier()
    written = _written(partial, n)  # (n,) bool, read once: what earlier runs finished
    mine, batch_size = shard(n), encoder.default_batch_size if batch_size is None else batch_size
    offset = np.load(partial, mmap_mode="r").offset  # bytes before the data: the .npy header
    # Plain file writes, not a memmap: written pages stay in the page cache, not in this process's memory.
    with open(partial, "r+b") as f, tqdm(total=n, initial=int(written.sum()), unit="img",
                                         disable=None if progress and is_main() else True,  # None: on a terminal only
                                         desc=f"{desc or 'SAM regions'} -> {path.name}") as bar:
        for start in range(mine.start, mine.stop, batch_size):
            end = min(start + batch_size, mine.stop)
            todo = [i for i in range(start, end) if not written[i]]
            if todo:
                try:
                    block = encoder.regions([images[i] for i in todo], grid=grid, batch_size=batch_size, levels=levels)
                except ImageError as e:  # e.index is the place in `todo`: name the file
                    raise ValueError(f"{image_name(images, todo[e.index])}: {e.problem}") from None
                for i, row in zip(todo, block.cpu().numpy().astype(np.float16)):  # row: (C, g, g)
                    f.seek(offset + i * row.nbytes)
                    f.write(row.tobytes())
                f.flush()  # in the kernel's hands: survives kill -9
                write_json(partial.with_name(f"{partial.stem}.rank{r}-of-{w}.json"), {"done": end})  # after the data
            bar.update(int(_written(partial, n).sum()) - bar.n)  # images done across all ranks
    barrier()
    if is_main():
        os.replace(partial, path)
        write_json(sidecar, {**want, "complete": True, "sha256": checksum(path)})
        partial_sidecar.unlink()
        for old in _progress_files(partial):
            old.unlink(missing_ok=True)
    barrier()


def _progress_files(partial: Path) -> list[Path]:
    return list(partial.parent.glob(f"{partial.stem}.rank*-of-*.json"))


def _written(partial: Path, n: int) -> np.ndarray:
    """(n,) bool: the rows that the progress files say are on disk. Rank R of W writes its block shard(n, R, W) in
    order and records how far it got, so each file marks a prefix of its block, whatever W was."""
    written = np.zeros(n, dtype=bool)
    for progress in _progress_files(partial):
        match = re.search(r"\.rank(\d+)-of-(\d+)$", progress.stem)
        if match:
            block = shard(n, int(match[1]), int(match[2]))
            written[block.start:min(max(read_json(progress).get("done", block.start), block.start), block.stop)] = True
    return written


def _touch(sidecar: Path) -> None:
    """Mark an entry as used now (its sidecar's modification time): `python -m slca_min cache` lists it."""
    try:
        os.utime(sidecar)
    except OSError:  # a read-only cache is still a cache
        pass


def entries(cache_dir: str | Path) -> list[dict]:
    """Every entry in `cache_dir`, most recently used first: file, size, what made it, when it was last used.
    Any entry may be deleted (its .npy and .json): it is recomputed when next needed."""
    rows = []
    for sidecar in Path(cache_dir).glob("*.json"):
        info, array = read_json(sidecar), sidecar.with_suffix(".npy")
        if not is_entry(info) or not array.is_file():
            continue  # another tool's JSON, or an entry whose data is gone
        rows.append({"file": array.name, "MiB": round((array.stat().st_size + sidecar.stat().st_size) / 2 ** 20, 1),
                     "state": "complete" if info.get("complete") else "partial (resumes)", "images": info.get("count"),
                     "levels": "+".join(info.get("levels", [])), "grid": info.get("grid"), "weights": info["weights"],
                     "last_used": sidecar.stat().st_mtime})
    return sorted(rows, key=lambda r: -r["last_used"])


def is_entry(info: dict) -> bool:
    """A sidecar this library wrote (any format version): the fields `cache` lists, with their types."""
    return (isinstance(info.get("format"), int) and isinstance(info.get("weights"), str)
            and isinstance(info.get("count"), int) and isinstance(info.get("grid"), int)
            and all(isinstance(level, str) for level in info.get("levels", [])))


def _notice(message: str) -> None:
    print(message, file=sys.stderr)
