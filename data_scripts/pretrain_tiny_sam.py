"""Build the miniature: SAM's ImageEncoderViT (tiny) pretrained on synthetic lesion masks (a stand-in, not SAM).

    python data_scripts/pretrain_tiny_sam.py            # -> ~/.cache/slca_min/tiny_lesions-RECIPE.pth (~2.5 min, 2 cores)
    python data_scripts/pretrain_tiny_sam.py --out checkpoints/tiny_lesions.pth --dice

The library builds the same file on first use, so running this is optional. Deterministic on
the CPU (same machine, same torch): the same recipe gives the same weights. --dice adds the
held-out Dice of a probe on the frozen embedding, the miniature next to the untrained encoder.
"""
from pathlib import Path

from _cli import Parser, run

from slca_min import SAMEncoder
from slca_min.sam.miniature import PretrainConfig, build_miniature, default_path, probe_dice


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    defaults = PretrainConfig()
    parser.add_argument("--out", help=f"checkpoint to write (default: {default_path()})")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="(default %(default)s)")
    parser.add_argument("--scenes", type=int, default=defaults.scenes, help="(default %(default)s)")
    parser.add_argument("--dice", action="store_true", help="also measure the probe Dice of miniature and untrained")
    args = parser.parse_args()
    config = PretrainConfig(steps=args.steps, scenes=args.scenes)
    out = Path(args.out) if args.out else default_path(config)
    info = build_miniature(out, config)
    print(f"{out}: built in {info['seconds']:.0f} s; held-out Dice of its mask decoder {info['held_out_decoder_dice']:.3f}")
    if args.dice:
        miniature, untrained = SAMEncoder.from_checkpoint(out), SAMEncoder.untrained("tiny", seed=0)
        print(f"held-out Dice of a probe on the frozen embedding: miniature {probe_dice(miniature):.3f}, "
              f"untrained {probe_dice(untrained):.3f}")
        print(f"weights label: {miniature.weights}")


if __name__ == "__main__":
    run(main)
