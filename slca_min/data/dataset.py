"""RegionDataset: what the training loop reads, (image tensor, region descriptors, label) per item."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import Dataset

from ..sam.preprocessing import to_rgb

IMAGENET = torchvision.models.ResNet18_Weights.DEFAULT.transforms()  # the channel mean and std its weights expect


class RegionDataset(Dataset):
    """(image_tensor, regions, label) for training: image resized to image_size, grey to 3 channels,
    ImageNet-normalized; with augment=True, random flips applied to the image and its region map together.

    regions: (N, 256, g, g) array or tensor (fp16 from the cache is fine), or None for a
    baseline-only run (then an empty tensor stands in). labels: (N,) class indices, or (N, L)
    0/1 for multi-label data (the label is then a float vector, what BCE expects). indices: serve only
    these rows (a training fraction), read on access: a memory-mapped cache of many GB is never copied.
    """

    def __init__(self, images: Sequence, labels: np.ndarray, regions=None, *, image_size: int = 224, augment: bool = False,
                 indices: np.ndarray | None = None):
        if regions is not None and len(regions) != len(labels):
            raise ValueError(f"regions: {len(regions)} region maps for {len(labels)} images")
        if torch.is_tensor(regions):
            regions = regions.cpu().numpy()
        self.rows = np.arange(len(labels)) if indices is None else np.asarray(indices)
        self.images, self.labels, self.regions = images, np.asarray(labels, dtype=np.int64)[self.rows], regions
        self.image_size, self.augment = image_size, augment
        self.mean = torch.tensor(IMAGENET.mean).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET.std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        row = int(self.rows[i])  # the image's row in images and regions
        x = torch.tensor(to_rgb(self.images[row], row)).permute(2, 0, 1).float() / 255  # (3, H, W); a copy: files read-only
        x = F.interpolate(x[None], size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                          align_corners=False)[0]
        x = (x - self.mean) / self.std
        R = torch.empty(0) if self.regions is None else torch.from_numpy(np.array(self.regions[row], dtype=np.float32))
        if self.augment:
            for dim, flip in zip((-1, -2), torch.rand(2) < 0.5):  # horizontal, vertical
                if flip:
                    x = x.flip(dim)
                    R = R.flip(dim) if R.numel() else R
        y = torch.from_numpy(self.labels[i].astype(np.float32)) if self.labels.ndim == 2 else int(self.labels[i])
        return x, R, y
