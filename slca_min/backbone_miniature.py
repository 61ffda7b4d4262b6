"""A stand-in for ImageNet: a ResNet-18 pretrained by the library on synthetic shape scenes.

Data-efficiency claims are made where users start, from ImageNet weights; offline there are none,
and a ResNet-18 trained from scratch on a few dozen images learns nothing that a gate could select.
So, as the miniature encoder stands in for SAM, this stands in for ImageNet: torchvision's own
ResNet-18, pretrained to tell 32 classes of generic shapes and fills apart (shape_scenes.py; no
phantom and no phantom label in it). It is never ImageNet, and its label says so wherever a number
it produced appears.

Built on first use (a few minutes on 2 CPU cores, once) into ~/.cache/slca_min (or the file named
by $SLCA_BACKBONE_MINIATURE), not shipped; the file name carries a hash of the recipe, the label the
file's own hash.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from tqdm import tqdm

from .files import atomic_write, build_once, cache_path, file_weights, write_json
from .shape_scenes import CLASS_NAMES, HELD_OUT_SHAPES_SEED, SHAPES_SEED, shape_scenes

RECIPE_VERSION = 1  # bump when shape_scenes or the training below change what gets built
STAND_IN = "a ResNet-18 pretrained on synthetic shapes by slca_min: a stand-in for ImageNet, not ImageNet"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ShapesConfig:
    scenes: int = 8192  # 64-px training scenes, flipped at random
    steps: int = 600  # AdamW steps, one-cycle schedule
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = SHAPES_SEED

    def __post_init__(self):
        if self.steps < 20 or self.scenes < 32:  # the one-cycle warm-up takes a tenth of the steps: at least 2
            raise ValueError(f"steps={self.steps}, scenes={self.scenes}: need at least 20 steps and 32 scenes")


QUICK = ShapesConfig(scenes=512, steps=30)  # for the tests: seconds, not minutes; the weights are not the point there


def normalized(images: np.ndarray) -> torch.Tensor:
    """(N, S, S) uint8 grey -> (N, 3, S, S), ImageNet-normalized: what RegionDataset feeds the classifier."""
    x = torch.from_numpy(images).float().div(255)[:, None].expand(-1, 3, -1, -1)
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def pretrain(config: ShapesConfig = ShapesConfig(), *, progress: bool = True) -> tuple[torch.nn.Module, float]:
    """Train torchvision's ResNet-18 on shape scenes; returns the model (fc: 32 classes) and its held-out accuracy."""
    images, labels, _ = shape_scenes(config.scenes, seed=config.seed)
    labels = torch.from_numpy(labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = torchvision.models.resnet18(weights=None, num_classes=len(CLASS_NAMES))
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.1)
        generator = torch.Generator().manual_seed(0)
        model.train()
        for _ in tqdm(range(config.steps), desc="pretraining the stand-in backbone", disable=None if progress else True):
            idx = torch.randint(len(images), (config.batch_size,), generator=generator)
            x = normalized(images[idx.numpy()])  # (b, 3, 64, 64)
            if torch.rand((), generator=generator) < 0.5:
                x = x.flip(-1)
            loss = F.cross_entropy(model(x), labels[idx], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval(), held_out_accuracy(model)


@torch.no_grad()
def held_out_accuracy(model: torch.nn.Module, n: int = 1024) -> float:
    """Accuracy on shape scenes drawn from their own seed, never trained on (chance: 1/32)."""
    images, labels, _ = shape_scenes(n, seed=HELD_OUT_SHAPES_SEED)
    predicted = torch.cat([model.eval()(normalized(images[i:i + 256])).argmax(1) for i in range(0, n, 256)])
    return float((predicted == torch.from_numpy(labels)).float().mean())


def recipe_id(config: ShapesConfig) -> str:
    return hashlib.sha1(json.dumps({**asdict(config), "recipe": RECIPE_VERSION}, sort_keys=True).encode()).hexdigest()[:8]


def default_path(config: ShapesConfig = ShapesConfig()) -> Path:
    """$SLCA_BACKBONE_MINIATURE if set, else ~/.cache/slca_min/resnet18_shapes-RECIPE.pth (XDG_CACHE_HOME respected)."""
    return cache_path("SLCA_BACKBONE_MINIATURE", f"resnet18_shapes-{recipe_id(config)}.pth")


def build_backbone_miniature(path: str | Path, config: ShapesConfig = ShapesConfig(), *, progress: bool = True) -> dict:
    """Pretrain and write the ResNet-18's state dict without its fc layer (torchvision's keys), plus a .json sidecar."""
    start = time.perf_counter()
    model, accuracy = pretrain(config, progress=progress)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    buffer = io.BytesIO()  # in memory, so that the bytes do not depend on the file name
    torch.save(state, buffer)
    with atomic_write(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    info = {"what": STAND_IN, "classes": list(CLASS_NAMES), "config": asdict(config), "recipe": RECIPE_VERSION,
            "held_out_accuracy": round(accuracy, 4), "seconds": round(time.perf_counter() - start, 1),
            "torch": torch.__version__}
    write_json(Path(path).with_suffix(".json"), info)
    return info


def backbone_miniature(path: str | Path | None = None, *, config: ShapesConfig = ShapesConfig(),
                       progress: bool = True) -> Path:
    """The stand-in's weights file, built on first use (with a line saying so and how long it takes)."""
    def build(path: Path) -> None:
        print(f"building the stand-in for ImageNet (once; about 5 min on 2 CPU cores): {path}")
        info = build_backbone_miniature(path, config, progress=progress)
        print(f"built in {info['seconds']:.0f} s; held-out accuracy on its 32 shape classes "
              f"{info['held_out_accuracy']:.3f} (chance 0.031)")
    return build_once(Path(path) if path else default_path(config), build, what="the stand-in backbone",
                      variable="SLCA_BACKBONE_MINIATURE")


def miniature_label(path: Path) -> str:
    return f"{file_weights(path)} ({STAND_IN})"
