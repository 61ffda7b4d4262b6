"""The feature cache: SAM region descriptors computed once, stored in fp16, reused while they still match.

`extract` writes `NAME.npy` (N, 256, g, g) float16 and a sidecar `NAME.json` describing what
produced it (encoder weights, SAM input size, grid, a fingerprint of the images, a format
version). Work in progress lives in `NAME.partial.npy` / `NAME.partial.json`, flushed after every
batch; the final names appear only when every image is done, so a killed run resumes where it
stopped and never leaves a cache that looks complete but is not.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .data import ImageFiles, atomic_write
from .encoder import SAMEncoder

FORMAT_VERSION = 1


def fingerprint(images: Sequence) -> str:
    """sha256 of the images (the raw bytes of each file for ImageFiles), 16 hex digits."""
    digest = hashlib.sha256()
    for i in range(len(images)):
        if isinstance(images, ImageFiles):
            digest.update(images.paths[i].name.encode() + images.paths[i].read_bytes())
        else:
            image = np.ascontiguousarray(images[i])
            digest.update(f"{image.shape}{image.dtype}".encode() + image.tobytes())
    return digest.hexdigest()[:16]


def describe(images: Sequence, encoder: SAMEncoder, grid: int) -> dict:
    """What a cache holds: if any field differs, the cache is recomputed, never reused."""
    return {"format": FORMAT_VERSION, "weights": encoder.weights, "model_type": encoder.model_type,
            "sam_input": encoder.sam_input, "grid": grid, "count": len(images), "images": fingerprint(images)}


def extract(images: Sequence, encoder: SAMEncoder, path: str | Path, *, grid: int = 16, batch_size: int | None = None,
            progress: bool = True) -> np.ndarray:
    """Region descriptors of `images`, (N, 256, grid, grid) float16, from the cache at `path` or computed into it.

    Streams: only one batch of embeddings is in memory at a time, and each batch is on disk
    before the next starts (batch_size: the encoder's default if None). Returns a read-only memmap.
    """
    if len(images) == 0:
        raise ValueError("extract: no images to extract regions from")
    path = Path(path).with_suffix(".npy")
    sidecar, partial = path.with_suffix(".json"), path.with_suffix(".partial.npy")
    partial_sidecar = partial.with_suffix(".json")
    want = describe(images, encoder, grid)
    if path.is_file() and _read_json(sidecar) == {**want, "complete": True}:
        return np.load(path, mmap_mode="r")

    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar.unlink(missing_ok=True)  # whatever was at `path` is no longer described as complete
    state = _read_json(partial_sidecar)
    done = state.pop("done", 0) if partial.is_file() else 0
    if not (done and state == want):
        done = 0
        np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16, shape=(len(images), 256, grid, grid))
        write_json(partial_sidecar, {**want, "done": 0})
    batch_size = encoder.default_batch_size if batch_size is None else batch_size
    offset = np.load(partial, mmap_mode="r").offset  # bytes before the data: the .npy header
    # Plain file writes, not a memmap: written pages stay in the page cache, not in this process's memory.
    with open(partial, "r+b") as f, tqdm(total=len(images), initial=done, desc=f"SAM regions ({encoder.weights})",
                                         unit="img", disable=not progress) as bar:
        for start in range(done, len(images), batch_size):
            end = min(start + batch_size, len(images))
            block = encoder.regions([images[i] for i in range(start, end)], grid=grid, batch_size=batch_size)
            block = block.cpu().numpy().astype(np.float16)  # (b, 256, g, g)
            f.seek(offset + start * block[0].nbytes)
            f.write(block.tobytes())
            f.flush()  # in the kernel's hands: survives kill -9
            write_json(partial_sidecar, {**want, "done": end})  # only after the data is on disk
            bar.update(end - start)
    os.replace(partial, path)
    write_json(sidecar, {**want, "complete": True})
    partial_sidecar.unlink()
    return np.load(path, mmap_mode="r")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: str | Path, content) -> None:
    """Write JSON atomically (see atomic_write)."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(content, indent=1, default=str))
