"""The Split: one part (train, val or test) of a data set, what every loader returns, and its checks.

A Split holds images (an array or a lazy list of files, indexable, uint8 HxW or HxWx3), labels
((N,) int64 class indices, or (N, L) 0/1 for multi-label data such as ChestMNIST) and the class
names. Its own module so that the loaders (loaders.py, folders.py) import it and not each other.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from ..sam.preprocessing import to_rgb
from .images import read_image

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


def image_name(images: Sequence, i: int) -> str:
    """How an error names image i: its file, or its place in the array."""
    return str(images.paths[i]) if isinstance(images, ImageFiles) else f"image {i}"


def image_ids(images: Sequence) -> np.ndarray:
    """A 64-bit content hash per image, of its decoded pixels as RGB: finds the same image in another split or another
    form (an array row, the PNG it was saved as, a grey PNG or an RGB one), whatever its name."""
    return np.array([int.from_bytes(hashlib.sha256(array_bytes(to_rgb(images[i], i))).digest()[:8], "little", signed=True)
                     for i in range(len(images))], dtype=np.int64)


def fingerprint(images: Sequence) -> str:
    """sha256 of the images (the raw bytes of each file for ImageFiles), 16 hex digits."""
    if isinstance(images, ImageFiles):
        return images.fingerprint
    digest = hashlib.sha256()
    for i in range(len(images)):
        digest.update(array_bytes(images[i]))
    return digest.hexdigest()[:16]


def array_bytes(image) -> bytes:
    """An image array as bytes that also say its shape and dtype: what the content hashes above are taken of."""
    image = np.ascontiguousarray(image)
    return f"{image.shape}{image.dtype}".encode() + image.tobytes()


def data_id(splits: dict[str, Split]) -> str:
    """sha256 over every split's images and labels, 16 hex digits: which data a result or a cache entry came from."""
    return hashlib.sha256("".join(s.fingerprint for s in splits.values()).encode()).hexdigest()[:16]


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
