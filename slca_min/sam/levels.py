"""SAM's feature levels: the hidden states of the image encoder that SLCA can read, all from one pass.

The paper is read two ways (README, "Two readings of SLCA's input"): SLCA reads the neck's
256-channel embedding (the default), or five levels of the encoder, shallow to deep:

- "patch":  the patch embedding plus the absolute position embedding, (B, D, S/16, S/16)
- "early", "middle", "late": the outputs of the first three global-attention blocks, SAM's own
  `global_attn_indexes` (ViT-B 2/5/8, ViT-L 5/11/17, ViT-H 7/15/23; tiny 1/2/3), (B, D, S/16, S/16)
- "neck":   the embedding SamPredictor returns, (B, 256, S/16, S/16)

D is the encoder's width: 768 / 1024 / 1280 for ViT-B / L / H, 64 for tiny. Regions of several
levels are the levels' regions concatenated along the channels, always in LEVELS order.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import ImageEncoderViT

LEVELS = ("patch", "early", "middle", "late", "neck")
NECK = ("neck",)
NECK_CHANNELS = 256


def check_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """`levels` once each, in LEVELS order (shallow to deep); a clear error for an unknown or missing one."""
    if isinstance(levels, str):
        levels = levels.split(",")
    unknown = [level for level in levels if level not in LEVELS]
    if unknown or not levels:
        raise ValueError(f"levels={tuple(levels)}: choose from {', '.join(LEVELS)}")
    return tuple(level for level in LEVELS if level in levels)


def level_blocks(image_encoder: ImageEncoderViT) -> dict[str, int]:
    """Which block's output each of "early", "middle", "late" is: the first three global-attention blocks."""
    global_blocks = [i for i, block in enumerate(image_encoder.blocks) if block.window_size == 0]
    if len(global_blocks) < 3:
        raise ValueError(f"this encoder has {len(global_blocks)} global-attention blocks; early/middle/late need 3")
    return dict(zip(("early", "middle", "late"), global_blocks))


def level_channels(levels: Sequence[str], embed_dim: int) -> list[int]:
    """The channels of each level: D for the ViT's own levels, 256 for the neck."""
    return [NECK_CHANNELS if level == "neck" else embed_dim for level in check_levels(levels)]


def split_channels(total: int, levels: Sequence[str]) -> list[int]:
    """The channels of each level in regions of `total` channels holding `levels`.

    The ViT's levels share one width D and the neck has 256, so the total fixes them; a single
    level is the whole of it (also the oracle's 2-channel masks).
    """
    levels = check_levels(levels)
    if len(levels) == 1:
        return [total]
    vit = len(levels) - ("neck" in levels)
    embed_dim, rest = divmod(total - NECK_CHANNELS * ("neck" in levels), vit)
    if rest or embed_dim < 1:
        raise ValueError(f"regions with {total} channels cannot hold the levels {', '.join(levels)}")
    return [NECK_CHANNELS if level == "neck" else embed_dim for level in levels]


def select_levels(regions: np.ndarray, have: Sequence[str], want: Sequence[str]) -> np.ndarray:
    """The channels of the levels `want` from (N, C, g, g) regions holding `have`: a view (no copy) when they are adjacent."""
    have, want = check_levels(have), check_levels(want)
    if want == have:
        return regions
    if not set(want) <= set(have):
        raise ValueError(f"regions hold the levels {', '.join(have)}, not {', '.join(sorted(set(want) - set(have)))}")
    widths = dict(zip(have, split_channels(regions.shape[1], have)))
    starts = dict(zip(have, np.cumsum([0, *widths.values()])))
    spans = [(starts[level], starts[level] + widths[level]) for level in want]
    if all(end == start for (_, end), (start, _) in zip(spans, spans[1:])):  # adjacent: one slice
        return regions[:, spans[0][0]:spans[-1][1]]
    return np.concatenate([regions[:, start:end] for start, end in spans], axis=1)


def position_embedding(pos_embed: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """SAM's absolute position embedding (1, 64, 64, D) for a (S/16, S/16) token grid: resampled when S differs."""
    if tuple(pos_embed.shape[1:3]) == tuple(size):
        return pos_embed
    pos = F.interpolate(pos_embed.permute(0, 3, 1, 2), size=tuple(size), mode="bicubic", antialias=True, align_corners=False)
    return pos.permute(0, 2, 3, 1)  # (1, S/16, S/16, D)


def encode(image_encoder: ImageEncoderViT, x: torch.Tensor, levels: Sequence[str] = NECK) -> list[torch.Tensor]:
    """(B, 3, S, S) preprocessed -> one (B, C, S/16, S/16) tensor per level (LEVELS order), from one pass.

    The same computation as ImageEncoderViT.forward for any S; the pass stops after the deepest level asked for.
    """
    levels = check_levels(levels)
    blocks = level_blocks(image_encoder) if {"early", "middle", "late"} & set(levels) else {}
    taps = {block: level for level, block in blocks.items() if level in levels}
    # PatchEmbed returns (B, S/16, S/16, D) as a view of the convolution's (B, D, S/16, S/16): made
    # contiguous once here, or every block's LayerNorm copies it and its adds stride across memory
    # (ViT-B in bf16 on 2 cores: 0.6 s per image). Channels-first again at the exits, so the
    # levels and the neck see what they always saw: the same numbers to the bit.
    x = image_encoder.patch_embed(x).contiguous()  # (B, S/16, S/16, D)
    if image_encoder.pos_embed is not None:
        x = x + position_embedding(image_encoder.pos_embed, x.shape[1:3])
    states = {"patch": channels_first(x)}  # (B, D, S/16, S/16), like every state below
    depth = len(image_encoder.blocks) if "neck" in levels else max(taps, default=-1) + 1
    for i, block in enumerate(image_encoder.blocks[:depth]):
        x = block(x)
        if i in taps:
            states[taps[i]] = channels_first(x)
    if "neck" in levels:
        states["neck"] = image_encoder.neck(channels_first(x))  # (B, 256, S/16, S/16)
    return [states[level] for level in levels]


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, C, H, W), contiguous: the layout SAM's neck and the pooling were measured with."""
    return x.permute(0, 3, 1, 2).contiguous()
