"""The miniature: SAM's own ImageEncoderViT ("tiny" configuration) pretrained to segment synthetic lesions.

Real SAM weights cannot be downloaded on machines without internet, and an untrained encoder can
only show that the pipeline runs. The miniature is trained the way SAM was (masks, no classes) on
lesion_scenes.py, so that offline runs show the paper's mechanism with trained segmentation
features. It is a stand-in, never SAM: its weights label says so.

Decoder: a per-token MLP with pixel shuffle (MaskHead), not SAM's MaskDecoder. It mixes no
positions, so whatever the mask needs at a place must be in the embedding at that place, which is
exactly what SLCA pools into regions; and it costs almost nothing next to the two-way transformer.

Built on first use (about 3 minutes on 2 CPU cores, once) into ~/.cache/slca_min (or the file
named by $SLCA_MINIATURE), not shipped: a file rebuilt on another CPU need not match bit for bit,
and a recipe change gets a new file name instead of a stale file.
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
from torch import nn
from tqdm import tqdm

from ..utils.files import atomic_write, build_once, cache_path, sha256_of, write_json
from .checkpoints import ENCODER_CONFIGS
from .encoder import SAMEncoder
from .lesion_scenes import HELD_OUT_SEED, PRETRAIN_SEED, lesion_scenes

RECIPE_VERSION = 2  # bump when lesion_scenes or the training below change what gets built (2: tiny has 5 blocks)


@dataclass(frozen=True)
class PretrainConfig:
    scenes: int = 2048  # 64-px training scenes, flipped at random
    steps: int = 500  # AdamW steps, one-cycle schedule
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = PRETRAIN_SEED

    def __post_init__(self):
        if self.steps < 20 or self.scenes < 16:  # the one-cycle warm-up takes a tenth of the steps: at least 2
            raise ValueError(f"steps={self.steps}, scenes={self.scenes}: need at least 20 steps and 16 scenes")


QUICK = PretrainConfig(scenes=512, steps=150)  # for the tests: 39 s on the AMD; its probe 0.79 against 0.66 untrained


class MaskHead(nn.Module):
    """(B, 256, g, g) embedding -> (B, 1, 4g, 4g) mask logits, one token at a time (1x1 convs, pixel shuffle)."""

    def __init__(self, in_channels: int = 256, hidden: int = 64, upscale: int = 4):
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.GELU(), nn.Conv2d(hidden, upscale ** 2, 1))
        self.shuffle = nn.PixelShuffle(upscale)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.mlp(embedding))  # (B, 16, g, g) -> (B, 1, 4g, 4g)


def dice(logits: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean Dice over images of the thresholded prediction (an image with no lesion and none predicted scores 1)."""
    pred, target = (logits > 0).flatten(1).float(), masks.flatten(1).float()
    overlap, total = (pred * target).sum(1), pred.sum(1) + target.sum(1)
    return float(torch.where(total > 0, 2 * overlap / total.clamp(min=1), torch.ones_like(total)).mean())


def _fit_head(head: MaskHead, inputs: torch.Tensor, masks: torch.Tensor, *, steps: int, batch_size: int, lr: float,
              weight_decay: float, forward, params, desc: str, progress: bool) -> None:
    """AdamW on BCE + soft Dice, random flips; `forward` maps a batch of inputs to embeddings."""
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(0)
    for _ in tqdm(range(steps), desc=desc, disable=None if progress else True):  # None: on a terminal only
        idx = torch.randint(len(inputs), (batch_size,), generator=generator)
        x, m = inputs[idx], masks[idx, None].float()  # (b, 3, S, S), (b, 1, 64, 64)
        if torch.rand((), generator=generator) < 0.5:
            x, m = x.flip(-1), m.flip(-1)
        logits = head(forward(x))
        p = torch.sigmoid(logits)
        soft_dice = 1 - (2 * (p * m).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + m.sum((1, 2, 3)) + 1)
        loss = F.binary_cross_entropy_with_logits(logits, m) + soft_dice.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()


def scene_inputs(images: np.ndarray) -> torch.Tensor:
    """Scenes preprocessed exactly as SAMEncoder does at extraction: (N, 3, 256, 256)."""
    preprocess = SAMEncoder.untrained("tiny").preprocess
    return torch.stack([preprocess(image, i)[0] for i, image in enumerate(images)])


def pretrain(config: PretrainConfig = PretrainConfig(), *, scenes: tuple[np.ndarray, np.ndarray] | None = None,
             progress: bool = True) -> tuple[dict, MaskHead]:
    """Train the tiny encoder and a MaskHead on lesion scenes (or `scenes`: images and their masks at 64 x 64, e.g.
    haystack scenes); returns the encoder's state dict (SAM's keys) and the head."""
    images, masks = scenes if scenes is not None else lesion_scenes(config.scenes, seed=config.seed)
    inputs, masks = scene_inputs(images), torch.from_numpy(masks)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        encoder = SAMEncoder.untrained("tiny", seed=config.seed).image_encoder.requires_grad_(True)
        head = MaskHead()
        _fit_head(head, inputs, masks, steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                  weight_decay=config.weight_decay, forward=encoder, params=[*encoder.parameters(), *head.parameters()],
                  desc="pretraining the miniature", progress=progress)
    return {k: v.detach().clone() for k, v in encoder.state_dict().items()}, head.eval()


