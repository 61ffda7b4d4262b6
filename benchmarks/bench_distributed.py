"""Extraction throughput with 1 process and with N processes under torchrun (sharded `extract`).

    python benchmarks/bench_distributed.py [--model-type vit_b] [--sam-input 512] [--count 8] [--procs 2]

One process uses all the CPU threads; N processes use threads / N each (OMP_NUM_THREADS), as one
would run them. Untrained weights (speed does not depend on their values). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def worker(args) -> None:
    """Under torchrun (or alone): extract args.count images into a fresh cache; rank 0 prints seconds as JSON."""
    import torch

    from slca_min import SAMEncoder, distributed, extract

    device = distributed.start(args.device)
    encoder = SAMEncoder.untrained(args.model_type, seed=0, sam_input=args.sam_input, device=device)
    images = list(np.random.default_rng(0).integers(0, 256, (args.count, 480, 640, 3), dtype=np.uint8))
    encoder.regions(images[:1])  # warm-up
    distributed.barrier()
    start = time.perf_counter()
    extract(images, encoder, os.path.join(args.cache, "bench.npy"), progress=False)
    if distributed.is_main():
        print(json.dumps({"seconds": time.perf_counter() - start, "threads": torch.get_num_threads()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-type", default="vit_b")
    parser.add_argument("--sam-input", type=int, default=512)
    parser.add_argument("--count", type=int, default=8, help="images to extract")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    threads = os.cpu_count()
    rows = []
    for procs in (1, args.procs):
        with tempfile.TemporaryDirectory() as cache:
            common = [__file__, "--worker", "--cache", cache, "--model-type", args.model_type, "--sam-input",
                      str(args.sam_input), "--count", str(args.count), "--device", args.device]
            launcher = ([sys.executable] if procs == 1 else
                        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"])
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // procs))}
            out = subprocess.run(launcher + common, env=env, check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
        rows.append((procs, result["threads"], args.count / result["seconds"]))
    print(f"{args.model_type}, SAM input {args.sam_input}, {args.count} images of 480x640, {threads} CPU threads\n")
    print("| processes | threads each | images/s total | images/s per process | vs 1 process |")
    print("|---|---|---|---|---|")
    for procs, each, speed in rows:
        print(f"| {procs} | {each} | {speed:.3f} | {speed / procs:.3f} | {speed / rows[0][2]:.2f}x |")


if __name__ == "__main__":
    main()
