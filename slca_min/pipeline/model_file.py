"""model.pt: a trained classifier that describes itself, and the checks that refuse a mismatch.

A saved model carries everything that decides whether it can be applied to some data with some
encoder: classes (number and names), backbone, gating, stages, grid, image size, and for SLCA the
SAM levels of each gate and the encoder's weights, model type, SAM input size, preprocessing and
precision. `check_model` compares them (not the precision: bf16 regions from a GPU differ from
fp32 ones by ~1e-5 in cosine) and names both values of the first that differs.
"""
from __future__ import annotations

import io
import re
import sys
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from ..backbones import SCRATCH
from ..classifier import SLCAClassifier, gated_positions
from ..data.split import image_ids
from ..sam.levels import check_levels
from ..utils.files import atomic_write

try:
    LIBRARY_VERSION = version("slca_min")
except PackageNotFoundError:  # run from a source tree without `pip install -e .`
    LIBRARY_VERSION = "unknown"


def describe_model(model: SLCAClassifier, *, config, class_names, encoder=None, multilabel: bool = False) -> dict:
    """Everything about `model` that a later command must match (encoder fields only where SLCA uses SAM)."""
    uses_sam = model.gate_type == "slca"
    return {"library": LIBRARY_VERSION, "num_classes": model.num_classes, "class_names": list(class_names),
            "task": "multi-label" if multilabel else "multi-class",
            "backbone": config.backbone, "backbone_weights": model.backbone_weights, "gate": model.gate_type, "stages": list(model.stages),
            "integrate": model.integrate, "sam_levels": list(model.sam_levels) if uses_sam else None,
            "grid": config.grid, "image_size": config.image_size,
            "weights": encoder.weights if uses_sam else None, "model_type": encoder.model_type if uses_sam else None,
            "sam_input": encoder.sam_input if uses_sam else None, "preprocess": encoder.preprocessing if uses_sam else None,
            "precision": encoder.precision if uses_sam else None,
            "checkpoint": encoder.source if uses_sam else None,  # evaluate and predict load it when no --checkpoint is given
            "config": asdict(config)}


def save_model(path: str | Path, model: SLCAClassifier, description: dict, train_images=None) -> None:
    """Serialize in memory, then write the bytes: a full disk is then an OSError naming `path`, not torch's
    RuntimeError from deep inside its zip writer. train_images: the training split's images, whose content
    hashes (split.image_ids) let evaluate and predict say when they score images the model was trained on."""
    buffer = io.BytesIO()
    ids = torch.from_numpy(image_ids(train_images)) if train_images is not None else torch.empty(0, dtype=torch.int64)
    torch.save({"description": description, "state_dict": model.state_dict(), "train_image_ids": ids}, buffer)
    with atomic_write(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_model(path: str | Path, device: str = "cpu") -> tuple[SLCAClassifier, dict]:
    """The model in `path` (written by save_model) and its description; a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model; write one with `python -m slca_min train`")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        d, state = saved["description"], saved["state_dict"]
        if d["gate"] == "slca" and not d.get("sam_levels"):  # written before levels existed: the neck, SAM's preprocessing
            d.update(sam_levels=["neck"] * len(d["stages"]), preprocess="sam")
            state = {k.replace("slca.", "slca.neck.", 1) if k.startswith("slca.") else k: v for k, v in state.items()}
        levels = check_levels(d["sam_levels"]) if d["gate"] == "slca" else ()  # what R holds
        model = SLCAClassifier(num_classes=d["num_classes"], backbone=d["backbone"], gate=d["gate"],
                               stages=d["stages"] or None, grid=d["grid"], integrate=d.get("integrate", "multiply"),
                               sam_levels=d.get("sam_levels") or ("neck",),
                               in_channels=[state[f"slca.{level}.squeeze.weight"].shape[1] for level in levels])
        model.load_state_dict(state)
        model.backbone_weights = d.get("backbone_weights") or (  # written before 0.4: from its config
            "ImageNet" if d.get("config", {}).get("pretrained_backbone") else SCRATCH)
        model.description = d  # what predict_images needs: image size, grid, task, encoder
        model.train_image_ids = set(saved.get("train_image_ids", torch.empty(0)).tolist())
        if d.get("library") != LIBRARY_VERSION:
            print(f"{path}: written by slca_min {d.get('library')}, this is {LIBRARY_VERSION}; it loads, but results "
                  "may differ from the ones it was trained with", file=sys.stderr)
    except Exception as e:
        raise ValueError(f"{path}: not a model.pt written by this version of `python -m slca_min train` "
                         f"({type(e).__name__}); train it again") from None
    return model.to(device).eval(), d


def trained_on(model: SLCAClassifier, images) -> int:
    """How many of `images` are images of the model's training split (by content): their scores are not held out."""
    return int(sum(i in model.train_image_ids for i in image_ids(images).tolist())) if model.train_image_ids else 0


def check_model(description: dict, path: str | Path, *, class_names=None, encoder=None, grid: int | None = None,
                sam_levels=None) -> None:
    """Refuse (ValueError naming both values) data, an encoder, a grid or SAM levels that differ from what the model
    was trained on (sam_levels as given to train: one per gated position, or one for all)."""
    wanted = {}
    if class_names is not None:
        wanted.update(num_classes=len(class_names), class_names=list(class_names))
    if description["gate"] == "slca":
        if encoder is not None:
            wanted.update(weights=encoder.weights, model_type=encoder.model_type, sam_input=encoder.sam_input,
                          preprocess=encoder.preprocessing)
        if grid is not None:
            wanted["grid"] = grid
        if sam_levels is not None:
            wanted["sam_levels"] = list(gated_positions("slca", None, sam_levels)[1])
    for key, value in wanted.items():
        if key == "weights" and _file_hash(description.get(key)) == _file_hash(value) is not None:
            continue  # the same file under another name or in another place
        if description.get(key) != value:
            fix = ("pass --checkpoint with the encoder it was trained with" if key in ("weights", "model_type")
                   else "use data and options that match the model")
            raise ValueError(f"{path} was trained with {key}={description.get(key)!r}, this run has {key}={value!r}; "
                             f"{fix} (or train a new one)")
    if description["gate"] == "slca" and encoder is not None and description.get("precision") != encoder.precision:
        print(f"note: {path} was trained on {description.get('precision')} regions, these are {encoder.precision}: "
              "scores may differ slightly from the model's own (benchmarks/README.md: region cosine per precision)",
              file=sys.stderr)


def _file_hash(label) -> str | None:
    """The 'sha256:12345678' of a weights label that names a file (files.file_weights), else None."""
    found = re.search(r"sha256:[0-9a-f]{8}", str(label))
    return found[0] if found else None
