"""A busy machine: seconds per ResNet-18 training step, alone and next to a second PyTorch process, by thread count.

Each configuration runs fresh processes with OMP_NUM_THREADS set (what a user would set); "two at
once" starts two identical processes together and reports the slower. Prints a Markdown table.

    python benchmarks/bench_threads.py [--steps 20] [--image-size 64]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def steps_per_second(steps: int, image_size: int) -> float:
    """Seconds per AdamW step of a ResNet-18 (2 classes) on a batch of 32 random images, after 2 warm-up steps."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 3, image_size, image_size), torch.randint(0, 2, (32,))
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def run(processes: int, threads: int | None, steps: int, image_size: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, __file__, "--only", "--steps", str(steps), "--image-size", str(image_size)]
    started = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return max(json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--only", action="store_true", help=argparse.SUPPRESS)  # internal: one process, print JSON
    args = parser.parse_args()
    if args.only:
        print(json.dumps(steps_per_second(args.steps, args.image_size)))
        return
    print(f"ResNet-18, batch 32 at {args.image_size} px, {args.steps} steps, {os.cpu_count()} CPUs\n")
    print("| processes at once | OMP_NUM_THREADS | s per step (slowest process) |")
    print("|---|---|---|")
    for processes, threads in ((1, None), (1, 1), (2, None), (2, 1)):
        seconds = run(processes, threads, args.steps, args.image_size)
        print(f"| {processes} | {threads or 'unset (torch: one per core)'} | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main()
