"""Reading image files as HxWx3 uint8 RGB: every mode Pillow knows, 16-bit data scaled, errors that name the file.

16-bit (and 32-bit integer or float) images are scaled linearly from their own range to 0..255:
value -> 255 * (value - min) / (max - min). This keeps the contrast of 12-bit data stored in a
16-bit container (the common case in medical imaging), which a plain conversion would clip to
solid white. A constant image becomes black.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def scale_to_uint8(a: np.ndarray) -> np.ndarray:
    """Any numeric array -> uint8 by the image-range rule above (uint8 input is returned as it is)."""
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    low, high = float(a.min()), float(a.max())
    if high <= low:
        return np.zeros(a.shape, np.uint8)
    return np.round((a - low) * (255 / (high - low))).astype(np.uint8)


def read_image(path: str | Path) -> np.ndarray:
    """One image file -> HxWx3 uint8 RGB (grey repeated, alpha dropped, palette and CMYK converted)."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16/32-bit grey
                grey = scale_to_uint8(np.asarray(image))
                return np.repeat(grey[:, :, None], 3, axis=2)
            return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as e:
        raise ValueError(f"{path}: {e.args[0].split('.')[0]}, over Pillow's decompression-bomb limit; "
                         "shrink the image, or pass --allow-large-images if you trust the file") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such image file") from None
    except (OSError, SyntaxError, ValueError) as e:  # unidentified, truncated, corrupt
        raise ValueError(f"{path}: cannot be read as an image ({e}); replace or remove the file") from None


def allow_large_images() -> None:
    """Lift Pillow's decompression-bomb limit (for trusted, very large scans)."""
    Image.MAX_IMAGE_PIXELS = None
