"""Seconds per training epoch: baseline ResNet-18 versus SLCA, 224 px, regions from a cache.

Uses the library's own `train` (AdamW, cosine, flips) and reports the second epoch's seconds
(the first one warms up). Target: SLCA costs at most 1.25x the baseline.

    python benchmarks/bench_train.py [--n 256] [--backbone resnet18] [--device cpu]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from slca_min import RegionDataset, SLCAClassifier, make_phantoms, train


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
    for slca in (False, True):
        torch.manual_seed(0)
        model = SLCAClassifier(num_classes=2, backbone=args.backbone, slca=slca)
        history = train(model, train_set, val_set, epochs=2, batch_size=args.batch_size, device=args.device, progress=False)
        seconds[slca] = history[1]["seconds"]
    print(f"{args.backbone}, {args.image_size} px, {args.n} train + 32 val images per epoch, batch {args.batch_size}, "
          f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| model | s/epoch | vs baseline |\n|---|---|---|")
    for slca, name in ((False, "baseline"), (True, "SLCA (4 stages)")):
        print(f"| {name} | {seconds[slca]:.1f} | {seconds[slca] / seconds[False]:.2f}x |")


if __name__ == "__main__":
    main()
