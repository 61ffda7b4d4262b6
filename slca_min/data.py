"""Data sets: the Split, the loader for every source (`load_data`), MedMNIST npz files, label checks, subsets.

Every loader returns {"train": Split, "val": Split, "test": Split}; a Split holds images (an
array or a lazy list of files, indexable, uint8 HxW or HxWx3), labels ((N,) int64 class
indices, or (N, L) 0/1 for multi-label data such as ChestMNIST) and the class names.
""" 
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from .images import read_image
from .medmnist_info import MEDMNIST, flag_of

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    images: Sequence  # np.ndarray (N, H, W[, 3]) uint8, or ImageFiles
    labels: np.ndarray  # (N,) int64 class indices, or (N, L) 0/1 for multi-label data
    class_names: tuple[str, ...] = ()  # name of class 0, 1, ... (the same in every split of a data set)
    masks: np.ndarray | None = None  # (N, H, W) bool lesion masks, where the data set has them (phantoms)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the images and labels, 16 hex digits: which data a result came from."""
        return hashlib.sha256(fingerprint(self.images).encode() + self.labels.tobytes()).hexdigest()[:16]

    def subset(self, indices: np.ndarray) -> Split:
        images = self.images[indices] if isinstance(self.images, np.ndarray) else ImageFiles([self.images.paths[i] for i in indices])
        masks = None if self.masks is None else self.masks[indices]
        return Split(images, self.labels[indices], self.class_names, masks)


class ImageFiles:
    """A list of image files read on access: data sets of large images need not fit in memory."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_image(self.paths[i])

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of each file's name and raw bytes, 16 hex digits; read once, however often it is asked for."""
        digest = hashlib.sha256()
        for path in self.paths:
            digest.update(path.name.encode() + path.read_bytes())
        return digest.hexdigest()[:16]


def fingerprint(images: Sequence) -> str:
    """sha256 of the images (the raw bytes of each file for ImageFiles), 16 hex digits."""
    if isinstance(images, ImageFiles):
        return images.fingerprint
    digest = hashlib.sha256()
    for i in range(len(images)):
        image = np.ascontiguousarray(images[i])
        digest.update(f"{image.shape}{image.dtype}".encode() + image.tobytes())
    return digest.hexdigest()[:16]


def load_data(path: str | Path, *, split: tuple[float, float, float] = (0.7, 0.1, 0.2), seed: int = 0) -> dict[str, Split]:
    """Any supported data set: a MedMNIST-format .npz (phantoms included), an ISIC folder written by
    download_isic2017.py, a folder of class folders (optionally under train/ val/ test/), or a CSV of
    path,label[,split]. Folders and CSVs without splits are split by `split` (stratified, `seed`)."""
    from .folders import load_csv, load_folder, load_isic  # folders.py builds on this module

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


def num_classes(splits: dict[str, Split]) -> int:
    """Outputs of a model for these splits: classes, or labels for multi-label data."""
    labels = splits["train"].labels
    return labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1


def finish_splits(splits: dict[str, Split], path: Path, class_names: Sequence[str] = ()) -> dict[str, Split]:
    """Check the labels, then name the classes ("0", "1", ... when the data set has no names)."""
    check_labels(splits, path)
    count = num_classes(splits)
    if class_names and len(class_names) != count:
        raise ValueError(f"{path}: {len(class_names)} class names for {count} classes")
    names = tuple(class_names) or tuple(str(c) for c in range(count))
    return {k: Split(v.images, v.labels, names, v.masks) for k, v in splits.items()}


def check_labels(splits: dict[str, Split], path: Path) -> None:
    """Labels are 0..C-1 and every class occurs in train: a class that never trains cannot be learned or scored.
    Multi-label: 0/1 values, the same number of labels in every split, every label positive somewhere in train."""
    if splits["train"].multilabel:
        width = splits["train"].labels.shape[1]
        for name, split in splits.items():
            if split.labels.ndim != 2 or split.labels.shape[1] != width or not np.isin(split.labels, (0, 1)).all():
                raise ValueError(f"{path}: {name} labels must be 0/1 of shape (N, {width}) like train's")
        absent = np.flatnonzero(splits["train"].labels.sum(0) == 0)
        if len(absent):
            raise ValueError(f"{path}: label {absent[0]} is never positive in the train split; it cannot be learned")
        return
    for name, split in splits.items():
        if split.labels.min() < 0:
            raise ValueError(f"{path}: {name} labels include {split.labels.min()}; labels must be 0..C-1")
    counts = np.bincount(splits["train"].labels) if splits["train"].labels.max() < 10_000 else None
    if counts is None or (counts == 0).any():
        absent = "labels up to " + str(splits["train"].labels.max()) if counts is None else \
            f"class {np.flatnonzero(counts == 0)[0]} of 0..{len(counts) - 1}"
        raise ValueError(f"{path}: the train split has no example of {absent}; labels must be 0..C-1 with every "
                         "class in train (renumber the labels)")
    if len(counts) < 2:
        raise ValueError(f"{path}: every train label is {splits['train'].labels[0]}; a classifier needs at least 2 classes")
    for name in ("val", "test"):
        unseen = sorted(set(splits[name].labels.tolist()) - set(range(len(counts))))
        if unseen:
            raise ValueError(f"{path}: {name} has label {unseen[0]}, which never occurs in train; labels out of range")


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
