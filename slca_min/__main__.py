"""Command line: python -m slca_min {demo,extract,train,evaluate,lowdata} --help

Bad input exits with code 2 and one line naming the problem. Without a SAM checkpoint every
command uses the untrained tiny encoder and says so wherever it reports a number.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from .cache import write_json
from .classifier import BACKBONES, SLCAClassifier
from .data import RegionDataset, atomic_write, load_data, save_phantoms
from .experiments import (FitConfig, extract_splits, fit, load_encoder, lowdata, summarize, weights_label,
                          write_csv)
from .train import METRICS, evaluate
from .viz import plot_attention, plot_lowdata, plot_metrics

BASELINE_WEIGHTS = "not used (baseline)"  # the weights column of a run that needs no encoder


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.command(args)
    except (ValueError, OSError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1]")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m slca_min", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--checkpoint", help="SAM checkpoint (default: checkpoints/sam_vit_b_01ec64.pth if present, "
                                             "else the UNTRAINED tiny encoder)")
    common.add_argument("--sam-input", type=int, help="SAM input side: 1024 (default, faithful), 512 or 256 (faster)")
    common.add_argument("--grid", type=int, default=16, help="region grid g (default 16)")
    common.add_argument("--cache-dir", default="cache", help="where region descriptors are cached (default cache/)")
    common.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    fitting = argparse.ArgumentParser(add_help=False)
    fitting.add_argument("--backbone", default="resnet18", choices=BACKBONES)
    fitting.add_argument("--epochs", type=int, default=20)
    fitting.add_argument("--lr", type=float, default=1e-3)
    fitting.add_argument("--batch-size", type=int, default=32)
    fitting.add_argument("--image-size", type=int, default=224, help="classifier input side (default 224)")
    fitting.add_argument("--pretrained-backbone", action="store_true", help="start from torchvision's ImageNet weights")
    fitting.add_argument("--class-weights", choices=["balanced"], help="weight the loss by inverse class frequency")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", required=True, help="MedMNIST-format .npz (phantoms too) or ISIC folder")

    p = commands.add_parser("demo", parents=[common, fitting], help="phantoms -> regions -> baseline and SLCA -> table, CSV, JSON, PNG")
    p.add_argument("--n", type=int, default=1000, help="phantoms to generate (default 1000)")
    p.add_argument("--size", type=int, default=64, help="phantom side in pixels (default 64)")
    p.add_argument("--out", default="runs/demo")
    p.set_defaults(command=demo, epochs=10, image_size=64)

    p = commands.add_parser("extract", parents=[common, data], help="compute (or reuse) the region cache of every split")
    p.set_defaults(command=extract)

    p = commands.add_parser("train", parents=[common, fitting, data], help="train one model, select on val, report on test")
    p.add_argument("--no-slca", dest="slca", action="store_false", help="the baseline: the plain backbone")
    p.add_argument("--fraction", type=fraction, default=1.0, help="stratified fraction of the train split (0, 1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="default runs/train-slca or runs/train-baseline")
    p.set_defaults(command=train_command)

    p = commands.add_parser("evaluate", parents=[common, data], help="evaluate a model.pt written by train")
    p.add_argument("--model", required=True, help="model.pt written by `train`")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.set_defaults(command=evaluate_command)

    p = commands.add_parser("lowdata", parents=[common, fitting, data], help="baseline vs SLCA over training fractions and seeds")
    p.add_argument("--fractions", type=fraction, nargs="+", default=[0.01, 0.05, 0.1, 0.25, 1.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="runs/lowdata")
    p.set_defaults(command=lowdata_command)
    return parser


def fit_config(args) -> FitConfig:
    return FitConfig(backbone=args.backbone, image_size=args.image_size, epochs=args.epochs, lr=args.lr,
                     batch_size=args.batch_size, grid=args.grid, pretrained_backbone=args.pretrained_backbone,
                     class_weights=args.class_weights, device=args.device)


def prepare(args, need_regions: bool = True):
    """Load and check the data, then the encoder, then the regions (cached)."""
    splits = load_data(args.data)
    encoder = load_encoder(args.checkpoint, sam_input=args.sam_input, device=args.device)
    print(f"data: {args.data} ({', '.join(f'{k} {len(v)}' for k, v in splits.items())})")
    print(f"encoder: {weights_label(encoder)}, SAM input {encoder.sam_input} px")
    regions = None
    if need_regions:
        name = Path(args.data).stem if Path(args.data).suffix == ".npz" else Path(args.data).name
        regions = extract_splits(splits, encoder, name=name, cache_dir=args.cache_dir, grid=args.grid, progress=not args.quiet)
    return splits, encoder, regions


def print_table(rows: list[dict]) -> None:
    print(f"{'model':<10}" + "".join(f"{m:>14}" for m in METRICS) + "  weights")
    for row in rows:
        print(f"{row['model']:<10}" + "".join(f"{float(row[m]):>14.3f}" for m in METRICS) + f"  {row['weights']}")


def demo(args) -> None:
    data = Path(args.cache_dir) / f"phantoms-n{args.n}-s{args.size}.npz"
    if not data.is_file():
        save_phantoms(data, n=args.n, size=args.size, seed=0)
    args.data = str(data)
    splits, encoder, regions = prepare(args)
    label, out, rows, models = weights_label(encoder), Path(args.out), [], {}
    for name in ("baseline", "slca"):
        print(f"training {name} ({args.epochs} epochs, {args.backbone}, {args.image_size} px)")
        models[name], history, metrics = fit(splits, regions, slca=name == "slca", config=fit_config(args), progress=not args.quiet)
        rows.append({"model": name, **metrics, "weights": label})
    print_table(rows)
    write_csv(out / "results.csv", rows)
    write_json(out / "results.json", {"rows": rows, "data": args.data, "config": asdict(fit_config(args))})
    plot_metrics(rows, title=f"phantoms test set, encoder: {label}", path=out / "metrics.png")
    test = splits["test"]
    dataset = RegionDataset(test.images, test.labels, regions["test"], image_size=args.image_size)
    items = [dataset[i] for i in range(min(4, len(dataset)))]
    x, R = torch.stack([item[0] for item in items]), torch.stack([item[1] for item in items])  # (n, 3, S, S), (n, 256, g, g)
    with torch.no_grad():
        _, maps = models["slca"].eval()(x.to(args.device), R.to(args.device), return_attention=True)
    plot_attention(list(test.images[:len(items)]), [m.cpu() for m in maps], title=f"SLCA attention, encoder: {label}",
                   path=out / "attention.png")
    print(f"wrote {out}/results.csv, results.json, metrics.png, attention.png")


def extract(args) -> None:
    _, _, regions = prepare(args)
    for split, R in regions.items():
        print(f"{split}: regions {tuple(R.shape)} {R.dtype}")


def train_command(args) -> None:
    splits, encoder, regions = prepare(args, need_regions=args.slca)
    name = "slca" if args.slca else "baseline"
    out = Path(args.out or f"runs/train-{name}")
    label = weights_label(encoder) if args.slca else BASELINE_WEIGHTS
    model, history, metrics = fit(splits, regions, slca=args.slca, config=fit_config(args), fraction=args.fraction,
                                  seed=args.seed, progress=not args.quiet)
    row = {"model": name, **metrics, "fraction": args.fraction, "seed": args.seed, "weights": label}
    print_table([row])
    with atomic_write(out / "model.pt") as tmp:
        torch.save({"state_dict": model.state_dict(), "num_classes": model.num_classes, "slca": args.slca,
                    "config": asdict(fit_config(args)), "weights": encoder.weights if args.slca else None,
                    "sam_input": encoder.sam_input}, tmp)
    write_csv(out / "history.csv", [{**h, "weights": label} for h in history])
    write_csv(out / "results.csv", [row])
    write_json(out / "results.json", {**row, "data": args.data, "config": asdict(fit_config(args)), "history": history})
    print(f"wrote {out}/model.pt, history.csv, results.csv, results.json")


def evaluate_command(args) -> None:
    try:
        saved = torch.load(args.model, map_location="cpu", weights_only=True)
        config = FitConfig(**{**saved["config"], "device": args.device})
    except FileNotFoundError:
        raise FileNotFoundError(f"{args.model}: no such model; write one with `python -m slca_min train`") from None
    except Exception as e:
        raise ValueError(f"{args.model}: not a model.pt written by `python -m slca_min train` ({type(e).__name__})") from None
    args.grid, args.sam_input = config.grid, args.sam_input or saved["sam_input"]
    splits, encoder, regions = prepare(args, need_regions=saved["slca"])
    if saved["slca"] and encoder.weights != saved["weights"]:
        raise ValueError(f"{args.model} was trained on regions from '{saved['weights']}', this run's encoder is "
                         f"'{encoder.weights}'; pass the same --checkpoint")
    model = SLCAClassifier(num_classes=saved["num_classes"], backbone=config.backbone, slca=saved["slca"], grid=config.grid)
    model.load_state_dict(saved["state_dict"])
    data = splits[args.split]
    dataset = RegionDataset(data.images, data.labels, regions[args.split] if regions else None, image_size=config.image_size)
    metrics = evaluate(model, dataset, batch_size=config.batch_size, device=args.device)
    print_table([{"model": "slca" if saved["slca"] else "baseline", **metrics,
                  "weights": weights_label(encoder) if saved["slca"] else BASELINE_WEIGHTS}])


def lowdata_command(args) -> None:
    splits, encoder, regions = prepare(args)
    out = Path(args.out)
    label = weights_label(encoder)
    rows = lowdata(splits, regions, fractions=args.fractions, seeds=args.seeds, config=fit_config(args),
                   weights=label, data=str(args.data), results_path=out / "results.csv", progress=not args.quiet)
    summary = summarize([r for r in rows if float(r["fraction"]) in args.fractions and int(r["seed"]) in args.seeds])
    write_csv(out / "summary.csv", summary)
    print(f"{'model':<10}{'fraction':>9}" + "".join(f"{m:>20}" for m in METRICS) + "  weights")
    for s in summary:
        print(f"{s['model']:<10}{s['fraction']:>9}" + "".join(f"{s[m + '_mean']:>12.3f} +- {s[m + '_std']:.3f}" for m in METRICS)
              + f"  {s['weights']}")
    plot_lowdata(rows, metric="auc", title=f"{Path(args.data).name}, encoder: {label}", path=out / "auc_vs_fraction.png")
    print(f"wrote {out}/results.csv, summary.csv, auc_vs_fraction.png")


if __name__ == "__main__":
    sys.exit(main())
