"""Data: MedMNIST npz files, the ISIC 2017 folder layout, synthetic phantoms, and the training dataset.

Every loader returns {"train": Split, "val": Split, "test": Split}; a Split holds images (an
array or a lazy list of files, indexable, uint8 HxW or HxWx3) and labels (N,) int64.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .encoder import to_rgb
from .images import read_image

SPLITS = ("train", "val", "test")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ISIC_CLASSES = ("nevus", "melanoma", "seborrheic keratosis")


@dataclass
class Split:
    images: Sequence  # np.ndarray (N, H, W[, 3]) uint8, or ImageFiles
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...] = ()  # name of class 0, 1, ... (the same in every split of a data set)
    masks: np.ndarray | None = None  # (N, H, W) bool lesion masks, where the data set has them (phantoms)

    def __len__(self) -> int:
        return len(self.labels)

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


def fingerprint(images: Sequence) -> str:
    """sha256 of the images (the raw bytes of each file for ImageFiles), 16 hex digits."""
    digest = hashlib.sha256()
    for i in range(len(images)):
        if isinstance(images, ImageFiles):
            digest.update(images.paths[i].name.encode() + images.paths[i].read_bytes())
        else:
            image = np.ascontiguousarray(images[i])
            digest.update(f"{image.shape}{image.dtype}".encode() + image.tobytes())
    return digest.hexdigest()[:16]


def load_data(path: str | Path) -> dict[str, Split]:
    """A MedMNIST-format .npz file (phantoms included) or an ISIC folder written by download_isic2017.py."""
    path = Path(path)
    if path.is_dir():
        return load_isic(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: expected a MedMNIST .npz file or an ISIC folder; "
                         "see data_scripts/download_medmnist.py or make_phantoms.py")
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
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape not in ((len(images), 1), (len(images),)):
            raise ValueError(f"{path}: {split}_labels is {labels.dtype} {labels.shape}; expected integers of shape ({len(images)}, 1)")
        if len(images) == 0:
            raise ValueError(f"{path}: the {split} split is empty")
        if min(images.shape[1:3]) == 0:
            raise ValueError(f"{path}: {split}_images has shape {images.shape}; images must be at least 1x1 pixel")
        masks = arrays.get(f"{split}_masks")
        if masks is not None and masks.shape != images.shape[:3]:
            raise ValueError(f"{path}: {split}_masks is {masks.shape}; expected {images.shape[:3]} like {split}_images")
        splits[split] = Split(images, labels.reshape(-1).astype(np.int64), masks=None if masks is None else masks.astype(bool))
    names = tuple(str(n) for n in arrays["class_names"]) if "class_names" in arrays else ()
    return _finish(splits, path, names)


def load_isic(folder: str | Path) -> dict[str, Split]:
    """folder/{train,val,test}/labels.csv (image_id, label) beside the images (image_id.jpg)."""
    folder = Path(folder)
    splits = {}
    for split in SPLITS:
        table = folder / split / "labels.csv"
        if not table.is_file():
            raise FileNotFoundError(f"{table}: missing; write the folder with data_scripts/download_isic2017.py")
        rows = read_table(table, ("image_id", "label"))
        paths = [folder / split / f"{row['image_id']}.jpg" for row in rows]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{missing[0]}: listed in {table} but missing ({len(missing)} missing in all)")
        labels = []
        for line, row in enumerate(rows, start=2):
            if row["label"] not in {str(c) for c in range(len(ISIC_CLASSES))}:
                raise ValueError(f"{table}, line {line}: label {row['label']!r}; ISIC labels are 0..{len(ISIC_CLASSES) - 1} "
                                 f"({', '.join(ISIC_CLASSES)})")
            labels.append(int(row["label"]))
        labels = np.array(labels, dtype=np.int64)
        splits[split] = Split(ImageFiles(paths), labels)
    return _finish(splits, folder, ISIC_CLASSES)


def read_table(path: Path, columns: Sequence[str]) -> list[dict]:
    """Rows of a UTF-8 CSV (a byte-order mark is fine) that has `columns`; every row must fill them."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#x} at offset {e.start}); "
                         "save it as UTF-8") from None
    if not rows or not set(columns) <= rows[0].keys():
        raise ValueError(f"{path}: expected columns {','.join(columns)} and at least one row")
    for line, row in enumerate(rows, start=2):
        if any(not row.get(c) for c in columns):
            raise ValueError(f"{path}, line {line}: a value is missing (need {', '.join(columns)})")
    return rows


def num_classes(splits: dict[str, Split]) -> int:
    return int(splits["train"].labels.max()) + 1


def _finish(splits: dict[str, Split], path: Path, class_names: Sequence[str] = ()) -> dict[str, Split]:
    """Check the labels, then name the classes ("0", "1", ... when the data set has no names)."""
    _check_labels(splits, path)
    count = num_classes(splits)
    if class_names and len(class_names) != count:
        raise ValueError(f"{path}: {len(class_names)} class names for {count} classes")
    names = tuple(class_names) or tuple(str(c) for c in range(count))
    return {k: Split(v.images, v.labels, names, v.masks) for k, v in splits.items()}


def _check_labels(splits: dict[str, Split], path: Path) -> None:
    """Labels are 0..C-1 and every class occurs in train: a class that never trains cannot be learned or scored."""
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
    """Indices of a class-stratified random `fraction` of the items, at least one per class (sorted)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}: must be in (0, 1]")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, size=max(1, round(fraction * len(members))), replace=False))
    return np.sort(np.concatenate(chosen))


class RegionDataset(Dataset):
    """(image_tensor, regions, label) for training: image resized to image_size, grey to 3 channels,
    ImageNet-normalized; with augment=True, random flips applied to the image and its region map together.

    regions: (N, 256, g, g) array or tensor (fp16 from the cache is fine), or None for a
    baseline-only run (then an empty tensor stands in).
    """

    def __init__(self, images: Sequence, labels: np.ndarray, regions=None, *, image_size: int = 224, augment: bool = False):
        if regions is not None and len(regions) != len(labels):
            raise ValueError(f"regions: {len(regions)} region maps for {len(labels)} images")
        if torch.is_tensor(regions):
            regions = regions.cpu().numpy()
        self.images, self.labels, self.regions = images, np.asarray(labels, dtype=np.int64), regions
        self.image_size, self.augment = image_size, augment
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = torch.from_numpy(to_rgb(self.images[i], i)).permute(2, 0, 1).float() / 255  # (3, H, W)
        x = F.interpolate(x[None], size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                          align_corners=False)[0]
        x = (x - self.mean) / self.std
        R = torch.empty(0) if self.regions is None else torch.from_numpy(np.array(self.regions[i], dtype=np.float32))
        if self.augment:
            for dim, flip in zip((-1, -2), torch.rand(2) < 0.5):  # horizontal, vertical
                if flip:
                    x = x.flip(dim)
                    R = R.flip(dim) if R.numel() else R
        return x, R, int(self.labels[i])
