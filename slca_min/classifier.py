"""SLCAClassifier: a CNN or transformer backbone whose stage outputs are gated by SLCA (or a control).

The paper's model, as forward() and _gate_hook() run it:

    A_1..A_4 = SLCA(R)                        # R (B, C, g, g) from SAM; each A_k (B, C_k, g, g) in (0, 1)
    for k in 1..4:                            # the backbone's own forward; a hook on each stage does the gating
        F_k = stage_k(F_{k-1})
        F_k = F_k * resize(A_k, H_k x W_k)    # "multiply": the paper's integration
    logits = head(F_4)

Everything else extends this without a second implementation: which positions are gated (`stages`: the
stem too), which SAM level feeds each (`sam_levels`: the multi-level reading), how A gates F (`integrate`),
and the controls that put another gate in SLCA's place (`gate`: "none" is the plain baseline, "se", "cbam").
gate="fusion" is the late-fusion control: no gate at all, the mean-pooled regions concatenated to the
backbone's pooled features before its last layer (fc), the simplest way to use frozen features.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import build_backbone
from .gates import GATES
from .sam.levels import NECK, check_levels
from .slca import SLCA

GATE_NAMES = ("slca", "none", "se", "cbam", "fusion")
USES_REGIONS = ("slca", "fusion")  # the gates that read R
# How A_k (in (0, 1)) gates F_k. "multiply" is the paper's reading: every gate starts near 0.5, so each
# gated stage starts at about half strength. "residual" F*(1+A) and "rescaled" F*2A start near the identity.
INTEGRATIONS = {"multiply": lambda f, a: f * a, "residual": lambda f, a: f * (1 + a), "rescaled": lambda f, a: f * (2 * a)}
POSITIONS = (0, 1, 2, 3, 4)  # where a gate can sit: 0 after the stem, 1-4 after the backbone's four stages


class SLCAClassifier(nn.Module):
    """Backbone stage k -> F_k * A_k -> ... -> logits, with A_k from SLCA(R) resized to the stage's H_k x W_k.

    Which SAM level feeds which gate: `sam_levels[i]` gates `stages[i]` (one level: every stage).
    The default reads the neck into stages 1-4; sam_levels=LEVELS (sam/levels.py) is the multi-level
    reading, patch / early / middle / late / neck into the stem and stages 1-4. R then holds the
    distinct levels concatenated in LEVELS order (SAMEncoder.regions(..., levels=model.region_levels)),
    and each level has its own SLCA (squeeze shared by the gates it feeds, one excite head per gate).

    `self.backbone` is the torchvision or timm model itself, run by its own forward: the gates
    are applied by forward hooks on its stage modules. So its state-dict keys are the library's,
    and with gate="none" this is exactly the plain backbone (the baseline).

    Args:
        num_classes: output classes.
        backbone: resnet18/34/50/101/152, swin_v2_t/s/b, or "timm:NAME" (needs the [timm] extra).
        gate: "slca" (SAM's region descriptors), "none" (the baseline), "se" or "cbam" (the
            stage's own features, no SAM: controls for "any channel / spatial attention").
        slca: False is the same as gate="none" (kept for older code).
        stages: which positions are gated: 1-4 the stages, 0 the stem (default: see default_stages).
        grid: side of the region grid g that SLCA's attention comes in.
        backbone_weights: where the backbone's weights start: "none" (from scratch, default), "imagenet"
            (torchvision's or timm's, downloaded once), "miniature" (resnet18: the library's stand-in for
            ImageNet, pretrained on synthetic shapes, built offline on first use) or a state-dict file.
            `self.backbone_weights` names them (a file by its hash) wherever a result is reported.
        pretrained_backbone: True is the same as backbone_weights="imagenet" (kept for older code).
        in_chans: input channels (ResNets only; conv1's RGB weights are averaged and spread over them).
        in_channels: channels of the region descriptors: 256 for the neck; with several levels, one number
            per level of `region_levels` (levels.level_channels gives them; D is 768 for ViT-B).
        reduction: squeeze ratio of SLCA (SE and CBAM use timm's 16).
        integrate: how SLCA's A_k gates F_k: "multiply" (F*A, the paper's reading, default), "residual"
            (F*(1+A)) or "rescaled" (F*2A); see INTEGRATIONS and the README's study.
        sam_levels: the SAM level of each gated position (sam/levels.py); ("neck",) by default.
    """

    def __init__(self, num_classes: int, backbone: str = "resnet18", slca: bool = True, stages: Sequence[int] | None = None,
                 grid: int = 16, pretrained_backbone: bool = False, in_chans: int = 3, in_channels: int | Sequence[int] = 256,
                 reduction: int = 4, gate: str | None = None, integrate: str = "multiply", sam_levels: Sequence[str] = NECK,
                 backbone_weights: str | None = None):
        super().__init__()
        gate = gate or ("slca" if slca else "none")
        if gate not in GATE_NAMES:
            raise ValueError(f"gate={gate!r} is unknown; use one of {', '.join(GATE_NAMES)}")
        if integrate not in INTEGRATIONS:
            raise ValueError(f"integrate={integrate!r} is unknown; use one of {', '.join(INTEGRATIONS)}")
        self.stages, self.sam_levels = gated_positions(gate, stages, sam_levels)
        built = build_backbone(backbone, num_classes, backbone_weights or ("imagenet" if pretrained_backbone else "none"))
        self.backbone_weights = built.weights
        if 0 in self.stages and built.stages[0] is None:
            raise ValueError(f"backbone={backbone!r} exposes no stem to gate; gate stages 1-4 (at most four sam_levels)")
        self.backbone, self.channels_last = built.model, built.channels_last
        if in_chans != 3:
            _set_in_chans(self.backbone, in_chans)
        self.num_classes, self.grid, self.gate_type, self.integrate = num_classes, grid, gate, integrate
        channels = [built.channels[k] for k in self.stages]
        self.region_levels = check_levels(self.sam_levels) if self.sam_levels else ()  # what R holds, in LEVELS order
        widths = [in_channels] * len(self.region_levels) if isinstance(in_channels, int) else list(in_channels)
        self.region_widths = widths if gate in USES_REGIONS else []
        if len(self.region_widths) != len(self.region_levels):
            raise ValueError(f"in_channels={in_channels}: one number per level of {self.region_levels}")
        self.slca = nn.ModuleDict({  # one SLCA per level, with an excite head for each position it gates
            level: SLCA(width, [c for c, fed_by in zip(channels, self.sam_levels) if fed_by == level], reduction)
            for level, width in zip(self.region_levels, self.region_widths)}) if gate == "slca" else None
        self.gates = nn.ModuleList(GATES[gate](c) for c in channels) if gate in GATES else None
        if gate == "fusion":
            self._add_fusion_head(sum(self.region_widths), num_classes)
        modules = dict(self.backbone.named_modules())
        for i, k in enumerate(self.stages):
            modules[built.stages[k]].register_forward_hook(self._gate_hook(i))
        self._maps: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, R: torch.Tensor | None = None, return_attention: bool = False):
        """x: (B, in_chans, S, S) normalized images; R: (B, C, g, g) region descriptors of `region_levels`
        (C = 256 for the neck; used by gate="slca" only)."""
        self._maps, self._pooled = [], None
        if self.region_widths:
            if R is None or R.dim() != 4:
                raise ValueError(f"R: region descriptors (B, C, g, g) are required when gate={self.gate_type!r} "
                                 "(see SAMEncoder.regions)")
            if R.shape[-2:] != (self.grid, self.grid):
                raise ValueError(f"R: regions on a {tuple(R.shape[-2:])} grid, the model was built for grid={self.grid}; "
                                 "extract regions with the same grid")
            if R.shape[1] != sum(self.region_widths):
                raise ValueError(f"R: {R.shape[1]} channels, the model reads {sum(self.region_widths)} (levels "
                                 f"{', '.join(self.region_levels)}); extract regions with levels={self.region_levels}")
        if self.gate_type == "fusion":
            self._pooled = R.mean(dim=(2, 3))  # (B, C): one vector per image, read by the head's pre-hook
        elif self.slca is not None:
            maps = {level: iter(self.slca[level](part))  # each level's maps, in the order of the positions it gates
                    for level, part in zip(self.region_levels, R.split(self.region_widths, dim=1))}
            self._maps = [next(maps[level]) for level in self.sam_levels]
        logits = self.backbone(x)  # (B, num_classes); the hooks gate the stages on the way
        maps, self._maps, self._pooled = self._maps, [], None
        return (logits, maps) if return_attention else logits

    def _add_fusion_head(self, width: int, num_classes: int) -> None:
        """fc reads [pooled CNN features, mean-pooled R]: a new Linear, and a pre-hook that concatenates R."""
        head = getattr(self.backbone, "fc", None)
        if not isinstance(head, nn.Linear):
            raise ValueError("gate='fusion' needs a ResNet backbone (a head named fc); use resnet18-152")
        self.backbone.fc = nn.Linear(head.in_features + width, num_classes)
        self.backbone.fc.register_forward_pre_hook(
            lambda module, inputs: (torch.cat([inputs[0], self._pooled.to(inputs[0].dtype)], dim=1),))  # (B, F + C)

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


def default_stages(levels: int) -> tuple[int, ...]:
    """One SAM level gates stages 1-4 (the neck reading); n levels gate the n deepest positions, shallow to shallow:
    five levels gate the stem and stages 1-4 (the multi-level reading)."""
    return (1, 2, 3, 4) if levels == 1 else POSITIONS[-levels:]


def gated_positions(gate: str, stages: Sequence[int] | None, sam_levels: Sequence[str]) -> tuple[tuple, tuple]:
    """The gated positions in order and, for gate="slca", the SAM level that gates each one."""
    if gate in ("none", "fusion"):
        return (), (tuple(sam_levels) if gate == "fusion" else ())
    sam_levels = tuple(sam_levels) if gate == "slca" else ()
    stages = tuple(stages) if stages is not None else default_stages(max(len(sam_levels), 1))
    if not set(stages) <= set(POSITIONS) or len(set(stages)) != len(stages):
        raise ValueError(f"stages={stages}: choose distinct positions from 0 (the stem), 1, 2, 3, 4")
    if gate != "slca":
        return tuple(sorted(stages)), ()
    check_levels(sam_levels)
    sam_levels = sam_levels * len(stages) if len(sam_levels) == 1 else sam_levels
    if len(sam_levels) != len(stages):
        raise ValueError(f"sam_levels={sam_levels}: one level for every gated position (stages={stages}), or one for all")
    pairs = sorted(zip(stages, sam_levels))
    return tuple(k for k, _ in pairs), tuple(level for _, level in pairs)


def _set_in_chans(model: nn.Module, in_chans: int) -> None:
    """A ResNet's conv1 for `in_chans` input channels, keeping what its weights know (for 1 channel: the sum over RGB)."""
    if not isinstance(getattr(model, "conv1", None), nn.Conv2d):
        raise ValueError("in_chans != 3 is supported for ResNet backbones only")
    conv1 = model.conv1
    model.conv1 = nn.Conv2d(in_chans, conv1.out_channels, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        model.conv1.weight.copy_(conv1.weight.mean(1, keepdim=True).repeat(1, in_chans, 1, 1) * (3 / in_chans))
