"""Peak RSS while extracting regions for two data-set sizes: streaming `extract` versus holding all regions.

Images are synthesized on access, so the input itself takes no memory; each run is a fresh process.

    python benchmarks/bench_memory.py [--sizes 500 4000] [--model-type tiny]
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile

import numpy as np


class SyntheticImages:
    """n random 96x128 RGB images, made when indexed."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        return np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8)


def measure(mode: str, n: int, model_type: str) -> float:
    from slca_min import SAMEncoder, extract

    encoder = SAMEncoder.untrained(model_type, seed=0)
    images = SyntheticImages(n)
    if mode == "extract":
        with tempfile.TemporaryDirectory() as tmp:
            extract(images, encoder, f"{tmp}/r.npy", batch_size=16, progress=False)
    else:
        encoder.regions([images[i] for i in range(n)], batch_size=16)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[500, 4000])
    parser.add_argument("--model-type", default="tiny")
    parser.add_argument("--only", nargs=2, help=argparse.SUPPRESS)  # internal: MODE N
    args = parser.parse_args()
    if args.only:
        print(measure(args.only[0], int(args.only[1]), args.model_type))
        return
    print(f"{args.model_type} encoder, grid 16, batch 16\n\n| mode | images | peak RSS MiB |\n|---|---|---|")
    for mode in ("extract", "all in memory"):
        for n in args.sizes:
            out = subprocess.run([sys.executable, __file__, "--only", mode, str(n), "--model-type", args.model_type],
                                 check=True, capture_output=True, text=True).stdout.split()[-1]
            print(f"| {'extract (streams to disk)' if mode == 'extract' else 'enc.regions(all images)'} | {n} | {float(out):.0f} |")


if __name__ == "__main__":
    main()
