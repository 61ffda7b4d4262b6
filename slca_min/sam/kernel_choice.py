"""The fastest attention kernel for each call shape on this machine: measured once, then remembered.

Which kernel wins depends on the processor more than on anything the library can see. In bf16 a
ViT-B global block takes 129 ms folded and 198 ms masked on a Xeon with AMX, but 866 ms folded,
about 500 ms masked and 264-314 ms with SAM's explicit scores on an AMD EPYC without AMX
(benchmarks/README.md). A rule by dtype, tuned on one of them, costs the other a quarter of its
speed. So the first call of each shape times the candidate kernels on its own inputs (seconds,
with a line saying so), checks that they agree, and
writes the winner to ~/.cache/slca_min/attention_kernels.json ($SLCA_ATTENTION_KERNELS), keyed by
processor, torch version, threads, the kernels' revision, dtype and shape (the shape names the model's block: windows,
heads, tokens, head size). Every later call, in any process on the machine, reads the choice.

Candidates (attention.candidates): on a GPU the mask and the folded dot product (FlexAttention, also
timed on an H200, was the slowest on every shape and compiles per shape, so it is only used when
asked); on the CPU in bf16 the mask in two chunk sizes, the folded dot product and SAM's explicit
scores in chunks.
fp32 on the CPU keeps the mask without measuring: it is compute-bound there, folding triples its
arithmetic (measured 1.5-1.9x slower on both CPU families), and a fixed kernel keeps CPU training
(the miniature's build) bit-reproducible.
"""
from __future__ import annotations

import functools
import json
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from ..utils.files import cache_path, read_json, write_json

Option = tuple  # (kernel name, chunk bytes or None), e.g. ("masked", 16 * 2**20) or ("folded", None)

_remembered: dict[Path, dict] = {}  # file -> its choices, read once per process
ROUNDS = 3  # every candidate in turn, each round; the fastest time of each counts
REVISION = 2  # of the kernels' code: raised when a change moves their speeds, so that older choices are measured again


def choices_file() -> Path:
    return cache_path("SLCA_ATTENTION_KERNELS", "attention_kernels.json")


@functools.cache
def processor(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name (/proc/cpuinfo; else what platform says)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def key_of(q: torch.Tensor, shape: str) -> str:
    """Where a choice holds: this processor, torch version, thread count (CPU), the kernels' revision, dtype, and the
    call's shape."""
    threads = "" if q.is_cuda else f" | {torch.get_num_threads()} threads"
    return (f"{processor(q.device)} | torch {torch.__version__}{threads} | kernels r{REVISION} | "
            f"{str(q.dtype).removeprefix('torch.')} | {shape}")


def label(option: Option) -> str:
    name, chunk = option
    return name if chunk is None else f"{name} {chunk >> 20} MB"


def read_choices(path: Path) -> dict:
    """The choices in `path`; a damaged file is reported in one line and measured anew (then rewritten)."""
    if path not in _remembered:
        content = {}
        if path.exists():
            try:
                content = json.loads(path.read_text())
                if not isinstance(content, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as e:
                print(f"note: {path} cannot be read ({type(e).__name__}: {e}); the attention kernels are measured again "
                      "and the file rewritten", file=sys.stderr)
                content = {}
        _remembered[path] = {k: v for k, v in content.items() if isinstance(v, dict)}
    return _remembered[path]


def measure(options: list[Option], run_option, cuda: bool) -> dict:
    """Seconds of each option's fastest round (run_option(option) computes it on this call's inputs); an option
    that fails or disagrees with the first is left out with a line saying why."""
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    runs, reference, times = {}, None, {}
    with torch.no_grad():
        for option in options:
            run = functools.partial(run_option, option)
            try:
                out = run().float().flatten(1)  # the warm-up (compiles FlexAttention on a GPU)
                sync()
            except Exception as e:  # noqa: BLE001 - a kernel this torch or device cannot run is simply not a candidate
                print(f"note: attention kernel {label(option)} cannot run here ({type(e).__name__}); not used",
                      file=sys.stderr)
                continue
            reference = out if reference is None else reference
            if torch.nn.functional.cosine_similarity(out, reference).min() < 0.999:
                print(f"note: attention kernel {label(option)} disagrees with {label(next(iter(runs)))} here; not used",
                      file=sys.stderr)
                continue
            runs[option] = run
        for _ in range(ROUNDS):
            for option, run in runs.items():
                start = time.perf_counter()
                run()
                sync()
                times[option] = min(times.get(option, float("inf")), time.perf_counter() - start)
    return times


def choose(options: list[Option], run_option, *, q: torch.Tensor, shape: str) -> Option:
    """The fastest of `options` for a call on `q` of this `shape`: remembered, or timed now with run_option(option)
    and remembered. A remembered choice that is no longer among the options is measured again."""
    if len(options) == 1:
        return options[0]
    path, key = choices_file(), key_of(q, shape)
    known = remembered(read_choices(path).get(key), path)
    if known in options:
        return known
    times = measure(options, run_option, q.is_cuda)
    best = min(times, key=times.get) if times else options[0]
    _remembered[path][key] = entry = {"kernel": best[0], "chunk_bytes": best[1],
                                      "ms": {label(o): round(t * 1000, 2) for o, t in times.items()},
                                      "measured": datetime.now().isoformat(timespec="seconds")}
    print(f"attention kernels timed once for this machine ({key}): "
          f"{', '.join(f'{o} {t:.3g} ms' for o, t in entry['ms'].items())} -> {label(best)}; remembered in {path}",
          file=sys.stderr)
    try:
        write_json(path, {**read_json(path), key: entry})  # with what other processes added meanwhile
    except OSError as e:
        cause = e.__context__ if isinstance(e.__context__, OSError) else e  # the OS's reason, not its temporary file
        print(f"note: cannot write {path} ({cause.strerror or 'not writable'}); the choice is kept for this process "
              "only: point $SLCA_ATTENTION_KERNELS at a file in a writable folder to remember it", file=sys.stderr)
    return best


def remembered(entry, path: Path) -> Option | None:
    """The (kernel, chunk bytes) an entry of the file names, or None. A kernel that is not a name or a chunk that is
    not a whole number of bytes (67108864.0 written by another tool) is said in a line, and measured again."""
    if entry is None:
        return None
    kernel, chunk = entry.get("kernel"), entry.get("chunk_bytes")
    if isinstance(kernel, str) and (chunk is None or type(chunk) is int):
        return kernel, chunk
    print(f"note: {path}: a remembered attention kernel is not valid (kernel {kernel!r}, chunk_bytes {chunk!r}; "
          "expected a name and a whole number of bytes or null); measured again", file=sys.stderr)
    return None

