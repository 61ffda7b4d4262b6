"""Where a batch's time goes end to end, stage by stage: preprocessing (decode-sized uint8 images -> the encoder's
input, on the host or the device), the encoder's pass, and pooling to region descriptors (issue 45, item 3).

    python benchmarks/stages.py --device cuda --model-type vit_b --batch-size 8 --batches 8     # a GPU
    python benchmarks/stages.py --model-type tiny --batches 2                                  # the CPU, a check

Each stage is timed on its own with the device synchronised around it, after one warm-up batch (auto's kernels
timed, CUDA's kernels loaded; with --compile, the compile), so the three add up to the end-to-end time printed
beside them. On a GPU, preprocessing includes the uint8 image's copy to the device (SAM's resize runs there).
Untrained weights (the speed does not depend on them), 480x640 RGB images as a camera or a dermoscope gives them.
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np
import torch

from slca_min import SAMEncoder
from slca_min.sam.kernel_choice import processor


def timed(fn, sync):
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-type", default="vit_b")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"))
    parser.add_argument("--batch-size", type=int, default=None, help="default: the encoder's (8 on a GPU, 1 on the CPU)")
    parser.add_argument("--batches", type=int, default=4, help="timed batches, after one warm-up batch")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args(argv)
    encoder = SAMEncoder.untrained(args.model_type, seed=0, device=args.device, precision=args.precision,
                                   compile=args.compile)
    batch = args.batch_size or encoder.default_batch_size
    sync = torch.cuda.synchronize if encoder.device.type == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(batch)]
    seconds = {"preprocess": 0.0, "encoder": 0.0, "pool": 0.0}
    for round_ in range(args.batches + 1):  # round 0: the warm-up, not counted
        prepared, t_pre = timed(lambda: [encoder.preprocess(image, i) for i, image in enumerate(images)], sync)
        with torch.no_grad():
            states, t_enc = timed(lambda: encoder.features(torch.stack([x for x, _ in prepared])), sync)
            _, t_pool = timed(lambda: encoder.pool_regions(states[0], [hw for _, hw in prepared], 16), sync)
        if round_:
            for stage, t in zip(seconds, (t_pre, t_enc, t_pool)):
                seconds[stage] += t
    n = batch * args.batches
    total = sum(seconds.values())
    print(f"# {args.model_type}, {encoder.precision}{', compiled' if args.compile else ''}, {processor(encoder.device)}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}, {n} images of 480x640, "
          f"{datetime.now():%Y-%m-%d %H:%M}; untrained weights")
    print("| stage | ms per image | share |")
    print("|---|---|---|")
    for stage, t in seconds.items():
        print(f"| {stage} | {1000 * t / n:.2f} | {t / total:.0%} |")
    print(f"| end to end | {1000 * total / n:.2f} | {n / total:.1f} images/s |")


if __name__ == "__main__":
    main()
