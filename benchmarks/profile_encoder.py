"""Where one image's time goes in the encoder, by operator (torch.profiler): what a missed target in bench_floor.py
is explained with (issue 45).

    python benchmarks/profile_encoder.py --precision int8            # untrained ViT-B at 1024, one 480x640 image
    python benchmarks/profile_encoder.py --precision bf16 --rows 20

The encoder runs one image first (auto times its attention kernels; warm-up), then one timed, then one profiled.
Untrained weights: the speed does not depend on them.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from torch.profiler import ProfilerActivity, profile

from slca_min import SAMEncoder
from slca_min.sam.attention import kernels_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-type", default="vit_b")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"))
    parser.add_argument("--rows", type=int, default=14, help="operators shown, the most time first")
    args = parser.parse_args()
    images = [np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8) for seed in range(2)]
    encoder = SAMEncoder.untrained(args.model_type, seed=0, precision=args.precision)
    encoder.embed(images[:1], batch_size=1)  # warm-up
    start = time.perf_counter()
    encoder.embed(images[1:], batch_size=1)
    print(f"{args.model_type}, {encoder.precision}, kernels {kernels_run(encoder.image_encoder)}: "
          f"{time.perf_counter() - start:.2f} s for the image timed, then profiled:")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        encoder.embed(images[1:], batch_size=1)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
