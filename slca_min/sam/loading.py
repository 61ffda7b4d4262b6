"""Which encoder a run uses, and how its weights are named wherever a number it produced is reported.

Every command, notebook and saved model goes through `load_encoder` (a checkpoint, SAM ViT-B where it is
downloaded, or the miniature) and labels results with `weights_label`, so that output from random or
stand-in weights can never pass for SAM's.
"""
from __future__ import annotations

import re
from pathlib import Path

from .encoder import SAMEncoder
from .miniature import miniature_checkpoint
from .precision import INT8_BF16_ATTENTION, requested

DEFAULT_CHECKPOINT = Path("checkpoints/sam_vit_b_01ec64.pth")


def load_encoder(checkpoint: str | Path | None = None, *, sam_input: int | None = None,
                 device: str = "cpu", precision: str = "fp32", preprocess: str = "sam", attention: str = "auto",
                 compile: bool = False) -> SAMEncoder:
    """The checkpoint given; else SAM ViT-B at checkpoints/sam_vit_b_01ec64.pth; else the miniature (built on
    first use). checkpoint="untrained": the untrained tiny encoder (random weights, labelled as such);
    "miniature": the miniature. `encoder.source` says which, for model.pt: "untrained", "miniature" or the file."""
    options = dict(sam_input=sam_input, device=device, precision=requested(precision), preprocess=preprocess,
                   attention=attention, compile=compile)  # requested: model.pt's "int8-bf16attn" asks for int8
    if str(checkpoint) == "untrained":
        encoder = SAMEncoder.untrained("tiny", seed=0, **options)
        encoder.source = "untrained"
        return encoder
    if checkpoint is None:
        checkpoint = DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.is_file() else "miniature"
    if str(checkpoint) == "miniature":
        encoder = SAMEncoder.from_checkpoint(miniature_checkpoint(), **options)
        encoder.source = "miniature"
        return encoder
    return SAMEncoder.from_checkpoint(checkpoint, **options)


def weights_label(encoder: SAMEncoder) -> str:
    """The encoder's weights (and precision unless fp32, preprocessing unless SAM's), with a warning attached when
    they are random."""
    label = encoder.weights if encoder.precision == "fp32" else f"{encoder.weights}, {encoder.precision}"
    label += ", MedSAM preprocessing" if encoder.preprocessing == "medsam" else ""
    return label if encoder.trained else f"{label} (UNTRAINED: a pipeline check, not a SAM result)"


def short_label(label: str) -> str:
    """A weights label short enough for a figure title or a repeated printout (the full one goes in every file):
    the miniature as "miniature 223d5031 (stand-in, not SAM)", a file as its name and hash, random weights as
    UNTRAINED; the precision and preprocessing it names are kept."""
    digest = re.search(r"sha256:([0-9a-f]{8})", label)
    precision = next((p for p in (INT8_BF16_ATTENTION, "int8", "bf16") if f", {p}" in label), None)  # longest first
    suffix = "".join(f", {extra}" for extra in (precision, "MedSAM preprocessing") if extra and f", {extra}" in label)
    if label.startswith("untrained"):
        return f"untrained {label.split()[1].rstrip(',')}{suffix} (UNTRAINED)"
    if "stand-in, not Segment Anything" in label:
        return f"miniature {digest[1]}{suffix} (stand-in, not SAM)"
    if "stand-in for ImageNet" in label:
        return f"stand-in for ImageNet {digest[1]} (not ImageNet)"
    return f"{label.split(' ', 1)[0]} {digest[1]}{suffix}" if digest else label
