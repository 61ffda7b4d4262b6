"""The controls for SLCA: channel attention computed from a stage's *own* features, no SAM.

SE, Hu et al., "Squeeze-and-Excitation Networks" (CVPR 2018): one global channel-attention
vector per image, the control for "any channel attention". CBAM, Woo et al., "CBAM:
Convolutional Block Attention Module" (ECCV 2018): channel then 7x7 spatial attention, the
control for "any spatially varying attention". Both sit where SLCA sits (after each gated
stage) and, like SLCA, multiply the stage's output (B, C, H, W) by weights in (0, 1).
"""
from __future__ import annotations

import torch
from torch import nn


class SEGate(nn.Module):
    """F -> F * sigmoid(W2 ReLU(W1 avgpool(F))): one weight per channel, the same everywhere in the image."""

    def __init__(self, channels: int, reduction: int = 16, act_layer: type[nn.Module] = nn.ReLU):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc = nn.Sequential(nn.Conv2d(channels, hidden, 1), act_layer(), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))  # (B, C, 1, 1) weights


class CBAMGate(nn.Module):
    """Channel attention from average- and max-pooled features (a shared MLP), then spatial attention from a
    7x7 convolution over the channel-wise average and maximum."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, act_layer: type[nn.Module] = nn.ReLU):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), act_layer(), nn.Conv2d(hidden, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True)))
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * torch.sigmoid(self.spatial(pooled))  # (B, 1, H, W) weights


GATES = {"se": SEGate, "cbam": CBAMGate}
