"""Write the synthetic phantom data set (lesions on speckle, class = margin shape) in MedMNIST npz format.

    python data_scripts/make_phantoms.py --n 1000 --size 64 --seed 0 --out data/phantoms.npz
    python data_scripts/make_phantoms.py --difficulty 3 --out data/phantoms-d3.npz   # small faint lesions, clutter

--difficulty picks a level of the ladder (0, the default, is the original phantom); --lesion-scale,
--lesion-contrast, --speckle and --clutter set one knob alone, over the level's value (docs/study.md).
"""
import argparse

from _cli import run

from slca_min import save_phantoms
from slca_min.data.phantoms import DIFFICULTY, difficulty_knobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="data/phantoms.npz")
    parser.add_argument("--split", type=float, nargs=3, default=(0.7, 0.1, 0.2), metavar=("TRAIN", "VAL", "TEST"),
                        help="fractions of the images in each split (default %(default)s)")
    parser.add_argument("--difficulty", type=int, default=0, choices=sorted(DIFFICULTY))
    parser.add_argument("--lesion-scale", type=float, help="lesion radius x this (1: 14-20 %% of the side)")
    parser.add_argument("--lesion-contrast", type=float, help="the lesion's darkness below the tissue x this")
    parser.add_argument("--speckle", type=float, help="the speckle's standard deviation x this")
    parser.add_argument("--clutter", type=int, help="cysts, ducts, specular lines, calcifications per image")
    args = parser.parse_args()
    knobs = dict(difficulty=args.difficulty, lesion_scale=args.lesion_scale, lesion_contrast=args.lesion_contrast,
                 speckle=args.speckle, clutter=args.clutter)
    path = save_phantoms(args.out, n=args.n, size=args.size, seed=args.seed, split=tuple(args.split), **knobs)
    print(f"{path}: {args.n} phantoms, {args.size} px, {difficulty_knobs(**knobs)}")


if __name__ == "__main__":
    run(main)
