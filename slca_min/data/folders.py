"""Data sets of image files: the ISIC 2017 layout, a folder of class folders, and a CSV of path,label[,split].

Class folders: root/<class>/*.png|jpg|jpeg|tif|tiff|bmp|dcm, optionally under root/train/,
root/val/, root/test/. CSV: columns path,label and optionally split (train/val/test); paths
relative to the CSV; labels are class names or integers 0..C-1. Without split folders or a split
column, the images are split once, stratified, with a fixed seed (70/10/20 by default), and the
split is recorded beside the data (`slca_split.csv` in the folder, `NAME.slca_split.csv` beside a
CSV) so that every later command sees the same split: a recorded image keeps its split, and
images added later are dealt into the splits without moving the others. Classes are ordered by
number when every name is an integer (0, 2, 10), else alphabetically.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..utils.files import read_csv, write_csv
from .images import IMAGE_SUFFIXES
from .split import SPLITS, ImageFiles, Split, finish_splits

ISIC_CLASSES = ("nevus", "melanoma", "seborrheic keratosis")
SUFFIXES = (*IMAGE_SUFFIXES, ".dcm")


def read_table(path: Path, columns: Sequence[str]) -> list[dict]:
    """Rows of a UTF-8 CSV (a byte-order mark is fine) that has `columns`; every row must fill them."""
    try:
        rows = read_csv(path)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#x} at offset {e.start}); "
                         "save it as UTF-8") from None
    if not rows or not set(columns) <= rows[0].keys():
        raise ValueError(f"{path}: expected columns {','.join(columns)} and at least one row")
    for line, row in enumerate(rows, start=2):
        if any(not row.get(c) for c in columns):
            raise ValueError(f"{path}, line {line}: a value is missing (need {', '.join(columns)})")
    return rows


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
        _check_files(paths, table)
        for line, row in enumerate(rows, start=2):
            if row["label"] not in {str(c) for c in range(len(ISIC_CLASSES))}:
                raise ValueError(f"{table}, line {line}: label {row['label']!r}; ISIC labels are 0..{len(ISIC_CLASSES) - 1} "
                                 f"({', '.join(ISIC_CLASSES)})")
        splits[split] = Split(ImageFiles(paths), np.array([int(row["label"]) for row in rows], dtype=np.int64))
    return finish_splits(splits, folder, ISIC_CLASSES)


def load_folder(root: str | Path, *, split: tuple[float, float, float] = (0.7, 0.1, 0.2), seed: int = 0) -> dict[str, Split]:
    """root/<class>/<image> (classes: the sub-folder names, sorted), or the same under root/{train,val,test}/."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    present = [s for s in SPLITS if (root / s).is_dir()]
    if present and len(present) < len(SPLITS):
        raise ValueError(f"{root}: has {'/, '.join(present)}/ but not {'/, '.join(s for s in SPLITS if s not in present)}/; "
                         "give all of train/, val/, test/, or none (class folders at the top are split for you)")
    if present:
        items = {s: _class_folder_items(root / s) for s in SPLITS}
        names = class_order({label for rows in items.values() for _, label in rows})
        return _to_splits({s: [(p, label, s) for p, label in rows] for s, rows in items.items()}, names, root)
    rows = _class_folder_items(root)
    names = class_order({label for _, label in rows})
    return _to_splits(_assign(rows, root / "slca_split.csv", split, seed, base=root), names, root)


def load_csv(table: str | Path, *, split: tuple[float, float, float] = (0.7, 0.1, 0.2), seed: int = 0) -> dict[str, Split]:
    """A CSV of path,label[,split]; paths relative to the CSV, labels class names or integers 0..C-1."""
    table = Path(table)
    if not table.is_file():
        raise FileNotFoundError(f"{table}: no such file")
    rows = _checked_rows(table, ("path", "label"))
    paths = [table.parent / row["path"] for row in rows]
    _check_files(paths, table)
    labels = [row["label"].strip() for row in rows]
    names = class_order(labels)
    if "split" in rows[0]:
        assigned = {s: [(p, label, s) for p, label, row in zip(paths, labels, rows) if row["split"] == s] for s in SPLITS}
    else:
        recorded = table.with_name(table.stem + ".slca_split.csv")
        assigned = _assign(list(zip(paths, labels)), recorded, split, seed, base=table.parent)
    if all(name.isdigit() for name in names) and names != [str(c) for c in range(len(names))]:
        raise ValueError(f"{table}: integer labels must be 0..C-1 with every class present; found {', '.join(names)}")
    return _to_splits(assigned, names, table)


