"""Spatially Localized Channel Attention (SLCA), Gu et al., arXiv 2505.06217 (CBMS 2025).

The paper gives the idea, not equations; this is the project's reading (see README):
squeeze-and-excitation applied to every region of SAM's feature map separately, so each of the
g x g regions gets its own channel-attention vector for each gated CNN stage.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class SLCA(nn.Module):
    """Region descriptors R (B, in_channels, g, g) -> one attention map A_k (B, C_k, g, g) in (0, 1) per stage.

    1x1 convolutions act on each region alone: a region's attention depends only on its own
    descriptor (this is what makes it spatially localized). The squeeze is shared by all stages;
    each stage has its own excite head.
    """

    def __init__(self, in_channels: int = 256, stage_channels: Sequence[int] = (64, 128, 256, 512),
                 reduction: int = 4, act_layer: type[nn.Module] = nn.ReLU):
        super().__init__()
        hidden = max(8, in_channels // reduction)  # 64 for SAM; at least 8 for few-channel inputs (the oracle)
        self.squeeze = nn.Conv2d(in_channels, hidden, kernel_size=1)
        self.act = act_layer()
        self.excite = nn.ModuleList(nn.Conv2d(hidden, c, kernel_size=1) for c in stage_channels)

    def forward(self, R: torch.Tensor) -> list[torch.Tensor]:
        Z = self.act(self.squeeze(R))  # (B, in_channels // reduction, g, g)
        return [torch.sigmoid(head(Z)) for head in self.excite]  # [(B, C_k, g, g)]
