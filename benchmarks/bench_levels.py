"""Seconds per image and cache size per image: all five feature levels against the neck alone.

Untrained weights (speed and size do not depend on their values), 480x640 images at SAM's 1024
px, one warm-up image, then --n timed ones. Prints a Markdown table for benchmarks/README.md.

    python benchmarks/bench_levels.py [--model-types vit_b vit_h] [--n 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from slca_min import SAMEncoder
from slca_min.sam.levels import LEVELS, NECK

CONFIGS = [("neck", NECK, "fp32"), ("all five", LEVELS, "fp32"), ("all five", LEVELS, "int8")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-types", nargs="+", default=["vit_b", "vit_h"])
    parser.add_argument("--n", type=int, default=2, help="timed images per configuration (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(args.n + 1)]
    print(f"untrained weights, {args.n} images of 480x640 at 1024 px, batch 1, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| encoder | levels | precision | s/image | channels | cache per image, g=16 fp16 | g=8 |")
    print("|---|---|---|---|---|---|---|")
    for model_type in args.model_types:
        for name, levels, precision in CONFIGS:
            if precision == "int8" and args.device != "cpu":
                continue
            encoder = SAMEncoder.untrained(model_type, precision=precision, device=args.device)
            encoder.regions(images[:1], grid=16, levels=levels)  # warm-up
            start = time.perf_counter()
            R = encoder.regions(images[1:], grid=16, levels=levels, batch_size=1)
            seconds = (time.perf_counter() - start) / args.n
            channels = R.shape[1]
            size = lambda g: f"{channels * g * g * 2 / 2**20:.2f} MiB"  # noqa: E731 (fp16: 2 bytes)
            print(f"| {model_type} | {name} | {precision} | {seconds:.2f} | {channels} | {size(16)} | {size(8)} |", flush=True)
            del encoder


if __name__ == "__main__":
    main()
