"""Download an official SAM checkpoint (resumable) and keep it only if its MD5 is the published one.

    python data_scripts/download_sam_checkpoint.py vit_b [--dir checkpoints]

A file already at the final path is checked too: a damaged or foreign file is downloaded again.
"""

from _cli import Parser, run

from slca_min.data.download import fetch

# MD5 of each official file. Meta publishes no checksum page; the file names carry the first six
# hex digits of these MD5s, and independent downloaders (iopaint, segment-geospatial-style tools,
# annotation tools) verify the full values (shared/reference/sources.md).
FILES = {"vit_b": ("sam_vit_b_01ec64.pth", "01ec64d29a2fca3f0661936605ae66f8"),
         "vit_l": ("sam_vit_l_0b3195.pth", "0b3195507c641ddb6910d2bb5adee89c"),
         "vit_h": ("sam_vit_h_4b8939.pth", "4b8939a88964f0f4ff5f5b2642c598a6")}


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("model_type", choices=FILES)
    parser.add_argument("--dir", default="checkpoints")
    parser.add_argument("--base-url", default="https://dl.fbaipublicfiles.com/segment_anything")
    args = parser.parse_args()
    name, md5 = FILES[args.model_type]
    path = fetch(f"{args.base_url}/{name}", f"{args.dir}/{name}", md5=md5)
    print(f"{path}: MD5 ok, the official {args.model_type} SAM checkpoint")


if __name__ == "__main__":
    run(main)
