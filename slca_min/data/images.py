"""Reading image files as HxWx3 uint8 RGB: every mode Pillow knows, 16-bit data scaled, DICOM, errors that name the file.

16-bit (and 32-bit integer or float) images are scaled linearly from their own range to 0..255:
value -> 255 * (value - min) / (max - min). This keeps the contrast of 12-bit data stored in a
16-bit container (the common case in medical imaging), which a plain conversion would clip to
solid white. A constant image becomes black.

DICOM (.dcm, through pydicom: `pip install -e ".[dicom]"`): the modality LUT first (rescale
slope and intercept, e.g. CT to Hounsfield units), then the file's first window (values from
center - width/2 to center + width/2 mapped linearly to 0..255, clipped outside), or the image
range when the file has no window; MONOCHROME1 is inverted (so that bright means dense);
colour images (RGB, YBR, palette) are converted to RGB. One frame per file.
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


def read_dicom(path: Path) -> np.ndarray:
    """A DICOM file -> HxWx3 uint8 RGB, by the rule in the module docstring."""
    try:
        import pydicom
        from pydicom.pixels import apply_color_lut, apply_modality_lut
    except ImportError:
        raise ImportError(f"{path}: reading DICOM needs pydicom: pip install -e \".[dicom]\"") from None
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]  # decoder errors run to several lines: the first says what
        raise ValueError(f"{path}: cannot be read as DICOM ({type(e).__name__}: {first}); replace or remove the file "
                         "(compressed DICOM may need a decoder: pip install pylibjpeg pylibjpeg-libjpeg)") from None
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        raise ValueError(f"{path}: {ds.NumberOfFrames} frames; slca_min reads one image per file (export the frames)")
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        return scale_to_uint8(apply_color_lut(pixels, ds))
    if photometric == "RGB" or photometric.startswith("YBR"):  # pydicom's pixel_array already converts YBR to RGB
        return scale_to_uint8(pixels)
    values = apply_modality_lut(pixels, ds).astype(np.float64)
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        first = lambda v: float(v[0] if isinstance(v, pydicom.multival.MultiValue) else v)  # noqa: E731
        low, high = first(center) - first(width) / 2, first(center) + first(width) / 2
        grey = np.round(np.clip((values - low) / (high - low), 0, 1) * 255).astype(np.uint8)
    else:
        grey = scale_to_uint8(values)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return np.repeat(grey[:, :, None], 3, axis=2)


def read_image(path: str | Path) -> np.ndarray:
    """One image file -> HxWx3 uint8 RGB (grey repeated, alpha dropped, palette and CMYK converted; DICOM as above)."""
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        return read_dicom(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16/32-bit grey
                values = np.asarray(image)
                if not np.isfinite(values).all():
                    raise ValueError(f"{(~np.isfinite(values)).sum()} of its {values.size} pixels are NaN or infinite; "
                                     "fix or remove the file")
                grey = scale_to_uint8(values)
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
