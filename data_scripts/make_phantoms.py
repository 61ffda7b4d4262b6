"""Write the synthetic phantom data set (lesions on speckle, class = margin shape) in MedMNIST npz format.

    python data_scripts/make_phantoms.py --n 1000 --size 64 --seed 0 --out data/phantoms.npz
"""
import argparse

from _cli import run

from slca_min import save_phantoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="data/phantoms.npz")
    args = parser.parse_args()
    print(f"{save_phantoms(args.out, n=args.n, size=args.size, seed=args.seed)}: {args.n} phantoms, {args.size} px")


if __name__ == "__main__":
    run(main)
