"""A stand-in for ImageNet: a ResNet-18 pretrained by the library on synthetic shape scenes.

Data-efficiency claims are made where users start, from ImageNet weights; offline there are none,
and a ResNet-18 trained from scratch on a few dozen images learns nothing that a gate could select.
So, as the miniature encoder stands in for SAM, this stands in for ImageNet: torchvision's own
ResNet-18, pretrained to tell 32 classes of generic shapes and fills apart (shape_scenes.py; no
phantom and no phantom label in it). It is never ImageNet, and its label says so wherever a number
it produced appears.

Only the recipe lives here (pure torch); backbones.py builds the weights file on first use (a few
minutes on 2 CPU cores, once) into ~/.cache/slca_min (or the file named by $SLCA_BACKBONE_MINIATURE),
not shipped; the file name carries a hash of the recipe, the label the file's own hash.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from tqdm import tqdm

from .shape_scenes import CLASS_NAMES, HELD_OUT_SHAPES_SEED, SHAPES_SEED, shape_scenes

RECIPE_VERSION = 1  # bump when shape_scenes or the training below change what gets built
STAND_IN = "a ResNet-18 pretrained on synthetic shapes by slca_min: a stand-in for ImageNet, not ImageNet"
IMAGENET = torchvision.models.ResNet18_Weights.DEFAULT.transforms()  # the channel mean and std, as RegionDataset


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
    return (x - torch.tensor(IMAGENET.mean).view(1, 3, 1, 1)) / torch.tensor(IMAGENET.std).view(1, 3, 1, 1)


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


def pretrained_state(config: ShapesConfig = ShapesConfig(), *, progress: bool = True) -> tuple[bytes, dict]:
    """The pretrained ResNet-18's state dict without its fc layer (torchvision's keys), serialized, and what made it."""
    start = time.perf_counter()
    model, accuracy = pretrain(config, progress=progress)
    buffer = io.BytesIO()  # in memory, so that the bytes do not depend on a file name
    torch.save({k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}, buffer)
    info = {"what": STAND_IN, "classes": list(CLASS_NAMES), "config": asdict(config), "recipe": RECIPE_VERSION,
            "held_out_accuracy": round(accuracy, 4), "seconds": round(time.perf_counter() - start, 1),
            "torch": torch.__version__}
    return buffer.getvalue(), info
