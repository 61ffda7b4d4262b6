"""Checker for exercise 2: region descriptors pooled over the part of SAM's embedding that holds the image."""
from __future__ import annotations

import math

import torch
from torch.nn.functional import adaptive_avg_pool2d, adaptive_max_pool2d

from ..sam.checkpoints import PATCH
from ..sam.encoder import pool_regions
from .checks import call, check_shape, compare, passed, tensor

SIZES = [(256, 200), (137, 256), (256, 90)]  # (h, w) of each resized image inside SAM's 256 x 256 input
AXES = ("image", "channel", "grid row", "grid column")


def check_region_pooling(student_fn, *, grid: int = 4) -> str:
    """pool_regions(embedding, sizes, grid): each (C, S/16, S/16) map cropped to the ceil(h/16) x ceil(w/16) patches
    its image covers, then average-pooled to grid x grid (adaptive: the regions tile the crop exactly). The reference
    and the mistakes come first, before any student code runs."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        embedding = torch.randn(len(SIZES), 5, 16, 16, dtype=torch.float64)  # SAM input 256 px -> 16 x 16 patches

    def cropped(rows, cols, pool=adaptive_avg_pool2d):
        return torch.cat([pool(e[None, :, :rows(h, w), :cols(h, w)], grid) for e, (h, w) in zip(embedding, SIZES)])
    ceil_h, ceil_w = (lambda h, w: math.ceil(h / PATCH)), (lambda h, w: math.ceil(w / PATCH))
    reference, mistakes = pool_regions(embedding, SIZES, grid), [
        ("the whole map was pooled, padding included: SAM pads each image to a square at the bottom and right, "
         "so crop each map to the patches its image covers first", adaptive_avg_pool2d(embedding, grid)),
        ("the last, partial patch row or column was dropped (h // 16): a patch that holds any of the image counts, "
         "ceil(h / 16)", cropped(lambda h, w: h // PATCH, lambda h, w: w // PATCH)),
        ("height and width swapped: sizes are (h, w), rows first", cropped(lambda h, w: ceil_w(h, w), ceil_h)),
        ("max pooling; a region descriptor is the average of its patches",
         cropped(ceil_h, ceil_w, adaptive_max_pool2d)),
    ]
    out = tensor(call(student_fn, embedding.clone(), list(SIZES), grid,
                      what=f"pool_regions(embedding of shape {tuple(embedding.shape)}, sizes={SIZES}, grid={grid})"),
                 "pool_regions' output")
    check_shape(out, (len(SIZES), 5, grid, grid), AXES, "pool_regions' output")
    compare(out, reference, what="pool_regions", axes=AXES, mistakes=mistakes)
    return passed(f"pool_regions: cropped to the image's patches (ceil), averaged over a {grid} x {grid} grid")
