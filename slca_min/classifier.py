"""SLCAClassifier: a torchvision ResNet whose stage outputs are gated by SLCA attention."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .slca import SLCA

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


class SLCAClassifier(nn.Module):
    """Backbone stage k -> F_k * A_k (A_k resized bilinearly from g x g to the stage's H_k x W_k) -> ... -> logits.

    `self.backbone` is the torchvision model itself (its state-dict keys are torchvision's, only
    `fc` is sized for `num_classes`), so with `slca=False` this is exactly the baseline ResNet.

    Args:
        num_classes: output classes.
        backbone: one of resnet18/34/50/101/152.
        slca: gate the stages with SLCA; False gives the plain backbone (the baseline).
        stages: which of layer1..layer4 are gated.
        grid: side of the region grid g that the attention comes in.
        pretrained_backbone: start from torchvision's ImageNet weights (downloaded once).
        in_chans: input channels (conv1's RGB weights are averaged and spread over them).
        in_channels: channels of the region descriptors (256 for SAM).
        reduction: SLCA squeeze ratio.
    """

    def __init__(self, num_classes: int, backbone: str = "resnet18", slca: bool = True,
                 stages: Sequence[int] = (1, 2, 3, 4), grid: int = 16, pretrained_backbone: bool = False,
                 in_chans: int = 3, in_channels: int = 256, reduction: int = 4):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone={backbone!r} is not supported; use one of {', '.join(BACKBONES)}")
        if not set(stages) <= {1, 2, 3, 4} or len(set(stages)) != len(stages):
            raise ValueError(f"stages={tuple(stages)}: choose distinct stages from 1, 2, 3, 4")
        self.backbone = _resnet(backbone, pretrained_backbone)
        if in_chans != 3:
            conv1 = self.backbone.conv1
            self.backbone.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
            with torch.no_grad():  # keep what ImageNet weights know: for 1 channel, the sum over RGB
                w = conv1.weight.mean(1, keepdim=True).repeat(1, in_chans, 1, 1) * (3 / in_chans)
                self.backbone.conv1.weight.copy_(w)
        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, num_classes)
        self.num_classes, self.grid = num_classes, grid
        self.stages = tuple(sorted(stages)) if slca else ()
        expansion = type(self.backbone.layer1[0]).expansion  # 1 for BasicBlock, 4 for Bottleneck
        self.slca = SLCA(in_channels, [64 * 2 ** (k - 1) * expansion for k in self.stages], reduction) if slca else None

    def forward(self, x: torch.Tensor, R: torch.Tensor | None = None, return_attention: bool = False):
        """x: (B, in_chans, S, S) normalized images; R: (B, 256, g, g) region descriptors (unused if slca=False)."""
        maps = []
        if self.slca is not None:
            if R is None:
                raise ValueError("R: region descriptors are required when slca=True (see SAMEncoder.regions)")
            if R.shape[-2:] != (self.grid, self.grid):
                raise ValueError(f"R: regions on a {tuple(R.shape[-2:])} grid, the model was built for grid={self.grid}; "
                                 "extract regions with the same grid")
            maps = self.slca(R)
        gates = dict(zip(self.stages, maps))
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        for k, layer in enumerate((b.layer1, b.layer2, b.layer3, b.layer4), start=1):
            x = layer(x)  # (B, C_k, H_k, W_k)
            if k in gates:
                x = x * F.interpolate(gates[k], size=x.shape[-2:], mode="bilinear", align_corners=False)
        logits = b.fc(torch.flatten(b.avgpool(x), 1))  # (B, num_classes)
        return (logits, maps) if return_attention else logits


def _resnet(name: str, pretrained: bool) -> torchvision.models.ResNet:
    """A torchvision ResNet, with ImageNet weights if asked (a clear message when they cannot be fetched)."""
    if not pretrained:
        return torchvision.models.get_model(name, weights=None)
    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        return torchvision.models.get_model(name, weights=weights)
    except Exception as e:  # offline, proxy, disk full, ...
        raise OSError(f"pretrained_backbone=True: cannot fetch {weights} ({type(e).__name__}: {e}); "
                           f"go online once (weights are cached in {torch.hub.get_dir()}) or pass pretrained_backbone=False") from None
