"""What each command of `python -m slca_min` does (the parser is in __main__.py).

Every command checks its inputs first (data, encoder, output folder), then works, then writes
its outputs together: a failure at any point leaves no half-written results.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch

from ..backbones import build_backbone
from ..data.dataset import RegionDataset
from ..data.images import allow_large_images
from ..data.loaders import ImageFiles, load_data
from ..data.phantoms import save_phantoms
from ..data.split import data_id
from ..pipeline.cache import entries
from ..pipeline.model_file import check_model, describe_model, load_model, save_model, trained_on
from ..pipeline.predict import image_paths, predict_images, prediction_rows
from ..sam.levels import NECK, check_levels
from ..study.comparison import (
    excludes_zero,
    finished_rows,
    fractions_for,
    levels_needed,
    lowdata as lowdata_grid,
    model_setting,
    result_setting,
    summarize,
    USES_SAM,
)
from ..sam.loading import load_encoder, weights_label
from ..study.experiments import NO_SAM, FitConfig, extract_splits, fit
from ..study.viz import plot_attention, plot_lowdata, plot_metrics
from ..train import METRICS, evaluate as evaluate_model
from ..utils.distributed import is_main, main_only
from ..utils.files import check_writable, read_csv, run_folder, write_csv, write_json
from . import workers


def fit_config(args) -> FitConfig:
    """The fit settings. Backbone weights other than none are loaded once here, so that a bad file or a download that
    fails is reported before the data are loaded and their regions extracted."""
    if args.backbone_weights != "none":
        build_backbone(args.backbone, 2, args.backbone_weights)
    return FitConfig(backbone=args.backbone, image_size=args.image_size, epochs=args.epochs, lr=args.lr,
                     batch_size=args.batch_size, grid=args.grid or 16, backbone_weights=args.backbone_weights,
                     class_weights=args.class_weights, min_steps=args.min_steps, recalibrate_bn=args.recalibrate_bn,
                     train_precision="bf16" if args.precision == "bf16" else "fp32",
                     device=args.device)


def encoder_of(args):
    try:
        return load_encoder(args.checkpoint, sam_input=args.sam_input, device=args.device,
                            precision=args.precision or "fp32", preprocess=args.sam_preprocess or "sam",
                            attention=args.attention, compile=getattr(args, "compile", False))
    except (ValueError, OSError) as e:
        if not getattr(args, "remembered", None):
            raise
        raise ValueError(f"{args.checkpoint}: the encoder this model was trained with, as model.pt remembers it, cannot "
                         f"be loaded ({str(e).split('; ')[0].removeprefix(str(args.checkpoint) + ': ')}); pass "
                         f"--checkpoint FILE with the weights it was trained with ({args.remembered})") from None


def load_splits(args):
    if args.allow_large_images:
        allow_large_images()
    return load_data(args.data, split=getattr(args, "split_fractions", (0.7, 0.1, 0.2)))


def prepare(args, need_regions: bool = True, levels=NECK, need_encoder: bool = True, splits=None):
    """Load and check the data (unless given), then the encoder (unless not needed: None), then the regions (cached)."""
    splits = load_splits(args) if splits is None else splits
    encoder = encoder_of(args) if need_encoder or need_regions else None
    print(f"data: {args.data} ({', '.join(f'{k} {len(v)}' for k, v in splits.items())}; "
          f"classes: {', '.join(splits['train'].class_names)})")
    if encoder:
        print(f"encoder: {weights_label(encoder)}, SAM input {encoder.sam_input} px")
    regions = None
    if need_regions:
        name = Path(args.data).stem if Path(args.data).suffix in (".npz", ".csv") else Path(args.data).name
        name = f"{name}-{data_id(splits)[:8]}"  # two data sets of one name keep their own entries
        regions = extract_splits(splits, encoder, name=name, cache_dir=args.cache_dir, grid=args.grid or 16,
                                 levels=levels, progress=not args.quiet)
    return splits, encoder, regions


def print_table(rows: list[dict]) -> None:
    """Metrics, one row per model; the weights are printed once above (they stay a column in the files)."""
    for weights in dict.fromkeys(row["weights"] for row in rows):
        print(f"weights of {', '.join(r['model'] for r in rows if r['weights'] == weights)}: {weights}")
    for weights in dict.fromkeys(row["backbone_weights"] for row in rows if "backbone_weights" in row):
        print(f"backbone weights: {weights}")
    print(f"{'model':<10}" + "".join(f"{m:>14}" for m in METRICS))
    for row in rows:
        print(f"{row['model']:<10}" + "".join(f"{float(row[m]):>14.3f}" for m in METRICS))


def demo(args) -> None:
    check_writable(args.cache_dir)
    data = Path(args.cache_dir) / f"phantoms-n{args.n}-s{args.size}.npz"
    if not data.is_file():
        save_phantoms(data, n=args.n, size=args.size, seed=0)
    args.data = str(data)
    config = fit_config(args)
    splits, encoder, regions = prepare(args)
    label, rows, models = weights_label(encoder), [], {}
    with main_only(run_folder(args.out)) as out:
        for name in ("baseline", "slca"):
            print(f"training {name} ({args.epochs} epochs, {args.backbone}, {args.image_size} px)")
            models[name], history, metrics = fit(splits, regions, gate="slca" if name == "slca" else "none", config=config,
                                                 progress=not args.quiet, desc=name)
            rows.append({"model": name, **metrics, "weights": label if name == "slca" else NO_SAM,
                         "backbone_weights": models[name].backbone_weights})
        print_table(rows)
        print(f"SLCA - baseline: test AUC {rows[1]['auc'] - rows[0]['auc']:+.3f} from ONE seed and one split: differences of "
              "several hundredths come and go between seeds; the README's study gives 5 seeds with paired intervals")
        write_csv(out / "results.csv", rows)
        write_json(out / "results.json", {"rows": rows, "data": args.data, "config": asdict(config)})
        plot_metrics(rows, title=f"phantoms, test split; SLCA encoder: {label}", path=out / "metrics.png")
        test = splits["test"]
        dataset = RegionDataset(test.images, test.labels, regions["test"], image_size=args.image_size)
        items = [dataset[i] for i in range(min(4, len(dataset)))]
        x, R = torch.stack([item[0] for item in items]), torch.stack([item[1] for item in items])  # (n, 3, S, S), (n, 256, g, g)
        with torch.no_grad():
            logits, maps = models["slca"].eval()(x.to(args.device), R.to(args.device), return_attention=True)
        names = test.class_names
        captions = [f"true: {names[y]}\npredicted: {names[p]}" for y, p in zip(test.labels, logits.argmax(1).tolist())]
        plot_attention(list(test.images[:len(items)]), [m.cpu() for m in maps], captions=captions, stages=models["slca"].stages,
                       masks=None if test.masks is None else test.masks[:len(items)],
                       title=f"SLCA attention on test phantoms; encoder: {label}", path=out / "attention.png")
    print(f"wrote {args.out}/results.csv, results.json, metrics.png, attention.png")


def extract(args) -> None:
    _, _, regions = prepare(args, levels=args.sam_levels or NECK)
    for split, R in regions.items():
        print(f"{split}: regions {tuple(R.shape)} {R.dtype} in {Path(R.filename)}")


def cache(args) -> None:
    rows = entries(args.cache_dir)
    if not rows:
        print(f"{args.cache_dir}: no cache entries")
        return
    print(f"{'last used':<17}{'MiB':>8}  {'images':>7}  {'levels':<12}{'state':<18}file")
    for r in rows:
        print(f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(r['last_used'])):<17}{r['MiB']:>8}  {r['images']:>7}  "
              f"{r['levels']:<12}{r['state']:<18}{r['file']}")
    print(f"{len(rows)} entries, {sum(r['MiB'] for r in rows):.0f} MiB in {args.cache_dir}; delete any entry's .npy and "
          ".json you no longer need (it is recomputed when next needed), or the whole folder")


def train(args) -> None:
    gate = args.gate or ("slca" if args.slca else "none")
    name = "baseline" if gate == "none" else gate
    out = Path(args.out or f"runs/train-{name}")
    with main_only(run_folder(out)) as staging:  # made (and checked writable) before any work; rank 0 only
        sam_levels = args.sam_levels or NECK
        config = fit_config(args)
        splits, encoder, regions = prepare(args, need_regions=gate == "slca", levels=sam_levels)
        label = weights_label(encoder) if gate == "slca" else NO_SAM
        model, history, metrics = fit(splits, regions, gate=gate, config=config, fraction=args.fraction, seed=args.seed,
                                      integrate=args.integrate, sam_levels=sam_levels, progress=not args.quiet)
        row = {"model": name, **metrics, "fraction": args.fraction, "seed": args.seed, "data": args.data,
               "integrate": model.integrate, "n_params": sum(p.numel() for p in model.parameters()),
               **model_setting(name, result_setting(config, splits, encoder))}
        if gate == "slca":
            row["sam_levels"] = "+".join(model.sam_levels)  # one per gated position
        print_table([row])
        description = describe_model(model, config=config, class_names=splits["train"].class_names, encoder=encoder,
                                     multilabel=splits["train"].multilabel)
        save_model(staging / "model.pt", model, description, train_images=splits["train"].images)
        write_csv(staging / "history.csv", [{**h, "weights": label} for h in history])
        write_csv(staging / "results.csv", [row])
        write_json(staging / "results.json", {**row, "model_file": description, "history": history})
    print(f"wrote {out}/model.pt, history.csv, results.csv, results.json")


def evaluate(args) -> None:
    model, saved = load_model(args.model, device=args.device)
    uses_sam = saved["gate"] == "slca"
    if uses_sam:  # the model's settings unless the user asks for others (then refused below)
        use_model_settings(args, saved)
    splits, encoder, regions = prepare(args, need_regions=uses_sam, levels=check_levels(args.sam_levels or NECK),
                                       need_encoder=uses_sam)  # a baseline reads no SAM: no encoder is loaded
    check_model(saved, args.model, class_names=splits["train"].class_names, encoder=encoder, grid=args.grid,
                sam_levels=args.sam_levels if uses_sam else None)
    data = splits[args.split]
    dataset = RegionDataset(data.images, data.labels, regions[args.split] if regions else None,
                            image_size=saved["image_size"])
    metrics = evaluate_model(model, dataset, batch_size=saved["config"]["batch_size"], device=args.device)
    seen = trained_on(model, data.images) if args.split != "train" else 0
    if seen:
        print(f"warning: {seen} of the {len(data)} {args.split} images were in this model's training split (the data "
              "or its split changed since training): these scores are not held out", file=sys.stderr)
    print(f"{args.model} on the {args.split} split of {args.data}:")
    print_table([{"model": {"none": "baseline"}.get(saved["gate"], saved["gate"]), **metrics,
                  "weights": weights_label(encoder) if uses_sam else NO_SAM, "backbone_weights": model.backbone_weights}])


def use_model_settings(args, saved: dict) -> None:
    """SAM input, grid, levels, preprocessing and precision of an SLCA model.pt, where the command line leaves them
    open."""
    args.sam_input, args.grid = args.sam_input or saved["sam_input"], args.grid or saved["grid"]
    args.sam_levels = args.sam_levels or saved["sam_levels"]
    args.sam_preprocess = args.sam_preprocess or saved["preprocess"]
    args.precision = args.precision or saved.get("precision") or "fp32"
    if args.checkpoint is None and saved.get("checkpoint"):  # the encoder it was trained with (its hash is checked)
        args.checkpoint, args.remembered = saved["checkpoint"], saved["weights"]
        if args.checkpoint not in ("untrained", "miniature") and not Path(args.checkpoint).is_file():
            raise FileNotFoundError(f"the model was trained with the encoder in {args.checkpoint} ({saved['weights']}), "
                                    "which is not there any more; pass --checkpoint FILE with those weights")


def predict(args) -> None:
    if args.allow_large_images:
        allow_large_images()
    check_writable(args.out)
    model, saved = load_model(args.model, device=args.device)
    images = ImageFiles(image_paths(args.images))
    encoder, label = None, NO_SAM
    if saved["gate"] == "slca":  # the encoder it was trained with, and refusals of settings that differ from it
        use_model_settings(args, saved)
        encoder = encoder_of(args)
        check_model(saved, args.model, encoder=encoder, grid=args.grid, sam_levels=args.sam_levels)
        label = weights_label(encoder)
    probabilities = predict_images(model, encoder, images, cache_dir=args.cache_dir, device=args.device,
                                   progress=not args.quiet)
    seen = trained_on(model, images)
    if seen:
        print(f"note: {seen} of the {len(images)} images were in this model's training split", file=sys.stderr)
    rows = prediction_rows(images.paths, probabilities, saved, label)
    if is_main():
        write_csv(Path(args.out) / "predictions.csv", rows)
    print(f"{args.model} on {len(rows)} image(s); encoder weights: {label}")
    width = max(len(r["path"]) for r in rows[:10])
    for r in rows[:10]:
        best = max((v for k, v in r.items() if k.startswith("p(")))
        print(f"{r['path']:<{width}}  {r['predicted']}  ({best:.2f})")
    if len(rows) > 10:
        print(f"... {len(rows) - 10} more")
    print(f"wrote {args.out}/predictions.csv")


def lowdata(args) -> None:
    check_writable(args.out)
    levels = levels_needed(args.models)
    out, config = Path(args.out), fit_config(args)
    splits = load_splits(args)
    if args.images:  # sizes in images: each the fraction whose stratified subset has exactly that many
        try:
            args.fractions = fractions_for(splits, images=args.images)
        except ValueError as e:
            raise ValueError(f"--images: {e}") from None
        sizes = zip(dict.fromkeys(args.images), args.fractions)
        print(f"training-set sizes: {', '.join(f'{n} images (fraction {f:g})' for n, f in sizes)} of the "
              f"{len(splits['train'])} training images")
    # before any worker starts: they find the regions cached; none when no model reads SAM (baseline, oracles)
    splits, encoder, regions = prepare(args, levels=levels, need_regions=bool(set(args.models) & set(USES_SAM)),
                                       splits=splits)
    setting = result_setting(config, splits, encoder)
    grid = dict(fractions=args.fractions, seeds=args.seeds, models=args.models)
    finished = lambda: finished_rows(read_csv(out / "results.csv"), setting=setting, **grid)  # noqa: E731
    total = len(args.fractions) * len(args.seeds) * len(set(args.models))
    run = partial(lowdata_grid, splits, regions, config=config, setting=setting, data=str(args.data), levels=levels,
                  results_path=out / "results.csv", **grid)
    if args.worker:  # one of --workers N: its share of the runs, then the parent summarizes
        return run(progress=False, share=args.worker)
    if not workers.side_by_side(args, run, count=lambda: len(finished()), total=total):
        run(progress=not args.quiet)
    if not is_main():
        return
    rows = finished()
    summary = summarize(rows)
    write_csv(out / "summary.csv", summary)
    print(f"encoder weights: {setting['weights']}")
    print(f"backbone weights: {setting['backbone_weights']}")
    print(f"test metrics by training images, mean +- std over {len(args.seeds)} seed(s) (all metrics in summary.csv); AUC "
          "vs baseline: paired difference over seeds [95% t-interval] (seeds won), * where the interval excludes 0")
    print(f"{'model':<16}{'images':>7}{'fraction':>10}{'AUC':>17}{'balanced acc':>17}   AUC vs baseline")
    for s in summary:
        versus = (f"{s['auc_vs_baseline']:+.3f} [{s['ci95_low']:+.3f}, {s['ci95_high']:+.3f}] ({s['seeds_won']}/{s['seeds']})"
                  + (" *" if excludes_zero(s) else "")) if "auc_vs_baseline" in s else ""
        means = "".join(f"{s[m + '_mean']:>9.3f} +- {s[m + '_std']:.3f}" for m in ("auc", "balanced_acc"))
        print(f"{s['model']:<16}{s['n_train']:>7}{s['fraction']:>10g}{means}   {versus}" + (f"  ({s['note']})" if "note" in s else ""))
    if len(args.seeds) == 1:
        print("one seed: no interval can be given; pass --seeds 0 1 2 ... for one")
    plot_lowdata(rows, metric="auc", title=f"{Path(args.data).name}: test AUC, mean ± std over {len(args.seeds)} seed(s); "
                                           f"encoder weights: {setting['weights']}\nbackbone weights: "
                                           f"{setting['backbone_weights']}", path=out / "auc_vs_fraction.png")
    print(f"wrote {out}/results.csv (rows added), summary.csv, auc_vs_fraction.png")
