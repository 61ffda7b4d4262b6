"""torchrun support, in one place: the process group, which rank does what, sharding and gathering.

Launched by `torchrun --nproc_per_node=N -m slca_min ...` (WORLD_SIZE > 1 in the environment),
`start` joins the process group (gloo on the CPU, nccl on GPUs, one GPU per local rank). Without
torchrun every function here is the single-process identity: rank 0 of 1, no group needed; the same
holds inside `solo()`, where each rank does whole pieces of work of its own (`lowdata --distribute runs`).
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist


def start(device: str) -> str:
    """Join torchrun's process group if there is one; returns the device this rank should use."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    cuda = device.startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


_solo = False


def grouped() -> bool:
    """True when this process works together with others: under torchrun, outside `solo()`."""
    return dist.is_initialized() and not _solo


@contextmanager
def solo() -> Iterator[None]:
    """Within the block this process acts alone (rank 0 of 1: no DDP, no sharding, it writes its own results)
    although it is in a group: how each rank trains whole runs of a grid instead of sharing one small run."""
    global _solo
    before, _solo = _solo, True
    try:
        yield
    finally:
        _solo = before


def rank() -> int:
    return dist.get_rank() if grouped() else 0


def world_size() -> int:
    return dist.get_world_size() if grouped() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if grouped():
        dist.barrier()


def all_true(flag: bool) -> bool:
    """True on every rank only if `flag` is True on every rank."""
    if not grouped():
        return flag
    t = torch.tensor([int(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def shard(n: int, r: int | None = None, w: int | None = None) -> range:
    """This rank's contiguous block of n items (blocks differ in size by at most one)."""
    r, w = rank() if r is None else r, world_size() if w is None else w
    return range(r * n // w, (r + 1) * n // w)


def per_rank(batch_size: int) -> int:
    """Each rank's share of a global batch."""
    w = world_size()
    if batch_size < w:
        raise ValueError(f"batch_size={batch_size}: smaller than the {w} processes; use at least {w}")
    return batch_size // w


def gather(array: np.ndarray) -> np.ndarray:
    """Every rank's block of rows (from `shard`), concatenated in rank order, on every rank."""
    if not grouped():
        return array
    parts = [None] * world_size()
    dist.all_gather_object(parts, array)
    return np.concatenate([p for p in parts if len(p)])  # a rank with no rows sends an empty placeholder


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel under torchrun (gradients averaged over ranks), else the model itself."""
    if not grouped():
        return model
    device = next(model.parameters()).device
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def sampler(dataset, seed: int):
    """A DistributedSampler shuffled by `seed` (call set_epoch each epoch), or None for a plain shuffle."""
    if not grouped():
        return None
    return torch.utils.data.DistributedSampler(dataset, shuffle=True, seed=seed, drop_last=False)


@contextmanager
def main_only(folder_context) -> Iterator:
    """Rank 0 enters `folder_context` (e.g. run_folder(out)); other ranks get a scratch folder that vanishes."""
    if is_main():
        with folder_context as folder:
            yield folder
    else:
        with tempfile.TemporaryDirectory() as scratch:
            yield Path(scratch)
