"""The classifier backbones and where their four stages are: torchvision ResNets and Swin V2, and timm models.

A backbone is the library's own model, unchanged (its state-dict keys stay its own), plus the
names of the five modules whose outputs a gate may multiply (position 0, the stem, then the four
stages), their channels, and their layout: torchvision's Swin V2 and timm's transformers keep
stage outputs channels-last (B, H, W, C).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision
from torch import nn

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
SWINS = ("swin_v2_t", "swin_v2_s", "swin_v2_b")
BACKBONES = RESNETS + SWINS  # and "timm:NAME" for any timm model with four feature stages


@dataclass
class Backbone:
    model: nn.Module
    stages: tuple[str | None, str, str, str, str]  # module names of the stem (None: not exposed) and the four stages
    channels: tuple[int, int, int, int, int]
    channels_last: bool  # stage outputs are (B, H, W, C)


def build_backbone(name: str, num_classes: int, pretrained: bool = False) -> Backbone:
    if name.startswith("timm:"):
        return _timm(name[len("timm:"):], num_classes, pretrained)
    if name not in BACKBONES:
        raise ValueError(f"backbone={name!r} is not supported; use one of {', '.join(BACKBONES)} or timm:NAME")
    model = _torchvision(name, pretrained)
    if name in RESNETS:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
        expansion = type(model.layer1[0]).expansion  # 1 for BasicBlock, 4 for Bottleneck
        return Backbone(model, ("maxpool", "layer1", "layer2", "layer3", "layer4"),  # the stem ends with maxpool
                        (64, *(64 * 2 ** k * expansion for k in range(4))), channels_last=False)
    model.head = nn.Linear(model.head.in_features, num_classes)
    width = model.features[1][0].norm1.normalized_shape[0]  # 96 for t and s, 128 for b
    return Backbone(model, ("features.0", "features.1", "features.3", "features.5", "features.7"),  # 0: patch embedding
                    (width, *(width * 2 ** k for k in range(4))), channels_last=True)


def _torchvision(name: str, pretrained: bool) -> nn.Module:
    if not pretrained:
        return torchvision.models.get_model(name, weights=None)
    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        return torchvision.models.get_model(name, weights=weights)
    except Exception as e:  # offline, proxy, disk full, ...
        raise OSError(f"pretrained_backbone=True: cannot fetch {weights} ({type(e).__name__}: {e}); go online once "
                      f"(weights are cached in {torch.hub.get_dir()}) or pass pretrained_backbone=False") from None


def _timm(name: str, num_classes: int, pretrained: bool) -> Backbone:
    try:
        import timm
    except ImportError:
        raise ImportError(f"backbone='timm:{name}' needs timm: pip install -e \".[timm]\"") from None
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=num_classes)
    except RuntimeError as e:  # unknown model name
        raise ValueError(f"backbone='timm:{name}': {e}") from None
    except Exception as e:  # pretrained weights could not be fetched
        raise OSError(f"backbone='timm:{name}', pretrained: cannot fetch the weights ({type(e).__name__}); "
                      "go online once or pass pretrained_backbone=False") from None
    info = list(getattr(model, "feature_info", []))
    if len(info) < 4:
        raise ValueError(f"backbone='timm:{name}' does not expose four feature stages; choose another timm model")
    stem = info[-5] if len(info) >= 5 else {"module": None, "num_chs": 0}  # 0: the model exposes no stem
    return Backbone(model, tuple(i["module"] for i in [stem, *info[-4:]]), tuple(i["num_chs"] for i in [stem, *info[-4:]]),
                    channels_last=getattr(model, "output_fmt", "NCHW") == "NHWC")
