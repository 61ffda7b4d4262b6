"""SAMEncoder: SAM's image encoder, frozen, as a batched feature extractor.

Preprocessing is exactly `SamPredictor.set_image` (ResizeLongestSide, normalize, zero-pad), so
`enc.embed([img])` equals `predictor.set_image(img); predictor.get_image_embedding()`; MedSAM's
is the other choice (preprocessing.py). Regions come from the neck or from several of the
encoder's levels, all from one pass (levels.py). Two
speed-ups keep the weights and the features: attention through
`F.scaled_dot_product_attention` (same maths as SAM's explicit attention matrices), and an
optional smaller `sam_input` (the absolute position embedding is resampled; this one does change
the features, a documented speed/fidelity trade-off). `compile=True` compiles the pass with
torch.compile: opt-in, as its first call compiles (tens of seconds or more); same maths (compiled.py).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from segment_anything.modeling import ImageEncoderViT

from .attention import use_attention
from .checkpoints import PATCH, read_checkpoint, untrained_image_encoder
from .compiled import compile_encoder
from .levels import NECK, encode, level_channels
from .precision import check_precision, recorded_precision, use_precision
from .preprocessing import check_preprocess, medsam_preprocess, sam_preprocess, to_rgb


def check_sam_input(sam_input: int) -> int:
    if sam_input <= 0 or sam_input % PATCH:
        raise ValueError(f"sam_input={sam_input}: must be a positive multiple of {PATCH} (e.g. 1024, 512, 256)")
    return sam_input


def check_images(images: Sequence, batch_size: int) -> int:
    """A clear error for a single image, an empty list or a batch size below 1; returns the batch size."""
    if isinstance(images, (Image.Image, str, Path)):
        raise ValueError("images: expected a list of images; wrap a single image in a list")
    if len(images) == 0:
        raise ValueError("images: the list is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be at least 1")
    return batch_size


def pool_regions(embedding: torch.Tensor, sizes: list[tuple[int, int]], grid: int) -> torch.Tensor:
    """(B, C, S/16, S/16) -> (B, C, grid, grid), each image's map average-pooled over the patches its image covers.

    SAM pads every image to a square at the bottom and right, so only the top-left ceil(h/16) x ceil(w/16)
    patches hold the image (a partial patch at the edge counts): pooling the whole map would mix padding in.
    """
    return torch.cat([F.adaptive_avg_pool2d(e[None, :, :math.ceil(h / PATCH), :math.ceil(w / PATCH)], grid)
                      for e, (h, w) in zip(embedding, sizes)])  # each (1, C, grid, grid)


class SAMEncoder(torch.nn.Module):
    """Frozen SAM image encoder: images in, (B, 256, S/16, S/16) embeddings or pooled regions out.

    Args:
        image_encoder: segment_anything's ImageEncoderViT.
        model_type: "vit_b", "vit_l", "vit_h" or "tiny".
        weights: what produced the weights, printed next to every number computed from them.
        sam_input: the side of SAM's square input. Default: the encoder's own (1024; 256 for
            tiny). Smaller (512, 256) is ~4x fewer tokens: much faster, features differ.
        attention: "auto" (default: SAM's maths in the kernel measured fastest on this machine for each call shape,
            attention.py), "masked", "folded", "explicit" or "flex" (one kernel, for benchmarks), "sam" (SAM's own).
        fast_attention: False is the same as attention="sam" (kept for older code).
        precision: "fp32" (default; bf16 autocast on a GPU), "bf16" (autocast, on the CPU too: 1.6-3.5x where native)
            or "int8" (CPU only: int8 Linear layers, bf16 attention where native): faster, slightly different (precision.py).
        compile: torch.compile the ViT (opt-in: its first call compiles; no result or cache key changes; compiled.py).
        preprocess: "sam" (default, SamPredictor's) or "medsam" (MedSAM's, for MedSAM's weights).
    """

    def __init__(self, image_encoder: ImageEncoderViT, *, model_type: str, weights: str,
                 sam_input: int | None = None, fast_attention: bool = True, device: str | torch.device = "cpu",
                 precision: str = "fp32", attention: str = "auto", preprocess: str = "sam", compile: bool = False):
        super().__init__()
        sam_input = check_sam_input(sam_input or image_encoder.img_size)
        self.image_encoder = image_encoder.requires_grad_(False).eval()
        self.model_type, self.weights, self.sam_input = model_type, weights, sam_input
        self.source: str | None = None  # where the weights can be found again (model.pt records it): a file, or a name
        self.preprocessing = check_preprocess(preprocess)
        self.register_buffer("_where", torch.empty(0), persistent=False)  # follows .to(): the encoder's device
        use_attention(image_encoder, attention if fast_attention else "sam")
        self._precision = check_precision(precision, device)
        self.image_encoder = use_precision(self.image_encoder, precision, device)  # int8: a quantized copy
        self.compiled = compile_encoder(self.image_encoder, precision) if compile else None  # None: eager
        self.to(device)

    @classmethod
    def untrained(cls, kind: str = "tiny", *, seed: int = 0, **kwargs) -> SAMEncoder:
        """Random weights (deterministic for `seed`, position embeddings drawn too): tests, speed checks, offline runs."""
        return cls(untrained_image_encoder(kind, seed), model_type=kind, weights=f"untrained {kind}, seed {seed}", **kwargs)

    @classmethod
    def from_checkpoint(cls, path: str | Path, model_type: str | None = None, device: str | torch.device = "cpu",
                        **kwargs) -> SAMEncoder:
        """Load an official SAM checkpoint (a `Sam` state dict) or an encoder-only state dict (checkpoints.py);
        the model type is read from the weights."""
        path = Path(path)
        encoder, found, weights = read_checkpoint(path, model_type, preprocess=kwargs.get("preprocess", "sam"))
        encoder = cls(encoder, model_type=found, weights=weights, device=device, **kwargs)
        encoder.source = str(path.resolve())
        return encoder

    @property
    def trained(self) -> bool:
        """False for random weights: their outputs are pipeline checks, never SAM results."""
        return not self.weights.startswith("untrained")

    @property
    def precision(self) -> str:
        """What the encoder computes in, as recorded (part of the cache key): "int8-bf16attn", "int8", "bf16", "fp32"."""
        return recorded_precision(self._precision, self.image_encoder, self.device)

    @property
    def device(self) -> torch.device:
        return self._where.device

    def train(self, mode: bool = True) -> SAMEncoder:
        """The encoder stays in eval mode whatever its parent does."""
        super().train(mode)
        self.image_encoder.eval()
        return self

    @property
    def embed_dim(self) -> int:
        """D, the width of the ViT's own levels (768 for ViT-B)."""
        return self.image_encoder.patch_embed.proj.out_channels

    def preprocess(self, image, index: int = 0, on_device: bool | None = None) -> tuple[torch.Tensor, tuple[int, int]]:
        """One image -> (3, S, S) as the encoder's input (see preprocessing.py), and the (h, w) of it that is image.
        on_device (SAM's preprocessing only): resize on the encoder's device; None means when that is a GPU."""
        rgb, on_device = to_rgb(image, index), self.device.type == "cuda" if on_device is None else on_device
        if self.preprocessing == "medsam":
            return medsam_preprocess(rgb, self.sam_input, self.device)
        return sam_preprocess(rgb, self.sam_input, self.device, on_device, index)

    def features(self, x: torch.Tensor, levels: Sequence[str] = NECK) -> list[torch.Tensor]:
        """(B, 3, S, S) preprocessed -> one (B, C, S/16, S/16) float32 tensor per level (levels.py), from one pass."""
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return [state.float() for state in (self.compiled or encode)(self.image_encoder, x, levels)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) preprocessed -> (B, 256, S/16, S/16): ImageEncoderViT.forward for any S."""
        return self.features(x)[0]

    @property
    def default_batch_size(self) -> int:
        """8 on a GPU; 1 on the CPU, where batching ViT-B measured slower and took 5x the memory (benchmarks/)."""
        return 8 if self.device.type == "cuda" else 1

    def _batches(self, images: Sequence, batch_size: int | None, levels: Sequence[str] = NECK):
        batch_size = check_images(images, self.default_batch_size if batch_size is None else batch_size)
        for start in range(0, len(images), batch_size):
            prepared = [self.preprocess(images[i], i) for i in range(start, min(start + batch_size, len(images)))]
            with torch.no_grad():
                states = self.features(torch.stack([x for x, _ in prepared]), levels)
                yield torch.cat(states, dim=1), [hw for _, hw in prepared]  # (B, sum of the levels' C, S/16, S/16)

    def embed(self, images: Sequence, batch_size: int | None = None) -> torch.Tensor:
        """List of HxW / HxWx3 / HxWx4 uint8 arrays or PIL images -> (B, 256, S/16, S/16) float32 on the encoder's device."""
        return torch.cat([emb for emb, _ in self._batches(images, batch_size)])

    def regions(self, images: Sequence, grid: int = 16, batch_size: int | None = None,
                levels: Sequence[str] = NECK) -> torch.Tensor:
        """Region descriptors R: each level cropped to the image's area, pooled to (B, C, grid, grid), and the
        levels concatenated along the channels in LEVELS order (C = 256 for the neck alone; levels.py)."""
        return torch.cat([self.pool_regions(states, sizes, grid) for states, sizes in self._batches(images, batch_size, levels)])

    def region_channels(self, levels: Sequence[str] = NECK) -> int:
        """C of `regions(..., levels=levels)`: 256 for the neck, D for each of the ViT's levels."""
        return sum(level_channels(levels, self.embed_dim))

    pool_regions = staticmethod(pool_regions)

