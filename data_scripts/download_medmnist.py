"""Download MedMNIST v3 2D npz files (all 12 flags, 28/64/128/224 px), MD5-checked; a file already there with the
right MD5 is kept.

    python data_scripts/download_medmnist.py breastmnist retinamnist [--size 224] [--dir data]
"""

from _cli import Parser, run

from slca_min.data.download import fetch
from slca_min.data.medmnist_info import MEDMNIST, SIZES, URL, file_name

MD5 = {flag: md5 for flag, (_, _, _, md5) in MEDMNIST.items()}  # flag -> {size: MD5}


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("flags", nargs="+", choices=MD5, metavar="FLAG", help=", ".join(MD5))
    parser.add_argument("--size", type=int, default=28, choices=SIZES)
    parser.add_argument("--dir", default="data")
    parser.add_argument("--base-url", default=URL)
    args = parser.parse_args()
    for flag in args.flags:
        name = file_name(flag, args.size)
        path = fetch(f"{args.base_url}/{name}?download=1", f"{args.dir}/{name}", md5=MD5[flag][args.size])
        print(f"{path}: MD5 ok")


if __name__ == "__main__":
    run(main)
