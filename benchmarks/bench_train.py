"""Seconds per training epoch: baseline ResNet-18 versus SLCA, in fp32 and under bf16 autocast, regions from a cache.

Uses the library's own `train` (AdamW, cosine, flips) and reports the second epoch's seconds
(the first one warms up). Targets: SLCA costs at most 1.25x the baseline; bf16 saves time where
the hardware has native bfloat16.

    python benchmarks/bench_train.py [--n 256] [--image-size 224] [--backbone resnet18] [--device cpu]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from slca_min import RegionDataset, SLCAClassifier, make_phantoms, train
from slca_min.sam.precision import native_bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="training images per epoch")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    images, labels, _ = make_phantoms(args.n + 32, size=64, seed=0)
    regions = np.random.default_rng(0).standard_normal((args.n + 32, 256, 16, 16)).astype(np.float16)  # as cached
    train_set = RegionDataset(images[:args.n], labels[:args.n], regions[:args.n], image_size=args.image_size, augment=True)
    val_set = RegionDataset(images[args.n:], labels[args.n:], regions[args.n:], image_size=args.image_size)
    seconds = {}
    for precision in ("fp32", "bf16"):
        for slca in (False, True):
            torch.manual_seed(0)
            model = SLCAClassifier(num_classes=2, backbone=args.backbone, slca=slca)
            history = train(model, train_set, val_set, epochs=2, batch_size=args.batch_size, device=args.device,
                            progress=False, precision=precision)
            seconds[slca, precision] = history[1]["seconds"]
    print(f"{args.backbone}, {args.image_size} px, {args.n} train + 32 val images per epoch, batch {args.batch_size}, "
          f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"native bf16: {native_bf16(args.device)}\n")
    print("| model | precision | s/epoch | vs baseline fp32 | speed-up over fp32 |\n|---|---|---|---|---|")
    for precision in ("fp32", "bf16"):
        for slca, name in ((False, "baseline"), (True, "SLCA (4 stages)")):
            s = seconds[slca, precision]
            speedup = f"{seconds[slca, 'fp32'] / s:.2f}x" if precision == "bf16" else "-"
            print(f"| {name} | {precision} | {s:.1f} | {s / seconds[False, 'fp32']:.2f}x | {speedup} |")


if __name__ == "__main__":
    main()
