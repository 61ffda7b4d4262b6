"""The low-data comparison: every model on the same stratified subsets with the same seeds, side by side.

Models: "baseline" (the plain backbone), "se" and "cbam" (attention from the backbone's own
features: controls for any attention), "slca", "slca-shuffled" (SLCA fed the regions of another
image: does it use the image's own SAM features?), "probe-linear" and "probe-knn" (SAM's pooled
regions alone, no CNN), and on phantoms "probe-oracle" (a linear probe on the oracle's regions: do they
carry the label?) and "slca-oracle" (SLCA fed a perfect segmentation built from
the lesion masks, no SAM: does location-aware gating help at all when its input is ideal?), and
"slca-multilevel" (the paper's second reading: five SAM levels gating the stem and stages 1-4), and
"fusion" (late fusion, no gate: the mean-pooled regions concatenated to the CNN's pooled features before its
last layer: is gating the right way to use frozen features at all?), and on phantoms "oracle-crop" (the
plain backbone shown only a box around the true lesion at native resolution: the ceiling of what knowing
where to look can give, the positive control of the haystack study), and "slca-inside", "slca-outside" and
"probe-inside" (SAM's regions on the lesion's own cells only, on every cell but those, and a linear probe on
their mean over the lesion's cells: is what helps the lesion's content or the rest of the scene?), and
"slca-outside-swapped" (the lesion's cells filled with another image's regions at the same cells, an image whose
lesion touches none of them: the rest of the scene without the lesion's content or a hole that marks its place).
Results are rows in one CSV; a row carries every setting that can change it, rows are only ever
added, and a rerun skips what is already there with the same setting.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..backbones import weights_label as backbone_label
from ..data.haystack import CROP, oracle_crop
from ..data.loaders import Split, fraction_for_images, num_classes, stratified_fraction
from ..data.phantoms import oracle_regions
from ..data.split import data_id
from ..pipeline.model_file import LIBRARY_VERSION
from ..sam.encoder import SAMEncoder
from ..sam.levels import LEVELS, NECK, check_levels, select_levels
from ..train import METRICS, chance_warning, classification_metrics
from ..utils.distributed import is_main
from ..utils.files import read_csv
from ..sam.loading import weights_label
from .claims import claimed, record, same_setting
from .experiments import NO_SAM, FitConfig, fit
from .probes import knn_probe, linear_probe, pooled_features, standardize
from .stats import paired_difference

GATED = {"baseline": "none", "se": "se", "cbam": "cbam", "slca": "slca", "slca-shuffled": "slca", "slca-oracle": "slca",
         "slca-residual": "slca", "slca-oracle-residual": "slca", "slca-multilevel": "slca", "fusion": "fusion",
         "oracle-crop": "none", "slca-inside": "slca", "slca-outside": "slca", "slca-outside-swapped": "slca"}
PROBES = {"probe-linear": linear_probe, "probe-knn": knn_probe, "probe-oracle": linear_probe, "probe-inside": linear_probe}
MODELS = (*GATED, *PROBES)
LESION_CELLS = ("slca-inside", "slca-outside", "slca-outside-swapped", "probe-inside")  # cut by the lesion's cells
USES_SAM = ("slca", "slca-shuffled", "slca-residual", "slca-multilevel", "fusion", "probe-linear", "probe-knn",
            *LESION_CELLS)
ORACLE = ("slca-oracle", "slca-oracle-residual", "probe-oracle")  # fed the lesion masks' regions, no SAM


def integration(model: str) -> str:
    """How a model's SLCA gates the stages: "-residual" models use F*(1+A), the others the paper's F*A."""
    return "residual" if model.endswith("-residual") else "multiply"


def model_levels(model: str) -> tuple[str, ...]:
    """The SAM levels a model reads: all five for "slca-multilevel" (the stem and stages 1-4), else the neck."""
    return LEVELS if model == "slca-multilevel" else NECK


def levels_needed(models: Sequence[str]) -> tuple[str, ...]:
    """The levels to extract for `models`: one cache entry serves them all."""
    return check_levels({level for m in models if m in USES_SAM for level in model_levels(m)} or NECK)


ENCODER_KEYS = ("weights", "model_type", "sam_input", "preprocess", "precision")


def result_setting(config: FitConfig, splits: dict[str, Split], encoder: SAMEncoder) -> dict:
    """Everything that can change a result row: the fit settings (all of FitConfig but the device; the backbone's
    weights by their label), the data (a fingerprint of images and labels), the encoder and the library version."""
    fit_settings = {k: v for k, v in asdict(config).items() if k != "device"}
    fit_settings["backbone_weights"] = backbone_label(config.backbone, config.backbone_weights)
    return {**fit_settings, "data_id": data_id(splits), "weights": weights_label(encoder), "model_type": encoder.model_type,
            "sam_input": encoder.sam_input, "preprocess": encoder.preprocessing, "precision": encoder.precision,
            "library": LIBRARY_VERSION}


def model_setting(model: str, setting: dict) -> dict:
    """The part of `setting` that can change `model`'s result: a model without SAM does not depend on the encoder."""
    if model in USES_SAM:
        return {**setting, "sam_levels": "+".join(model_levels(model))}
    weights = "lesion masks (oracle, no SAM)" if model in (*ORACLE, "oracle-crop") else NO_SAM
    crop = {"image_size": CROP} if model == "oracle-crop" else {}  # it sees the crop at native resolution
    return {**{k: v for k, v in setting.items() if k not in ENCODER_KEYS}, "weights": weights, **crop}