def class_order(names) -> list[str]:
    """Class names in class-index order: by number when every name is an integer (0, 2, 10), else alphabetical."""
    names = set(names)
    return sorted(names, key=int) if all(name.isdigit() for name in names) else sorted(names)


def _class_folder_items(folder: Path) -> list[tuple[Path, str]]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{folder}: no class folders; expected {folder}/<class>/<image files>")
    rows = []
    for c in classes:
        files = sorted(p for p in c.iterdir() if p.is_file() and not p.name.startswith("."))
        unknown = [p for p in files if p.suffix.lower() not in SUFFIXES]
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown image type; supported: {', '.join(SUFFIXES)}")
        if not files:
            raise ValueError(f"{c}: empty class folder; add images or remove it")
        rows += [(p, c.name) for p in files]
    return rows


def _assign(rows: list[tuple[Path, str]], recorded: Path, split, seed: int, base: Path) -> dict[str, list]:
    """Split (path, label) rows stratified by label, recorded in `recorded`. An image already recorded keeps its split
    (with its current label); only new images are dealt, so a model's training images never move to val or test."""
    key = {os.path.relpath(p, base): label for p, label in rows}  # "../x.png" for a file outside the CSV's folder
    saved = {r["path"]: r for r in _checked_rows(recorded, ("path", "label", "split"))} if recorded.is_file() else {}
    kept = {k: saved[k]["split"] for k in key if k in saved}
    new = [k for k in key if k not in kept]
    if new or len(kept) < len(saved) or any(saved[k]["label"] != key[k] for k in kept):
        if len(split) != 3 or abs(sum(split) - 1) > 1e-6 or min(split) <= 0:
            raise ValueError(f"split={split}: three positive fractions (train, val, test) that sum to 1")
        rng, chosen = np.random.default_rng(seed), dict(kept)
        for label in sorted({key[k] for k in new}):
            members = rng.permutation([k for k in new if key[k] == label])
            first = not any(key[k] == label for k in kept)  # a class of its own needs an image in every split
            if first and len(members) < 3:
                raise ValueError(f"class {label!r} has {len(members)} image(s); at least 3 are needed for train, val and test")
            n_val, n_test = (max(int(first), round(f * len(members))) for f in split[1:])
            for i, k in enumerate(members):
                chosen[k] = "val" if i < n_val else "test" if i < n_val + n_test else "train"
        write_csv(recorded, [{"path": k, "label": key[k], "split": chosen[k]} for k in sorted(key)])
        counts = {s: sum(v == s for v in chosen.values()) for s in SPLITS}
        change = f"; {len(new)} new image(s) dealt, {len(kept)} kept in their splits, {len(saved) - len(kept)} gone" if saved else ""
        print(f"{recorded}: split recorded (train {counts['train']}, val {counts['val']}, test {counts['test']}){change}")
        kept = chosen
    return {s: [(base / k, key[k], s) for k in sorted(key) if kept[k] == s] for s in SPLITS}


def _checked_rows(table: Path, columns: Sequence[str]) -> list[dict]:
    """The rows of a CSV, refusing a file listed twice (in two splits it would leak) or an unknown split name."""
    rows, first = read_table(table, columns), {}
    for line, row in enumerate(rows, start=2):
        if row["path"] in first:
            raise ValueError(f"{table}, line {line}: {row['path']} is listed again (first on line {first[row['path']]}); "
                             "list each file once")
        first[row["path"]] = line
        if "split" in row and row["split"] not in SPLITS:
            raise ValueError(f"{table}, line {line}: split {row['split']!r}; use train, val or test")
    return rows


def _to_splits(assigned: dict[str, list], names: Sequence[str], source: Path) -> dict[str, Split]:
    index = {name: i for i, name in enumerate(names)}
    splits = {}
    for s in SPLITS:
        if not assigned[s]:
            raise ValueError(f"{source}: the {s} split is empty")
        unknown = sorted({label for _, label, _ in assigned[s]} - index.keys())
        if unknown:
            raise ValueError(f"{source}: {s} has class {unknown[0]!r}, which train does not have")
        splits[s] = Split(ImageFiles([p for p, _, _ in assigned[s]]),
                          np.array([index[label] for _, label, _ in assigned[s]], dtype=np.int64))
    return finish_splits(splits, source, names)


def _check_files(paths: Sequence[Path], table: Path) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: listed in {table} but missing ({len(missing)} missing in all)")
