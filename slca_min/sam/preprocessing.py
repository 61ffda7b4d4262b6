"""How an image becomes the encoder's input: SAM's own preprocessing, or MedSAM's.

"sam" (the default) is `SamPredictor.set_image`: the longest side resized to S (ResizeLongestSide),
SAM's pixel mean/std, zero padding to S x S. Regions are pooled over the unpadded area (h, w).

"medsam" is MedSAM's inference script (github.com/bowang-lab/MedSAM): a square resize to S x S that
does not keep the aspect ratio, rounded to uint8, then per-image min-max scaling to [0, 1]; no
mean/std, no padding (the whole S x S is the image). MedSAM's weights were fine-tuned on inputs
made this way, so they are only meaningful with it. MedSAM resizes with skimage (bicubic with a
Gaussian anti-aliasing filter); this uses Pillow's antialiased bicubic, the same steps with a
slightly different filter.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from segment_anything.utils.transforms import ResizeLongestSide

PREPROCESSING = ("sam", "medsam")
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


class ImageError(ValueError):
    """An image the encoder cannot take. `index` is its place in the list given, so that a caller that
    knows the images' files can name the file (pipeline/cache.py, pipeline/predict.py)."""

    def __init__(self, index: int, problem: str):
        super().__init__(f"image {index}: {problem}")
        self.index, self.problem = index, problem


def to_rgb(image, index: int = 0) -> np.ndarray:
    """One image as HxWx3 uint8 RGB: grey is repeated, alpha dropped; anything else is an error."""
    if isinstance(image, Image.Image):
        image = image.convert("RGB")
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ImageError(index, f"dtype {a.dtype}; expected uint8 (scale to 0..255 and use .astype(np.uint8))")
    if a.ndim == 3 and a.shape[2] == 4:  # RGBA: alpha dropped
        a = a[:, :, :3]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:  # grey: repeated to 3 channels
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3 or min(a.shape[:2]) == 0:
        raise ImageError(index, f"shape {a.shape}; expected HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA)")
    return a


def check_preprocess(preprocess: str) -> str:
    if preprocess not in PREPROCESSING:
        raise ValueError(f"preprocess={preprocess!r}: use one of {', '.join(PREPROCESSING)} (--sam-preprocess)")
    return preprocess


def sam_preprocess(rgb: np.ndarray, size: int, device: torch.device, on_device: bool,
                   index: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """HxWx3 uint8 -> (3, S, S) as SamPredictor.set_image, and the unpadded (h, w).

    On the CPU the resize is SamPredictor's own (PIL). on_device=True uploads the uint8 image and
    resizes it there (bilinear, antialiased, rounded like PIL's output): the same pixels within one
    grey level, so that the CPU does not limit a fast GPU. An image so elongated that its short side
    would round to 0 px is refused, with the smallest short side that works.
    """
    h, w = ResizeLongestSide.get_preprocess_shape(rgb.shape[0], rgb.shape[1], size)
    if min(h, w) == 0:  # the short side rounds to at least 1 px from long / (2 S) on
        long = max(rgb.shape[:2])
        raise ImageError(index, f"{rgb.shape[0]}x{rgb.shape[1]} px is too narrow for SAM's {size} px input: with a "
                                f"long side of {long} px the short side must be at least {math.ceil(long / (2 * size))} px; "
                                "crop or pad the image")
    if on_device:
        x = torch.as_tensor(rgb, device=device).permute(2, 0, 1)[None].float()  # (1, 3, H0, W0)
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0].round().clamp(0, 255)
    else:
        resized = ResizeLongestSide(size).apply_image(rgb)  # (h, w, 3) uint8, longest side S
        x = torch.as_tensor(resized, device=device).permute(2, 0, 1)  # (3, h, w)
        h, w = resized.shape[:2]
    mean, std = (torch.tensor(v, device=device).view(3, 1, 1) for v in (PIXEL_MEAN, PIXEL_STD))
    return F.pad((x - mean) / std, (0, size - w, 0, size - h)), (h, w)


def medsam_preprocess(rgb: np.ndarray, size: int, device: torch.device) -> tuple[torch.Tensor, tuple[int, int]]:
    """HxWx3 uint8 -> (3, S, S) in [0, 1] as MedSAM's inference script, and (S, S): nothing is padding."""
    resized = np.array(Image.fromarray(rgb).resize((size, size), Image.Resampling.BICUBIC))  # (S, S, 3) uint8
    x = torch.as_tensor(resized, device=device).permute(2, 0, 1).float()  # (3, S, S)
    low, high = x.min(), x.max()
    return (x - low) / (high - low).clamp(min=1e-8), (size, size)
