"""SLCAClassifier: a CNN or transformer backbone whose four stage outputs are gated by SLCA (or a control)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import BACKBONES, build_backbone  # noqa: F401 (BACKBONES: the CLI's choices)
from .gates import GATES
from .slca import SLCA

GATE_NAMES = ("slca", "none", "se", "cbam")
# How A_k (in (0, 1)) gates F_k. "multiply" is the paper's reading: every gate starts near 0.5, so each
# gated stage starts at about half strength. "residual" F*(1+A) and "rescaled" F*2A start near the identity.
INTEGRATIONS = {"multiply": lambda f, a: f * a, "residual": lambda f, a: f * (1 + a), "rescaled": lambda f, a: f * (2 * a)}


class SLCAClassifier(nn.Module):
    """Backbone stage k -> F_k * A_k -> ... -> logits, with A_k from SLCA(R) resized to the stage's H_k x W_k.

    `self.backbone` is the torchvision or timm model itself, run by its own forward: the gates
    are applied by forward hooks on its stage modules. So its state-dict keys are the library's,
    and with gate="none" this is exactly the plain backbone (the baseline).

    Args:
        num_classes: output classes.
        backbone: resnet18/34/50/101/152, swin_v2_t/s/b, or "timm:NAME" (needs the [timm] extra).
        gate: "slca" (SAM's region descriptors), "none" (the baseline), "se" or "cbam" (the
            stage's own features, no SAM: controls for "any channel / spatial attention").
        slca: False is the same as gate="none" (kept for older code).
        stages: which of the four stages are gated.
        grid: side of the region grid g that SLCA's attention comes in.
        pretrained_backbone: start from the library's ImageNet weights (downloaded once).
        in_chans: input channels (ResNets only; conv1's RGB weights are averaged and spread over them).
        in_channels: channels of the region descriptors (256 for SAM).
        reduction: squeeze ratio of SLCA (SE and CBAM use timm's 16).
        integrate: how SLCA's A_k gates F_k: "multiply" (F*A, the paper's reading, default), "residual"
            (F*(1+A)) or "rescaled" (F*2A); see INTEGRATIONS and the README's study.
    """

    def __init__(self, num_classes: int, backbone: str = "resnet18", slca: bool = True, stages: Sequence[int] = (1, 2, 3, 4),
                 grid: int = 16, pretrained_backbone: bool = False, in_chans: int = 3, in_channels: int = 256,
                 reduction: int = 4, gate: str | None = None, integrate: str = "multiply"):
        super().__init__()
        gate = gate or ("slca" if slca else "none")
        if gate not in GATE_NAMES:
            raise ValueError(f"gate={gate!r} is unknown; use one of {', '.join(GATE_NAMES)}")
        if integrate not in INTEGRATIONS:
            raise ValueError(f"integrate={integrate!r} is unknown; use one of {', '.join(INTEGRATIONS)}")
        if not set(stages) <= {1, 2, 3, 4} or len(set(stages)) != len(stages):
            raise ValueError(f"stages={tuple(stages)}: choose distinct stages from 1, 2, 3, 4")
        built = build_backbone(backbone, num_classes, pretrained_backbone)
        self.backbone, self.channels_last = built.model, built.channels_last
        if in_chans != 3:
            _set_in_chans(self.backbone, in_chans)
        self.num_classes, self.grid, self.gate_type, self.integrate = num_classes, grid, gate, integrate
        self.stages = () if gate == "none" else tuple(sorted(stages))
        channels = [built.channels[k - 1] for k in self.stages]
        self.slca = SLCA(in_channels, channels, reduction) if gate == "slca" else None
        self.gates = nn.ModuleList(GATES[gate](c) for c in channels) if gate in GATES else None
        modules = dict(self.backbone.named_modules())
        for i, k in enumerate(self.stages):
            modules[built.stages[k - 1]].register_forward_hook(self._gate_hook(i))
        self._maps: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, R: torch.Tensor | None = None, return_attention: bool = False):
        """x: (B, in_chans, S, S) normalized images; R: (B, 256, g, g) region descriptors (used by gate="slca" only)."""
        self._maps = []
        if self.slca is not None:
            if R is None or R.dim() != 4:
                raise ValueError("R: region descriptors (B, 256, g, g) are required when gate='slca' (see SAMEncoder.regions)")
            if R.shape[-2:] != (self.grid, self.grid):
                raise ValueError(f"R: regions on a {tuple(R.shape[-2:])} grid, the model was built for grid={self.grid}; "
                                 "extract regions with the same grid")
            self._maps = self.slca(R)
        logits = self.backbone(x)  # (B, num_classes); the hooks gate the stages on the way
        maps, self._maps = self._maps, []
        return (logits, maps) if return_attention else logits

    def _gate_hook(self, i: int):
        """The forward hook of the i-th gated stage: returns the stage output times its gate."""
        def hook(module, inputs, out):
            if self.channels_last:
                out = out.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
            if self.slca is not None:
                A = F.interpolate(self._maps[i], size=out.shape[-2:], mode="bilinear", align_corners=False)  # (B, C_k, H_k, W_k)
                out = INTEGRATIONS[self.integrate](out, A)
            else:
                out = self.gates[i](out)
            return out.permute(0, 2, 3, 1) if self.channels_last else out
        return hook


def _set_in_chans(model: nn.Module, in_chans: int) -> None:
    """A ResNet's conv1 for `in_chans` input channels, keeping what its weights know (for 1 channel: the sum over RGB)."""
    if not isinstance(getattr(model, "conv1", None), nn.Conv2d):
        raise ValueError("in_chans != 3 is supported for ResNet backbones only")
    conv1 = model.conv1
    model.conv1 = nn.Conv2d(in_chans, conv1.out_channels, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        model.conv1.weight.copy_(conv1.weight.mean(1, keepdim=True).repeat(1, in_chans, 1, 1) * (3 / in_chans))