def shuffled(regions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each split's regions under a fixed permutation with no fixed point: every image gets another image's regions."""
    out = {}
    for split, R in regions.items():
        order = np.random.default_rng(0).permutation(len(R))
        source = np.empty(len(R), dtype=int)
        source[order] = np.roll(order, 1)  # image order[i] gets the regions of order[i - 1]
        out[split] = np.asarray(R)[source]
    return out


def cut_by_lesion(model: str, regions: dict[str, np.ndarray], splits: dict[str, Split]) -> dict[str, np.ndarray]:
    """`model`'s input from SAM's regions and the lesion masks: the regions on the cells that touch the lesion (its
    mask or margin band: oracle_regions above zero) and zero elsewhere ("slca-inside"), zero on those cells
    ("slca-outside"), those cells taken from another image of the split whose lesion touches none of them
    ("slca-outside-swapped": no hole marks the place), or their mean over those cells, (N, C, 1, 1)
    ("probe-inside": pooled_features keeps it)."""
    _masks_needed(splits, model)
    out = {}
    for name, R in regions.items():
        R = np.asarray(R)
        cells = oracle_regions(splits[name].masks, R.shape[-1]).astype(np.float32).sum(1, keepdims=True) > 0  # (N, 1, g, g)
        if model == "probe-inside":
            count = np.maximum(cells.sum((2, 3), keepdims=True), 1)
            out[name] = (R * cells).sum((2, 3), keepdims=True, dtype=np.float32) / count
        elif model == "slca-outside-swapped":
            donors = lesion_free_donors(cells[:, 0])
            out[name] = np.where(cells, R[donors], R)
        else:  # in the regions' own dtype, as slca reads them
            out[name] = R * (cells if model == "slca-inside" else ~cells)
    return out


def lesion_free_donors(cells: np.ndarray) -> np.ndarray:
    """For each image, another of the split (a fixed draw, any label) whose lesion touches none of its lesion's
    cells, perhaps next to them; an image without lesion cells may draw itself (nothing replaced). cells: (N, g, g)"""
    rng, donors, flat = np.random.default_rng(0), np.empty(len(cells), dtype=int), cells.reshape(len(cells), -1)
    for i, shares in enumerate(flat.astype(np.float32) @ flat.T.astype(np.float32) > 0):  # (N, N): cells shared
        candidates = np.flatnonzero(~shares)
        if not len(candidates):
            raise ValueError("slca-outside-swapped: an image's lesion cells meet every other image's; no donor")
        donors[i] = rng.choice(candidates)
    return donors


def _masks_needed(splits: dict[str, Split], model: str) -> None:
    if any(split.masks is None for split in splits.values()):
        raise ValueError(f"--models {model} needs lesion masks (train_masks, val_masks, test_masks in the npz): "
                         "phantoms have them")


def oracle_inputs(splits: dict[str, Split], grid: int) -> dict[str, np.ndarray]:
    _masks_needed(splits, "slca-oracle")
    return {name: oracle_regions(split.masks, grid) for name, split in splits.items()}


def cropped(splits: dict[str, Split]) -> dict[str, Split]:
    """The oracle crop's data: every image cut to a CROP-pixel box around its lesion (same labels and order)."""
    _masks_needed(splits, "oracle-crop")
    return {name: Split(oracle_crop(s.images, s.masks, CROP), s.labels, s.class_names) for name, s in splits.items()}


def run_probe(name: str, splits: dict[str, Split], regions: dict[str, np.ndarray], indices: np.ndarray) -> tuple[dict, dict]:
    if splits["train"].multilabel:
        raise ValueError(f"--models {name}: probes are for single-label data; leave them out for multi-label sets")
    train_x, test_x = standardize(pooled_features(regions["train"][indices]), pooled_features(regions["test"]))
    labels = splits["train"].labels[indices]
    scores = PROBES[name](train_x, labels, test_x, num_classes(splits))
    n_params = train_x.shape[1] * scores.shape[1] + scores.shape[1] if PROBES[name] is linear_probe else 0
    return classification_metrics(splits["test"].labels, scores), {
        "n_params": n_params, "at_chance": chance_warning(splits["test"].labels, scores) is not None}


def lowdata(splits: dict[str, Split], regions: dict[str, np.ndarray], *, seeds: Sequence[int], config: FitConfig,
            setting: dict, data: str, fractions: Sequence[float] = (), images: Sequence[int] = (),
            models: Sequence[str] = ("baseline", "slca"),
            levels: Sequence[str] = NECK, results_path: str | Path | None = None, progress: bool = True,
            share: tuple[int, int] = (0, 1)) -> list[dict]:
    """Every model for every (fraction, seed) under `setting` (see result_setting): the rows of this setting.

    Training-set sizes: `images` (e.g. [9, 42, 420], each made a fraction by fractions_for) or `fractions`, not
    both; every row keeps its fraction (the key a rerun resumes by) and its image count, n_train.
    `regions` hold `levels` (at least levels_needed(models)); each model reads its own (model_levels).
    With `results_path`, rows are only ever added to that CSV (rows of other settings stay as
    they are), each one under the file's lock as soon as its run ends, and a rerun skips the
    (model, fraction, seed) already there with the same setting: interrupted grids resume,
    changed settings recompute, two runs into one folder keep every row.
    `share=(i, n)`: this process does the runs still to do among every n-th run of the grid, from the i-th: n
    workers side by side, each training whole runs (they must share `results_path`; `finished_rows` reads the
    rows of all of them).
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"--models: {', '.join(unknown)} unknown; choose from {', '.join(MODELS)}")
    fractions = fractions_for(splits, fractions=fractions, images=images)
    models, fractions, seeds = (_once(name, values) for name, values in
                                (("models", models), ("fractions", fractions), ("seeds", seeds)))
    all_rows = read_csv(results_path)
    done = {(r["model"], float(r["fraction"]), int(r["seed"])) for r in finished_rows(all_rows, models, setting)}
    grid = list(itertools.product(fractions, seeds, models))
    runs = [(f, s, m) for f, s, m in grid if (m, float(f), int(s)) not in done]
    if len(runs) < len(grid) and is_main() and share[0] == 0:
        print(f"{results_path}: {len(grid) - len(runs)} of the {len(grid)} runs are already there with this setting and "
              "are reused, not rerun (another --out, or deleting the file, reruns them)")
    if share[1] > 1:  # shared by position in the whole grid, so that a worker that starts late takes the same runs
        mine = set(grid[share[0]::share[1]])
        runs = [run for run in runs if run in mine]
    oracle = oracle_inputs(splits, config.grid) if set(ORACLE) & set(models) else None
    crops = cropped(splits) if "oracle-crop" in models else None
    by_level = {want: {split: select_levels(R, levels, want) for split, R in regions.items()}
                for want in {model_levels(m) for m in models if m in USES_SAM}}
    inputs = {**{m: by_level[model_levels(m)] for m in models if m in USES_SAM}, **dict.fromkeys(ORACLE, oracle)}
    if "slca-shuffled" in models:
        inputs["slca-shuffled"] = shuffled(inputs["slca-shuffled"])
    for model in set(LESION_CELLS) & set(models):
        inputs[model] = cut_by_lesion(model, inputs[model], splits)
    to_train = claimed(runs, results_path if is_main() else None, setting_of=lambda m: model_setting(m, setting))
    for i, (fraction, seed, model) in enumerate(to_train, start=1):  # claimed first: two grids never train a run twice
        indices = stratified_fraction(splits["train"].labels, fraction, seed)
        if model in PROBES:
            metrics, extra = run_probe(model, splits, inputs[model], indices)
        else:
            crop = model == "oracle-crop"
            net, history, metrics = fit(crops if crop else splits, inputs.get(model), gate=GATED[model],
                                        integrate=integration(model), sam_levels=model_levels(model),
                                        config=replace(config, image_size=CROP) if crop else config,
                                        fraction=fraction, seed=seed,
                                        progress=progress,
                                        desc=f"[{i}/{len(runs)}] {model}, fraction {fraction}, seed {seed}")
            best = [h for h in history if h["best"]][-1]  # the epoch whose weights were restored
            extra = {"n_params": sum(p.numel() for p in net.parameters()), "best_epoch": best["epoch"],
                     "val_auc": best["val_auc"], "at_chance": metrics["at_chance"]}
        row = {"model": model, "fraction": fraction, "seed": seed, "n_train": len(indices),
               **{k: metrics[k] for k in METRICS}, **extra, "data": data, **model_setting(model, setting)}
        # under the CSV's lock, re-read first: rows another lowdata run added meanwhile stay
        all_rows = record(results_path, row) if results_path and is_main() else [*all_rows, row]
    return finished_rows(read_csv(results_path) if results_path and is_main() else all_rows, models, setting,
                         fractions=fractions, seeds=seeds)


def fractions_for(splits: dict[str, Split], *, fractions: Sequence[float] = (), images: Sequence[int] = ()) -> list[float]:
    """Training-set sizes as fractions of the train split: `fractions` as they are, or each of `images` as the
    fraction whose stratified subset holds exactly that many images (fraction_for_images); exactly one of the two."""
    if bool(len(fractions)) == bool(len(images)):
        raise ValueError("give the training-set sizes as images=[...] or as fractions=[...], one of the two")
    if len(fractions):
        return [float(f) for f in fractions]
    return [fraction_for_images(splits["train"].labels, n) for n in _once("images", [int(n) for n in images])]


def finished_rows(rows: Sequence[dict], models: Sequence[str], setting: dict, *, fractions: Sequence[float] | None = None,
                  seeds: Sequence[int] | None = None) -> list[dict]:
    """The rows (e.g. read_csv's) of `models` made with `setting`, within `fractions` and `seeds` when given, with
    their numbers as numbers."""
    rows = [dict(r) for r in rows if r["model"] in models and same_setting(r, model_setting(r["model"], setting))]
    for r in rows:  # CSV text -> numbers
        r.update(fraction=float(r["fraction"]), seed=int(r["seed"]), **{m: float(r[m]) for m in METRICS})
    return [r for r in rows if (fractions is None or r["fraction"] in map(float, fractions))
            and (seeds is None or r["seed"] in map(int, seeds))]


def _once(name: str, values: Sequence) -> list:
    """`values` without repeats (each run once, each row once), with a line saying so when there were any."""
    unique = list(dict.fromkeys(values))
    if len(unique) < len(values) and is_main():
        print(f"--{name}: repeated values are run once ({', '.join(map(str, unique))})")
    return unique


def images_of(rows: Sequence[dict]) -> int | str:
    """The training images of rows of one size (their n_train): one count, since stratified_fraction gives every
    seed as many images for single-label data; "min-max" where multi-label subsets differ (each adds an image per
    label its draw misses); "" where rows do not say."""
    counts = sorted({int(r["n_train"]) for r in rows if r.get("n_train") not in (None, "")})
    return "" if not counts else counts[0] if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def summarize(rows: Sequence[dict], metric: str = "auc") -> list[dict]:
    """Per (model, fraction): its training images (n_train, images_of: one count for single-label data), mean and
    std over seeds of every metric, and the paired difference of `metric` to the baseline over the seeds both have
    (mean, 95% t-interval, seeds won)."""
    keys = sorted({(r["model"], float(r["fraction"])) for r in rows}, key=lambda k: (k[1], MODELS.index(k[0])))
    summary = []
    for model, fraction in keys:
        group = {int(r["seed"]): r for r in rows if r["model"] == model and float(r["fraction"]) == fraction}
        row = {"model": model, "fraction": fraction, "seeds": len(group), "n_train": images_of(list(group.values()))}
        for m in METRICS:
            values = np.array([float(r[m]) for r in group.values()])
            row[f"{m}_mean"], row[f"{m}_std"] = float(values.mean()), float(values.std())
        base = {int(r["seed"]): r for r in rows if r["model"] == "baseline" and float(r["fraction"]) == fraction}
        paired = sorted(set(group) & set(base))
        if model != "baseline" and paired:
            d = paired_difference([float(group[s][metric]) for s in paired], [float(base[s][metric]) for s in paired])
            row.update({f"{metric}_vs_baseline": d["diff_mean"], "ci95_low": d["ci_low"], "ci95_high": d["ci_high"],
                        "seeds_won": d["won"]})
        if any(str(r.get("at_chance", r.get("single_class"))) == "True" for r in group.values()):
            row["note"] = "at chance in some seeds (one class predicted, or balanced accuracy within chance)"
        row["weights"] = next(iter(group.values()))["weights"]
        summary.append(row)
    return summary


def excludes_zero(row: dict) -> bool:
    low, high = row.get("ci95_low", math.nan), row.get("ci95_high", math.nan)
    return not (math.isnan(low) or math.isnan(high)) and (low > 0 or high < 0)
