"""Applying a trained model to new images: probabilities per class, from Python or `python -m slca_min predict`."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.dataset import RegionDataset
from ..data.folders import SUFFIXES
from ..data.loaders import fingerprint
from ..data.split import image_name
from ..sam.encoder import SAMEncoder
from ..sam.preprocessing import ImageError
from ..train import predict
from .cache import cache_key, extract
from .model_file import check_model


def predict_images(model, encoder: SAMEncoder | None, images: Sequence, *, regions: np.ndarray | None = None,
                   cache_dir: str | Path | None = None, batch_size: int = 64, device: str = "cpu",
                   progress: bool = False) -> np.ndarray:
    """Probabilities (N, C) of a model from `load_model` for `images` (arrays, PIL images or ImageFiles).

    Softmax over the classes, or a sigmoid per label for a multi-label model. SLCA models need
    the encoder they were trained with (refused otherwise) unless `regions` are given. With `cache_dir` the
    regions go through the feature cache (cache_dir/predict-IMAGES-ENCODER.npy: a rerun on the same images reuses
    them, an interrupted one resumes); without it they are computed and kept in memory.
    """
    d = model.description
    if d["gate"] == "slca" and regions is None:
        if encoder is None:
            raise ValueError("predict_images: this SLCA model needs its SAM encoder (or regions=)")
        check_model(d, "the model", encoder=encoder)
        grid, levels = d["grid"], model.region_levels
        try:
            if cache_dir is None:
                regions = encoder.regions(images, grid=grid, levels=levels)
            else:
                cache = Path(cache_dir) / f"predict-{fingerprint(images)}-{cache_key(encoder, grid, levels)}.npy"
                regions = extract(images, encoder, cache, grid=grid, levels=levels, progress=progress, desc="regions")
        except ImageError as e:
            raise ValueError(f"{image_name(images, e.index)}: {e.problem}") from None
    width = d["num_classes"]
    labels = np.zeros((len(images), width), np.int64) if d.get("task") == "multi-label" else np.zeros(len(images), np.int64)
    dataset = RegionDataset(images, labels, regions if d["gate"] == "slca" else None, image_size=d["image_size"])
    return predict(model, dataset, batch_size=batch_size, device=device)[0]


def image_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, and every supported image under each folder (sorted); a clear error for anything else."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise ValueError(f"{p}: unknown image type; supported: {', '.join(SUFFIXES)}")
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if not found:
        raise ValueError(f"--images {' '.join(map(str, paths))}: no image files found")
    return found


def prediction_rows(paths: Sequence[Path], probabilities: np.ndarray, description: dict, weights: str) -> list[dict]:
    """One row per image: path, the predicted class (multi-label: every label over 0.5), a probability per class."""
    names = description["class_names"]
    rows = []
    for path, p in zip(paths, probabilities):
        predicted = ("; ".join(n for n, q in zip(names, p) if q > 0.5) if description.get("task") == "multi-label"
                     else names[int(p.argmax())])
        rows.append({"path": str(path), "predicted": predicted, **{f"p({n})": float(q) for n, q in zip(names, p)},
                     "weights": weights, "backbone_weights": description.get("backbone_weights", "")})
    return rows
