"""Download an official SAM checkpoint (resumable) and keep it only if it loads as that model type.

    python data_scripts/download_sam_checkpoint.py vit_b [--dir checkpoints]
"""
import argparse

from _cli import run

from slca_min.download import fetch
from slca_min.encoder import SAMEncoder

FILES = {"vit_b": "sam_vit_b_01ec64.pth", "vit_l": "sam_vit_l_0b3195.pth", "vit_h": "sam_vit_h_4b8939.pth"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_type", choices=FILES)
    parser.add_argument("--dir", default="checkpoints")
    parser.add_argument("--base-url", default="https://dl.fbaipublicfiles.com/segment_anything")
    args = parser.parse_args()
    name = FILES[args.model_type]
    # No official hash is published: the check is that the file loads as the requested model type.
    path = fetch(f"{args.base_url}/{name}", f"{args.dir}/{name}",
                 check=lambda part: SAMEncoder.from_checkpoint(part, model_type=args.model_type))
    print(f"{path}: a {args.model_type} SAM checkpoint")


if __name__ == "__main__":
    run(main)
