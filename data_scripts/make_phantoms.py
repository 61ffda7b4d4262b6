"""Write the synthetic phantom data set (lesions on speckle, class = margin shape) in MedMNIST npz format.

    python data_scripts/make_phantoms.py --n 1000 --size 64 --seed 0 --out data/phantoms.npz
    python data_scripts/make_phantoms.py --difficulty 3 --out data/phantoms-d3.npz   # small faint lesions, clutter
    python data_scripts/make_phantoms.py --scene haystack --size 128 --share 0.02 --distractors 4   # -> data/haystack.npz

--difficulty picks a level of the ladder (0, the default, is the original phantom); --lesion-scale,
--lesion-contrast, --speckle and --clutter set one knob alone, over the level's value (docs/study.md).
--scene haystack writes the positive control's scenes instead: one classified lesion (a solid mass) among
--distractors cysts, its share of the image --share, on a --size canvas (default 128; docs/study.md).
"""

from _cli import Parser, run

from slca_min import save_phantoms
from slca_min.data.haystack import haystack_knobs
from slca_min.data.phantoms import DIFFICULTY, SCENES, difficulty_knobs


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, help="the canvas's side (default 64; 128 for --scene haystack)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="default data/phantoms.npz, or data/haystack.npz for --scene haystack")
    parser.add_argument("--split", type=float, nargs=3, default=(0.7, 0.1, 0.2), metavar=("TRAIN", "VAL", "TEST"),
                        help="fractions of the images in each split (default %(default)s)")
    parser.add_argument("--scene", default="lesion", choices=SCENES)
    parser.add_argument("--difficulty", type=int, default=0, choices=sorted(DIFFICULTY))
    parser.add_argument("--lesion-scale", type=float, help="lesion radius x this (1: 14-20 %% of the side)")
    parser.add_argument("--lesion-contrast", type=float, help="the lesion's darkness below the tissue x this")
    parser.add_argument("--speckle", type=float, help="the speckle's standard deviation x this")
    parser.add_argument("--clutter", type=int, help="cysts, ducts, specular lines, calcifications per image")
    parser.add_argument("--share", type=float, help="haystack: the classified lesion's share of the image (0.02)")
    parser.add_argument("--distractors", type=int, help="haystack: cysts besides the classified lesion (4)")
    args = parser.parse_args()
    ladder = dict(difficulty=args.difficulty, lesion_scale=args.lesion_scale, lesion_contrast=args.lesion_contrast,
                  speckle=args.speckle, clutter=args.clutter)
    if args.scene == "haystack":  # make_phantoms refuses the ladder's knobs here, with a line
        knobs = dict(scene="haystack", share=args.share, distractors=args.distractors, **ladder)
        shown = haystack_knobs(**{k: v for k, v in dict(size=args.size, share=args.share,
                                                         distractors=args.distractors).items() if v is not None})
    else:
        knobs = ladder
        shown = {"size": args.size or 64, **difficulty_knobs(**knobs)}
    out = args.out or ("data/haystack.npz" if args.scene == "haystack" else "data/phantoms.npz")
    path = save_phantoms(out, n=args.n, size=args.size, seed=args.seed, split=tuple(args.split), **knobs)
    print(f"{path}: {args.n} {args.scene} phantoms, {shown}")


if __name__ == "__main__":
    run(main)
