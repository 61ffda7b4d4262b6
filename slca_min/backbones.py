"""The classifier backbones and where their four stages are: torchvision ResNets and Swin V2, and timm models.

A backbone is the library's own model, unchanged (its state-dict keys stay its own), plus the
names of the five modules whose outputs a gate may multiply (position 0, the stem, then the four
stages), their channels, and their layout: torchvision's Swin V2 and timm's transformers keep
stage outputs channels-last (B, H, W, C).

Where its weights start (backbone_weights): "none" (random, trained from scratch), "imagenet"
(torchvision's or timm's, downloaded once), "miniature" (the library's stand-in for ImageNet,
imagenet_standin/; ResNet-18 only) or the path of a state dict with the model's own keys.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from .imagenet_standin.pretrain import STAND_IN, ShapesConfig, pretrained_state, recipe_id
from .utils.files import atomic_write, build_once, cache_path, file_weights, write_json

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
SWINS = ("swin_v2_t", "swin_v2_s", "swin_v2_b")
BACKBONES = RESNETS + SWINS  # and "timm:NAME" for any timm model with four feature stages
WEIGHTS = ("none", "imagenet", "miniature")  # or the path of a state dict
SCRATCH = "none (trained from scratch)"


@dataclass
class Backbone:
    model: nn.Module
    stages: tuple[str | None, str, str, str, str]  # module names of the stem (None: not exposed) and the four stages
    channels: tuple[int, int, int, int, int]
    channels_last: bool  # stage outputs are (B, H, W, C)
    weights: str = SCRATCH  # where the weights started, printed next to every number the model produces


def build_backbone(name: str, num_classes: int, weights: str = "none") -> Backbone:
    """The backbone `name` with a `num_classes` head, its other weights from `weights` (see the module docstring)."""
    weights = str(weights)
    if weights == "miniature" and name != "resnet18":
        raise ValueError(f"backbone_weights='miniature' exists for resnet18 only (backbone={name!r}); "
                         "use resnet18, or none, imagenet or a weights file")
    if name.startswith("timm:"):
        built = _timm(name[len("timm:"):], num_classes, weights == "imagenet")
    elif name not in BACKBONES:
        raise ValueError(f"backbone={name!r} is not supported; use one of {', '.join(BACKBONES)} or timm:NAME")
    else:
        built = _torchvision(name, num_classes, weights == "imagenet")
    built.weights = weights_label(name, weights)  # a missing file: FileNotFoundError naming it
    if weights not in ("none", "imagenet"):
        _load_body(built.model, backbone_miniature() if weights == "miniature" else Path(weights), name)
    return built


def weights_label(name: str, weights: str) -> str:
    """What the backbone's weights are, for results and model.pt: a file by its hash, the stand-in as a stand-in."""
    if weights == "none":
        return SCRATCH
    if weights == "imagenet":
        return f"ImageNet (timm: {name[5:]})" if name.startswith("timm:") else \
            f"ImageNet ({torchvision.models.get_model_weights(name).DEFAULT})"
    if weights == "miniature":
        return f"{file_weights(backbone_miniature())} ({STAND_IN})"
    if not Path(weights).is_file():
        raise FileNotFoundError(f"{weights}: no such weights file; --backbone-weights takes none, imagenet, miniature "
                                "or the path of a state dict")
    return file_weights(weights)


def backbone_miniature(path: str | Path | None = None, *, config: ShapesConfig = ShapesConfig(),
                       progress: bool = True) -> Path:
    """The stand-in's weights file ($SLCA_BACKBONE_MINIATURE, else ~/.cache/slca_min/resnet18_shapes-RECIPE.pth),
    built on first use with a line saying so and how long it takes."""
    def build(path: Path) -> None:
        print(f"building the stand-in for ImageNet (once; about 5 min on 2 CPU cores): {path}")
        content, info = pretrained_state(config, progress=progress)
        with atomic_write(path) as tmp:
            tmp.write_bytes(content)
        write_json(path.with_suffix(".json"), info)
        print(f"built in {info['seconds']:.0f} s; held-out accuracy on its 32 shape classes "
              f"{info['held_out_accuracy']:.3f} (chance 0.031)")
    path = Path(path) if path else cache_path("SLCA_BACKBONE_MINIATURE", f"resnet18_shapes-{recipe_id(config)}.pth")
    return build_once(path, build, what="the stand-in backbone", variable="SLCA_BACKBONE_MINIATURE")


def _load_body(model: nn.Module, path: Path, name: str) -> None:
    """Every weight of `path` except the classifier head (fc / head), which stays new: the classes are the user's."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        head = [k for k in model.state_dict() if k.split(".")[0] in ("fc", "head")]
        missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k not in head}, strict=False)
        if set(missing) - set(head) or unexpected:
            raise KeyError(f"{len(set(missing) - set(head))} missing, {len(unexpected)} unexpected keys")
    except Exception as e:
        raise ValueError(f"{path}: not a state dict of {name} ({type(e).__name__}: {e}); pass weights saved from "
                         f"that architecture") from None


DOWNLOAD_TIMEOUT = 60.0  # seconds without an answer before the ImageNet download gives up (a network that hangs)


def _torchvision(name: str, num_classes: int, imagenet: bool) -> Backbone:
    weights = torchvision.models.get_model_weights(name).DEFAULT if imagenet else None
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # torch.hub's download waits forever otherwise
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except Exception as e:  # offline, proxy, a server that never answers, disk full, ...
        raise OSError(f"backbone_weights='imagenet': cannot fetch {weights} ({type(e).__name__}: {e}); go online once "
                      f"(weights are cached in {torch.hub.get_dir()}) or use --backbone-weights miniature, the offline "
                      "stand-in (backbone_weights='miniature')") from None
    finally:
        socket.setdefaulttimeout(before)
    if name in RESNETS:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
        expansion = type(model.layer1[0]).expansion  # 1 for BasicBlock, 4 for Bottleneck
        return Backbone(model, ("maxpool", "layer1", "layer2", "layer3", "layer4"),  # the stem ends with maxpool
                        (64, *(64 * 2 ** k * expansion for k in range(4))), channels_last=False)
    model.head = nn.Linear(model.head.in_features, num_classes)
    width = model.features[1][0].norm1.normalized_shape[0]  # 96 for t and s, 128 for b
    return Backbone(model, ("features.0", "features.1", "features.3", "features.5", "features.7"),  # 0: patch embedding
                    (width, *(width * 2 ** k for k in range(4))), channels_last=True)


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
        raise OSError(f"backbone='timm:{name}', backbone_weights='imagenet': cannot fetch the weights "
                      f"({type(e).__name__}); go online once or use --backbone-weights none") from None
    info = list(getattr(model, "feature_info", []))
    if len(info) < 4:
        raise ValueError(f"backbone='timm:{name}' does not expose four feature stages; choose another timm model")
    stem = info[-5] if len(info) >= 5 else {"module": None, "num_chs": 0}  # 0: the model exposes no stem
    return Backbone(model, tuple(i["module"] for i in [stem, *info[-4:]]), tuple(i["num_chs"] for i in [stem, *info[-4:]]),
                    channels_last=getattr(model, "output_fmt", "NCHW") == "NHWC")
