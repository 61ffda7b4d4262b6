"""Command line: python -m slca_min {demo,extract,cache,train,evaluate,predict,lowdata} --help

Bad input exits with code 2 and one line naming the option or file and the fix, never a
traceback. Without a SAM checkpoint every command uses the miniature (a tiny encoder pretrained on
synthetic lesion masks: a stand-in, not SAM) and says so wherever it reports a number.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

from ..backbones import BACKBONES, WEIGHTS
from ..classifier import INTEGRATIONS
from ..sam.levels import LEVELS
from ..study.comparison import MODELS
from ..utils import distributed
from . import commands


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to look, not a 12-line usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def busy_hint() -> str | None:
    """A reminder when threads will fight: OMP_NUM_THREADS unset and the 1-minute load already fills the cores."""
    cores, load = os.cpu_count() or 1, os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if "OMP_NUM_THREADS" in os.environ or load < cores - 0.5:
        return None
    return (f"note: this machine is busy (load {load:.1f} on {cores} cores); if another PyTorch process runs, give each "
            "one thread: OMP_NUM_THREADS=1 (2.7x faster in benchmarks/README.md)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what `lowdata --workers` gives its workers
    hint = busy_hint() if "WORLD_SIZE" not in os.environ else None  # torchrun users set threads per process already
    if hint:
        print(hint, file=sys.stderr)
    try:
        args.device = distributed.start(args.device)  # under torchrun: join the group, one GPU per rank
        if not distributed.is_main():  # only rank 0 reports; every rank still says what went wrong (stderr)
            sys.stdout, args.quiet = open(os.devnull, "w"), True
        args.command(args)
    except (ValueError, OSError, FloatingPointError, ImportError) as e:  # ImportError: an optional extra is missing
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def number(kind, low, high=None, multiple: int = 1):
    """An argparse type: `kind` within [low, high] (and a multiple of `multiple`), else a one-line error."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if value < low or (high is not None and value > high) or (multiple > 1 and value % multiple):
            bounds = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"{text} must be {bounds}" + (f", a multiple of {multiple}" if multiple > 1 else ""))
        return value
    return parse


