"""Download ISIC 2017 Task 3 and write one folder per split: resized JPEGs and labels.csv (resumable).

    python data_scripts/download_isic2017.py [--dir data/isic2017] [--max-side 1024]

Labels: 0 nevus, 1 melanoma, 2 seborrheic keratosis. Images keep their aspect ratio; the longest
side is at most --max-side. Rerunning resumes downloads and skips images already written.
"""
import csv
import zipfile
from pathlib import Path

from _cli import Parser, run
from PIL import Image
from tqdm import tqdm

from slca_min.data.download import fetch
from slca_min.utils.files import atomic_write

SPLITS = {"train": ("ISIC-2017_Training_Data.zip", "ISIC-2017_Training_Part3_GroundTruth.csv"),
          "val": ("ISIC-2017_Validation_Data.zip", "ISIC-2017_Validation_Part3_GroundTruth.csv"),
          "test": ("ISIC-2017_Test_v2_Data.zip", "ISIC-2017_Test_v2_Part3_GroundTruth.csv")}


def check_zip(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path.name}: not a zip archive; the download was removed, run again")


def read_labels(path: Path) -> list[tuple[str, int]]:
    """image_id, melanoma, seborrheic_keratosis (0/1 each; neither = nevus) -> (image_id, 0/1/2)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image_id", "melanoma", "seborrheic_keratosis"} <= rows[0].keys():
        raise ValueError(f"{path}: expected columns image_id, melanoma, seborrheic_keratosis")
    return [(r["image_id"], 1 if float(r["melanoma"]) else 2 if float(r["seborrheic_keratosis"]) else 0) for r in rows]


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="data/isic2017")
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--base-url", default="https://isic-challenge-data.s3.amazonaws.com/2017")
    args = parser.parse_args()
    root, downloads = Path(args.dir), Path(args.dir) / "downloads"
    for split, (archive, table) in SPLITS.items():
        zip_path = fetch(f"{args.base_url}/{archive}", downloads / archive, check=check_zip)
        labels = read_labels(fetch(f"{args.base_url}/{table}", downloads / table, check=read_labels))
        out = root / split
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as z:
            members = {Path(n).stem: n for n in z.namelist() if n.lower().endswith(".jpg")}
            for image_id, _ in tqdm(labels, desc=f"{split}: resize to <= {args.max_side} px", unit="img"):
                target = out / f"{image_id}.jpg"
                if target.is_file():
                    continue
                if image_id not in members:
                    raise ValueError(f"{zip_path}: no image {image_id}.jpg, listed in {table}; delete the zip and run again")
                with z.open(members[image_id]) as f, Image.open(f) as image, atomic_write(target) as tmp:
                    image = image.convert("RGB")
                    image.thumbnail((args.max_side, args.max_side), Image.LANCZOS)  # keeps the aspect ratio
                    image.save(tmp, format="JPEG", quality=95)
        with atomic_write(out / "labels.csv") as tmp, open(tmp, "w", newline="") as f:
            csv.writer(f).writerows([("image_id", "label"), *labels])
        print(f"{out}: {len(labels)} images, labels.csv written")


if __name__ == "__main__":
    run(main)
