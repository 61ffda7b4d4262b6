"""Download MedMNIST v3 npz files, MD5-checked; a file already present with the right MD5 is kept.

    python data_scripts/download_medmnist.py breastmnist retinamnist [--size 224] [--dir data]
"""
import argparse

from _cli import run

from slca_min.download import fetch

# MD5 per flag and size (MedMNIST 3.0.2 info.py, see shared/reference/sources.md).
MD5 = {
    "breastmnist": {28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364",
                    128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"},
    "retinamnist": {28: "bd4c0672f1bba3e3a89f0e4e876791e4", 64: "afda852cc34dcda56f86ad2b2457dbcc",
                    128: "e48e916a24454daf90583d4e6efb1a18", 224: "eae7e3b6f3fcbda4ae613ebdcbe35348"},
    "pneumoniamnist": {28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6",
                       128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"},
    "dermamnist": {28: "0744692d530f8e62ec473284d019b0c7", 64: "b70a2f5635c6199aeaa28c31d7202e1f",
                   128: "2defd784463fa5243564e855ed717de1", 224: "8974907d8e169bef5f5b96bc506ae45d"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flags", nargs="+", choices=MD5, metavar="FLAG", help=", ".join(MD5))
    parser.add_argument("--size", type=int, default=28, choices=(28, 64, 128, 224))
    parser.add_argument("--dir", default="data")
    parser.add_argument("--base-url", default="https://zenodo.org/records/10519652/files")
    args = parser.parse_args()
    suffix = "" if args.size == 28 else f"_{args.size}"
    for flag in args.flags:
        name = f"{flag}{suffix}.npz"
        path = fetch(f"{args.base_url}/{name}?download=1", f"{args.dir}/{name}", md5=MD5[flag][args.size])
        print(f"{path}: MD5 ok")


if __name__ == "__main__":
    run(main)
