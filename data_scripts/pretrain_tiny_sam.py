"""Build the miniature: SAM's ImageEncoderViT (tiny) pretrained on synthetic lesion masks (a stand-in, not SAM).

    python data_scripts/pretrain_tiny_sam.py            # -> ~/.cache/slca_min/tiny_lesions-RECIPE.pth (~2.5 min, 2 cores)
    python data_scripts/pretrain_tiny_sam.py --out checkpoints/tiny_lesions.pth --dice
    python data_scripts/pretrain_tiny_sam.py --scene haystack --dice   # the haystack miniature (docs/study.md)

The library builds the same file on first use, so running this is optional. Deterministic on
the CPU (same machine, same torch): the same recipe gives the same weights. --dice adds the
held-out Dice of a probe on the frozen embedding, the miniature next to the untrained encoder.
--scene haystack pretrains on haystack scenes instead (--size, --share, --distractors as make_phantoms.py):
the target is the classified lesion, the cysts are background; the labels are never read. It writes
~/.cache/slca_min/tiny_haystack-RECIPE-KNOBS.pth, a stand-in like the miniature, and --dice then scores
the probe on held-out haystack scenes for it, the miniature and the untrained encoder.
"""
from pathlib import Path


from _cli import Parser, run

from slca_min import SAMEncoder
from slca_min.data.haystack import haystack_knobs, segmentation_scenes
from slca_min.sam.lesion_scenes import HELD_OUT_SEED, PRETRAIN_SEED
from slca_min.sam.miniature import PretrainConfig, build_miniature, default_path, miniature_checkpoint, probe_dice, recipe_id


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    defaults = PretrainConfig()
    parser.add_argument("--out", help=f"checkpoint to write (default: {default_path()})")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="(default %(default)s)")
    parser.add_argument("--scenes", type=int, default=defaults.scenes, help="(default %(default)s)")
    parser.add_argument("--dice", action="store_true", help="also measure the probe Dice of miniature and untrained")
    parser.add_argument("--scene", default="lesion", choices=("lesion", "haystack"))
    parser.add_argument("--size", type=int, default=128, help="haystack: the canvas (default %(default)s)")
    parser.add_argument("--share", type=float, default=0.02, help="haystack: the lesion's share (default %(default)s)")
    parser.add_argument("--distractors", type=int, default=4, help="haystack: cysts (default %(default)s)")
    args = parser.parse_args()
    config = PretrainConfig(steps=args.steps, scenes=args.scenes)
    out = Path(args.out) if args.out else default_path(config)
    options, held_out = {}, None
    if args.scene == "haystack":
        knobs = haystack_knobs(size=args.size, share=args.share, distractors=args.distractors)
        held_out = segmentation_scenes(768, seed=HELD_OUT_SEED, **knobs)  # the probe's 512 + 256, never trained on
        options = dict(scenes=segmentation_scenes(args.scenes, seed=PRETRAIN_SEED, **knobs),
                       held_out=segmentation_scenes(256, seed=HELD_OUT_SEED + 1, **knobs),
                       what=f"the classified lesions of haystack scenes {knobs} (cysts as background)")
        name = f"tiny_haystack-{recipe_id(config)}-s{args.size}-sh{args.share:g}-d{args.distractors}.pth"
        out = Path(args.out) if args.out else default_path(config).with_name(name)
    info = build_miniature(out, config, **options)
    print(f"{out}: built in {info['seconds']:.0f} s; held-out Dice of its mask decoder {info['held_out_decoder_dice']:.3f}")
    if args.dice:
        encoders = {"this build": SAMEncoder.from_checkpoint(out), "untrained": SAMEncoder.untrained("tiny", seed=0)}
        if args.scene == "haystack":
            encoders["the lesion miniature"] = SAMEncoder.from_checkpoint(miniature_checkpoint())
        scores = ", ".join(f"{name} {probe_dice(encoder, scenes=held_out):.3f}" for name, encoder in encoders.items())
        print(f"held-out Dice of a probe on the frozen embedding ({args.scene} scenes): {scores}")
        print(f"weights label: {encoders['this build'].weights}")


if __name__ == "__main__":
    run(main)