def probe_dice(encoder: SAMEncoder, *, train_scenes: int = 512, test_scenes: int = 256, steps: int = 300,
               scenes: tuple[np.ndarray, np.ndarray] | None = None, progress: bool = False) -> float:
    """How well the frozen encoder's embedding separates lesion from background: the held-out Dice of a fresh
    MaskHead trained on its embeddings (the same probe for every encoder). `scenes`: (images, masks at 4x the
    encoder's grid) of train_scenes + test_scenes other images (e.g. phantoms of a difficulty level), instead of
    held-out lesion scenes."""
    images, masks = scenes if scenes is not None else lesion_scenes(train_scenes + test_scenes, seed=HELD_OUT_SEED)
    if len(images) != train_scenes + test_scenes:
        raise ValueError(f"scenes: {len(images)} images, expected train_scenes + test_scenes = {train_scenes + test_scenes}")
    embedding, masks = encoder.embed(list(images), batch_size=64), torch.from_numpy(masks)  # (N, 256, 16, 16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        head = MaskHead()
        _fit_head(head, embedding[:train_scenes], masks[:train_scenes], steps=steps, batch_size=64, lr=3e-3,
                  weight_decay=1e-4, forward=lambda e: e, params=list(head.parameters()), desc="probe", progress=progress)
    with torch.no_grad():
        return dice(head(embedding[train_scenes:]), masks[train_scenes:])


def recipe_id(config: PretrainConfig) -> str:
    return hashlib.sha1(json.dumps({**asdict(config), "recipe": RECIPE_VERSION, "tiny": ENCODER_CONFIGS["tiny"]}, sort_keys=True).encode()).hexdigest()[:8]


def default_path(config: PretrainConfig = PretrainConfig()) -> Path:
    """$SLCA_MINIATURE if set, else ~/.cache/slca_min/tiny_lesions-RECIPE.pth (XDG_CACHE_HOME respected)."""
    return cache_path("SLCA_MINIATURE", f"tiny_lesions-{recipe_id(config)}.pth")


def build_miniature(path: str | Path, config: PretrainConfig = PretrainConfig(), *, progress: bool = True,
                    scenes: tuple[np.ndarray, np.ndarray] | None = None, held_out: tuple[np.ndarray, np.ndarray] | None = None,
                    what: str = "synthetic lesion masks") -> dict:
    """Pretrain and write a SAM-format checkpoint (image_encoder.* keys) plus a .json sidecar; returns the sidecar.
    `scenes` and `held_out` (images, masks at 64 x 64): train on other scenes than lesion_scenes, named by `what`."""
    start = time.perf_counter()
    state, head = pretrain(config, scenes=scenes, progress=progress)
    # held out from both pretraining and the probe
    images, masks = held_out if held_out is not None else lesion_scenes(256, seed=HELD_OUT_SEED + 1)
    with torch.no_grad():
        encoder = SAMEncoder.untrained("tiny")
        encoder.image_encoder.load_state_dict(state)
        decoder_dice = dice(head(encoder.embed(list(images), batch_size=64)), torch.from_numpy(masks))
    buffer = io.BytesIO()  # in memory, so that the bytes do not depend on the file name (torch records it)
    torch.save({f"image_encoder.{k}": v for k, v in state.items()}, buffer)
    with atomic_write(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    info = {"what": f"tiny ImageEncoderViT pretrained on {what} (a stand-in, not SAM's weights)",
            "config": asdict(config), "recipe": RECIPE_VERSION, "held_out_decoder_dice": round(decoder_dice, 4),
            "seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__,
            "sha256": sha256_of(path)}  # the file's identity: its label follows this, never its size
    write_json(Path(path).with_suffix(".json"), info)
    return info


def miniature_checkpoint(path: str | Path | None = None, *, config: PretrainConfig = PretrainConfig(),
                         progress: bool = True) -> Path:
    """The miniature's checkpoint, built on first use (with a line saying so and how long it takes)."""
    def build(path: Path) -> None:
        print(f"building the miniature encoder (once; about 3 min on 2 CPU cores): {path}")
        info = build_miniature(path, config, progress=progress)
        print(f"built in {info['seconds']:.0f} s; held-out Dice of its mask decoder {info['held_out_decoder_dice']:.3f}")
    return build_once(Path(path) if path else default_path(config), build, what="the miniature encoder",
                      variable="SLCA_MINIATURE")
