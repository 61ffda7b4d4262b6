"""Data sets: the loader for every source (`load_data`), MedMNIST npz files, stratified subsets.

Every loader returns {"train": Split, "val": Split, "test": Split} (split.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .folders import load_csv, load_folder, load_isic
from .medmnist_info import MEDMNIST, flag_of
from .split import (  # noqa: F401 (re-exported)
    SPLITS,
    ImageFiles,
    Split,
    check_labels,
    fingerprint,
    finish_splits,
    num_classes,
)


def load_data(path: str | Path, *, split: tuple[float, float, float] = (0.7, 0.1, 0.2), seed: int = 0) -> dict[str, Split]:
    """Any supported data set: a MedMNIST-format .npz (phantoms included), an ISIC folder written by
    download_isic2017.py, a folder of class folders (optionally under train/ val/ test/), or a CSV of
    path,label[,split]. Folders and CSVs without splits are split by `split` (stratified, `seed`)."""

    path = Path(path)
    if path.is_dir():
        return load_isic(path) if (path / "train" / "labels.csv").is_file() else load_folder(path, split=split, seed=seed)
    if path.suffix.lower() == ".csv":
        return load_csv(path, split=split, seed=seed)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: expected a MedMNIST .npz file, an image folder or a CSV of path,label; "
                         "see the README's \"Your own data\"")
    return load_medmnist(path)


def load_medmnist(path: str | Path) -> dict[str, Split]:
    """The official MedMNIST npz format (any flag, any size, grey or RGB), checked key by key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; get one with data_scripts/download_medmnist.py "
                                "or data_scripts/make_phantoms.py")
    try:
        npz = np.load(path)
        arrays = {k: npz[k] for k in npz.files}
    except Exception as e:
        raise ValueError(f"{path}: cannot be read as an npz file ({type(e).__name__}); download it again") from None
    splits = {}
    for split in SPLITS:
        for key in (f"{split}_images", f"{split}_labels"):
            if key not in arrays:
                raise ValueError(f"{path}: missing key {key!r} (has {', '.join(sorted(arrays))}); not a MedMNIST file")
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or not (images.ndim == 3 or images.ndim == 4 and images.shape[3] == 3):
            raise ValueError(f"{path}: {split}_images is {images.dtype} {images.shape}; expected uint8 (N, H, W) or (N, H, W, 3)")
        if not np.issubdtype(labels.dtype, np.integer) or labels.ndim not in (1, 2) or len(labels) != len(images):
            raise ValueError(f"{path}: {split}_labels is {labels.dtype} {labels.shape}; expected integers of shape "
                             f"({len(images)}, 1), or ({len(images)}, L) for multi-label data")
        if len(images) == 0:
            raise ValueError(f"{path}: the {split} split is empty")
        if min(images.shape[1:3]) == 0:
            raise ValueError(f"{path}: {split}_images has shape {images.shape}; images must be at least 1x1 pixel")
        masks = arrays.get(f"{split}_masks")
        if masks is not None and masks.shape != images.shape[:3]:
            raise ValueError(f"{path}: {split}_masks is {masks.shape}; expected {images.shape[:3]} like {split}_images")
        labels = labels.reshape(-1) if labels.ndim == 1 or labels.shape[1] == 1 else labels  # (N,) or (N, L)
        splits[split] = Split(images, labels.astype(np.int64), masks=None if masks is None else masks.astype(bool))
    flag = flag_of(path)
    names = (tuple(str(n) for n in arrays["class_names"]) if "class_names" in arrays
             else MEDMNIST[flag][1] if flag else ())
    return finish_splits(splits, path, names)


def stratified_fraction(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified random `fraction` of the items, at least one per class (sorted).
    For multi-label (N, L) labels: a random fraction that keeps every label present."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}: must be in (0, 1]")
    rng = np.random.default_rng(seed)
    if labels.ndim == 2:  # multi-label: a random fraction, plus one positive of every label it misses
        chosen = set(rng.permutation(len(labels))[:max(1, round(fraction * len(labels)))].tolist())
        for j in range(labels.shape[1]):
            positives = np.flatnonzero(labels[:, j])
            if len(positives) and not chosen & set(positives.tolist()):
                chosen.add(int(rng.choice(positives)))
        return np.array(sorted(chosen))
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, size=max(1, round(fraction * len(members))), replace=False))
    return np.sort(np.concatenate(chosen))


def subset_size(labels: np.ndarray, fraction: float) -> int:
    """How many images stratified_fraction(labels, fraction, seed) picks, for every seed: max(1, round(fraction * n_c))
    per class. Multi-label: the random draw's size; the subset adds one image per label the draw misses."""
    if labels.ndim == 2:
        return max(1, round(fraction * len(labels)))
    return sum(max(1, round(fraction * int(n))) for n in np.unique(labels, return_counts=True)[1])


def fraction_for_images(labels: np.ndarray, n: int) -> float:
    """The fraction whose stratified subset (stratified_fraction) holds exactly `n` images, with the fewest decimals
    (42 of 210 + 210 images: 0.1, so that sizes asked in images and in fractions share rows). Raises ValueError
    naming the nearest counts these labels allow when no fraction gives `n` (two balanced classes: even counts).
    Multi-label (N, L) labels: the random draw has `n` images; the subset adds one per label the draw misses."""
    counts = np.unique(labels, return_counts=True)[1] if labels.ndim == 1 else np.array([len(labels)])
    # the size only changes where some class's f * n_c crosses k + 0.5: one f inside each interval between those
    # points gives every size there is
    edges = np.unique(np.concatenate([[0.0, 1.0], *((np.arange(c) + 0.5) / c for c in counts)]))
    edges = edges[edges <= 1]
    sizes = np.maximum(1, np.round((edges[:-1] + edges[1:])[:, None] / 2 * counts)).sum(1).astype(int)  # (intervals,)
    found = {}  # size -> (lowest, highest) f of the intervals that give it
    for size, low, high in zip(sizes.tolist(), edges[:-1], edges[1:]):
        found[size] = (found.get(size, (low, high))[0], high)
    if n not in found:
        below, above = max((s for s in found if s < n), default=None), min((s for s in found if s > n), default=None)
        nearest = " or ".join(str(s) for s in (below, above) if s is not None)
        raise ValueError(f"no class-stratified subset of these {len(labels)} training images has exactly {n} "
                         f"(each class gives max(1, round(fraction * its count))); nearest sizes: {nearest}")
    low, high = found[n]
    for digits in range(1, 17):  # the shortest decimal that gives n: 0.1 rather than 0.0999
        step = 10.0 ** -digits
        for k in range(int(low / step), int(high / step) + 2):
            fraction = round(k * step, digits)
            if 0 < fraction <= 1 and subset_size(labels, fraction) == n:
                return fraction
    return (low + high) / 2
