"""Does the miniature still find the lesion on the harder phantoms? Per difficulty level, the held-out Dice of a
linear-ish probe (sam/miniature.py's MaskHead: two 1x1 convolutions and a pixel shuffle, 300 steps) trained on the
frozen encoder's regions against the classified lesion's mask, for the miniature and for the untrained encoder.

768 phantoms per level (seed 7, not the study's data), 512 to train the probe, 256 to score it, 64 px, the
encoder at 256 px (16 x 16 regions, masks at 64 x 64). Writes benchmarks/study_ladder_dice.csv.

    python benchmarks/ladder_dice.py            # about 1 min per level on one core
"""
from __future__ import annotations

from pathlib import Path

from slca_min import SAMEncoder, make_phantoms
from slca_min.data.phantoms import DIFFICULTY
from slca_min.sam.loading import load_encoder
from slca_min.sam.miniature import probe_dice
from slca_min.utils.files import write_csv

HERE = Path(__file__).parent


def main() -> None:
    miniature, untrained = load_encoder("miniature"), SAMEncoder.untrained("tiny", seed=0)
    rows = []
    for level in DIFFICULTY:
        images, _, masks = make_phantoms(768, size=64, seed=7, difficulty=level)
        row = {"level": level, "lesion_area": float(masks.mean()),
               "dice_miniature": probe_dice(miniature, scenes=(images, masks)),
               "dice_untrained": probe_dice(untrained, scenes=(images, masks)), "miniature": miniature.weights}
        print(f"level {level}: lesion covers {row['lesion_area']:.3f} of the image; probe Dice: miniature "
              f"{row['dice_miniature']:.3f}, untrained {row['dice_untrained']:.3f}", flush=True)
        rows.append(row)
    write_csv(HERE / "study_ladder_dice.csv", rows)
    print(f"miniature: {miniature.weights}\nwrote benchmarks/study_ladder_dice.csv")


if __name__ == "__main__":
    main()