def worker_share(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n): worker i of n (set by `lowdata --workers`)."""
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit() and int(i) < int(n)):
        raise argparse.ArgumentTypeError(f"{text!r} is not i/n with 0 <= i < n")
    return int(i), int(n)


def fraction(text: str) -> float:
    value = number(float, 0)(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1]")
    return value


def device(text: str) -> str:
    try:
        kind = torch.device(text).type
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu or cuda") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA GPU is available here; use --device cpu")
    if kind not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text}: only cpu and cuda are supported")
    return text


def backbone(text: str) -> str:
    if text not in BACKBONES and not (text.startswith("timm:") and len(text) > 5):
        raise argparse.ArgumentTypeError(f"{text!r} is not a backbone; use one of {', '.join(BACKBONES)} or timm:NAME")
    return text


def backbone_weights(text: str) -> str:
    if text not in WEIGHTS and not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text!r}: use none, imagenet, miniature or the path of a weights file")
    return text


def models(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{','.join(unknown) or text!r}: choose from {','.join(MODELS)}")
    return names


def sam_levels(text: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if not names or not set(names) <= set(LEVELS) or len(names) > 5:
        raise argparse.ArgumentTypeError(f"{text!r}: one to five of {','.join(LEVELS)}, comma-separated")
    return names


def split_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) <= 0 or abs(sum(parts) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"{text!r}: three positive fractions train,val,test that sum to 1, e.g. 0.7,0.1,0.2")
    return parts


positive = number(int, 1)


def add_fitting(p: argparse.ArgumentParser, *, epochs: int = 20, image_size: int = 224) -> None:
    """Training options; defaults are per command, so that --help shows what the command really uses."""
    p.add_argument("--backbone", type=backbone, default="resnet18",
                   help=f"{', '.join(BACKBONES)} or timm:NAME with the [timm] extra (default %(default)s)")
    p.add_argument("--epochs", type=positive, default=epochs, help="training epochs (default %(default)s)")
    p.add_argument("--lr", type=number(float, 1e-8, 10), default=1e-3, help="AdamW learning rate (default %(default)s)")
    p.add_argument("--batch-size", type=number(int, 2), default=32,
                   help="training batch size, at least 2: BatchNorm cannot train on one image (default %(default)s)")
    p.add_argument("--image-size", type=number(int, 16, 2048), default=image_size,
                   help="classifier input side in pixels (default %(default)s)")
    p.add_argument("--backbone-weights", type=backbone_weights, default="none", metavar="none|imagenet|miniature|PATH",
                   help="where the backbone starts: none (from scratch, default), imagenet (torchvision's or timm's, "
                        "downloaded once), miniature (resnet18: the offline stand-in for ImageNet, pretrained on "
                        "synthetic shapes, built on first use) or a state-dict file")
    p.add_argument("--pretrained-backbone", dest="backbone_weights", action="store_const", const="imagenet",
                   help="the same as --backbone-weights imagenet")
    p.add_argument("--class-weights", choices=["balanced"], help="weight the loss by inverse class frequency")
    p.add_argument("--no-recalibrate-bn", dest="recalibrate_bn", action="store_false",
                   help="keep BatchNorm's running statistics as training left them (default: recomputed over the "
                        "training set at the end; docs/own-data.md)")
    p.add_argument("--min-steps", type=number(int, 0), default=0,
                   help="train at least this many steps (more epochs for small fractions; default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m slca_min", description=__doc__.splitlines()[0])
    subcommands = parser.add_subparsers(required=True, metavar="COMMAND")

    common = Parser(add_help=False)
    common.add_argument("--checkpoint", help="SAM checkpoint (default: checkpoints/sam_vit_b_01ec64.pth if present, "
                                             "else the miniature: a tiny encoder pretrained on synthetic lesion masks, "
                                             "built on first use); 'miniature': the miniature; 'untrained': the UNTRAINED tiny "
                                             "encoder; evaluate/predict: the model's own")
    common.add_argument("--sam-input", type=number(int, 64, 1024, multiple=16),
                        help="SAM input side, a multiple of 16 up to 1024 (default: the encoder's own, 1024 for SAM "
                             "checkpoints and 256 for the tiny encoder; smaller is faster and changes the features)")
    common.add_argument("--precision", choices=["fp32", "bf16", "int8"],
                        help="arithmetic: fp32 (default, faithful; evaluate/predict: the model's own); bf16 (bfloat16 autocast for extraction and training, "
                             "about 2x where the CPU or GPU has native bf16; region cosine 0.9999 to fp32); int8 (extraction "
                             "only, CPU only, about 1.9x; attention in bf16 where the CPU has it, recorded as int8-bf16attn; "
                             "cosine >= 0.9994). Part of the cache key and of every result")
    common.add_argument("--compile", action="store_true",
                        help="torch.compile SAM's encoder (opt-in: the first batch compiles, tens of seconds to minutes; "
                             "int8 stays eager). Same maths: caches and results are shared with the eager encoder")
    common.add_argument("--sam-preprocess", choices=["sam", "medsam"],
                        help="sam (default: SamPredictor's) or medsam (MedSAM's, for its weights: square resize, min-max "
                             "to [0, 1], no mean/std); evaluate/predict: the model's")
    common.add_argument("--attention", choices=["auto", "masked", "folded", "explicit", "flex", "sam"], default="auto",
                        help="how SAM's attention is computed (same maths, float rounding apart): auto (default: the fastest "
                             "kernel, timed once per machine and remembered), masked, folded, explicit, flex, or sam (SAM's own)")
    common.add_argument("--grid", type=number(int, 1, 64), help="region grid g (default 16; evaluate: the model's)")
    common.add_argument("--cache-dir", default="cache", help="where region descriptors are cached (default %(default)s)")
    common.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default here: %(default)s)")
    common.add_argument("--allow-large-images", action="store_true",
                        help="read images over Pillow's decompression-bomb limit (only files you trust)")
    common.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    data = Parser(add_help=False)
    data.add_argument("--data", required=True, help="MedMNIST-format .npz (phantoms too), an ISIC folder, a folder of "
                                                    "class folders, or a CSV of path,label[,split]")
    data.add_argument("--split-fractions", type=split_fractions, default=(0.7, 0.1, 0.2),
                      help="train,val,test fractions for folders and CSVs without splits (default 0.7,0.1,0.2)")

    levels = Parser(add_help=False)
    levels.add_argument("--sam-levels", type=sam_levels,
                        help="SAM levels SLCA reads, one per gated position or one for all: neck (default, stages 1-4) "
                             "or patch,early,middle,late,neck (the stem and stages 1-4); evaluate/predict: the model's")

    def add(name, run, help, parents):
        p = subcommands.add_parser(name, parents=parents, help=help, description=help)
        p.set_defaults(command=run)
        return p

    p = add("demo", commands.demo, "phantoms -> regions -> baseline and SLCA -> table, CSV, JSON, PNG", [common])
    add_fitting(p, epochs=10, image_size=64)
    p.add_argument("--n", type=number(int, 10), default=1000, help="phantoms to generate (default %(default)s)")
    p.add_argument("--size", type=number(int, 16, 1024), default=64, help="phantom side in pixels (default %(default)s)")
    p.add_argument("--out", default="runs/demo", help="output folder (default %(default)s)")

    add("extract", commands.extract, "compute (or reuse) the region cache of every split", [common, data, levels])

    p = add("cache", commands.cache, "list the region cache's entries (size, what made them, last use)", [])
    p.add_argument("--cache-dir", default="cache", help="the cache folder (default %(default)s)")
    p.set_defaults(device="cpu", quiet=True)

    p = add("train", commands.train, "train one model, select on val, report on test", [common, data, levels])
    add_fitting(p)
    p.add_argument("--gate", choices=["slca", "none", "se", "cbam"],
                   help="slca (default), none (the plain backbone), se or cbam (attention without SAM: controls)")
    p.add_argument("--no-slca", dest="slca", action="store_false", help="the baseline: the same as --gate none")
    p.add_argument("--integrate", choices=list(INTEGRATIONS), default="multiply",
                   help="how SLCA gates a stage: F*A (multiply, the paper's reading), F*(1+A) or F*2A (default %(default)s)")
    p.add_argument("--fraction", type=fraction, default=1.0, help="stratified fraction of the train split, (0, 1] "
                                                                  "(default %(default)s)")
    p.add_argument("--seed", type=number(int, 0), default=0, help="random seed, 0 or more (default %(default)s)")
    p.add_argument("--out", help="output folder (default runs/train-slca or runs/train-baseline)")

    p = add("evaluate", commands.evaluate, "score a model.pt written by train", [common, data, levels])
    p.add_argument("--model", required=True, help="model.pt written by `train`")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="(default %(default)s)")

    p = add("predict", commands.predict, "classify new images with a model.pt written by train", [common, levels])
    p.add_argument("--model", required=True, help="model.pt written by `train`")
    p.add_argument("--images", required=True, nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--out", default="runs/predict", help="where predictions.csv goes (default %(default)s)")

    p = add("lowdata", commands.lowdata, "models side by side over training fractions and seeds", [common, data])
    add_fitting(p)
    p.add_argument("--models", type=models, default=["baseline", "slca"],
                   help=f"comma-separated, from {','.join(MODELS)} (default baseline,slca)")
    sizes = p.add_mutually_exclusive_group()
    sizes.add_argument("--images", type=positive, nargs="+",
                       help="training-set sizes in images, e.g. 9 42 420: each becomes the fraction whose stratified "
                            "subset holds exactly that many (a size no fraction gives is refused, naming the nearest)")
    sizes.add_argument("--fractions", type=fraction, nargs="+", default=[0.01, 0.05, 0.1, 0.25, 1.0],
                       help="or fractions of the train split (default %(default)s)")
    p.add_argument("--seeds", type=number(int, 0), nargs="+", default=[0, 1, 2],
                   help="random seeds: each model runs once per fraction and seed, on the same subsets (default %(default)s)")
    p.add_argument("--out", default="runs/lowdata", help="output folder; results are added to its results.csv "
                                                         "(default %(default)s)")
    p.add_argument("--workers", type=number(int, 1, 256), default=1,
                   help="train this many runs side by side, in one-thread processes (e.g. the number of cores; "
                        "default %(default)s)")
    p.add_argument("--distribute", choices=["batches", "runs"], default="batches",
                   help="under torchrun: split each run's batches over the ranks (DDP, default), or give each rank "
                        "whole runs (faster for small runs; every rank must see the same --out)")
    p.add_argument("--worker", type=worker_share, help=argparse.SUPPRESS)  # set by --workers for its workers
    return parser

