"""SAM's image encoders and their checkpoint files: configurations, builders, and reading a state dict safely.

The configurations are segment_anything/build_sam.py's, keyed by the names SAM uses, plus "tiny"
(the same class with small dims and a 256-px input) for tests, quick runs and the miniature.
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from ..utils.files import file_weights, read_json, sha256_of
from .preprocessing import PIXEL_MEAN, PIXEL_STD

# Tiny keeps SAM's layout in miniature: four global-attention blocks, the last one feeding the neck, after a
# windowed one, so that it has the same feature levels (levels.py).
ENCODER_CONFIGS = {
    "vit_b": dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11), img_size=1024, window_size=14),
    "vit_l": dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23), img_size=1024, window_size=14),
    "vit_h": dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31), img_size=1024, window_size=14),
    "tiny": dict(embed_dim=64, depth=5, num_heads=2, global_attn_indexes=(1, 2, 3, 4), img_size=256, window_size=4),
}
PATCH = 16
DOWNLOAD_HINT = "download it with: python data_scripts/download_sam_checkpoint.py vit_b"
# Meta published no "tiny" SAM. A tiny checkpoint is the miniature (miniature.py) only when the sidecar that built it
# says so (its recipe, and the file's hash); any other tiny file is labelled as unknown, never by its size.
MINIATURE = "a tiny ViT pretrained on synthetic lesion masks by slca_min: a stand-in, not Segment Anything"
UNKNOWN_TINY = "a tiny encoder of unknown origin: no miniature's recipe and hash beside it; not Segment Anything"


def build_image_encoder(model_type: str) -> ImageEncoderViT:
    """SAM's ImageEncoderViT with the hyper-parameters of `model_type` (as in build_sam.py)."""
    if model_type not in ENCODER_CONFIGS:
        raise ValueError(f"model_type={model_type!r} is unknown; use one of {', '.join(ENCODER_CONFIGS)}")
    return ImageEncoderViT(**ENCODER_CONFIGS[model_type], patch_size=PATCH, mlp_ratio=4, out_chans=256, qkv_bias=True,
                           norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True)


def untrained_image_encoder(model_type: str, seed: int) -> ImageEncoderViT:
    """Random weights, deterministic for `seed` (the caller's random state is left alone). Position embeddings,
    zero at SAM's init, are drawn too (std 0.02) so that every part of the encoder takes part in the computation."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_image_encoder(model_type)
        with torch.no_grad():
            for name, p in encoder.named_parameters():
                if "pos" in name:
                    p.normal_(0.0, 0.02)
    return encoder


def build_sam(image_encoder: ImageEncoderViT) -> Sam:
    """A complete SAM around `image_encoder` (prompt encoder and mask decoder as in build_sam.py).

    Used as the reference: tests compare `SAMEncoder.embed` with `SamPredictor` on this model.
    """
    size = image_encoder.img_size
    return Sam(
        image_encoder=image_encoder,
        prompt_encoder=PromptEncoder(embed_dim=256, image_embedding_size=(size // PATCH, size // PATCH),
                                     input_image_size=(size, size), mask_in_chans=16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8)),
        pixel_mean=list(PIXEL_MEAN), pixel_std=list(PIXEL_STD),
    ).eval()


def read_checkpoint(path: Path, model_type: str | None = None, *,
                    preprocess: str = "sam") -> tuple[ImageEncoderViT, str, str]:
    """An official SAM checkpoint (a `Sam` state dict) or an encoder-only state dict -> (the encoder with its weights,
    its model type, a label naming the file). The type is read from the weights (`patch_embed.proj.weight` is
    (embed_dim, 3, 16, 16)); anything else is a ValueError naming the file and what to do. A MedSAM file read for
    SAM's preprocessing gets a note."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint; {DOWNLOAD_HINT}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: cannot be read as a PyTorch checkpoint, truncated or corrupt "
                         f"({type(e).__name__}); {DOWNLOAD_HINT}") from None
    key = "patch_embed.proj.weight"
    if not isinstance(state, dict) or not ({key, "image_encoder." + key} & state.keys()):
        raise ValueError(f"{path}: not a SAM checkpoint (no image_encoder.{key}); {DOWNLOAD_HINT}")
    if "image_encoder." + key in state:  # full Sam state dict: keep the encoder's part
        state = {k[len("image_encoder."):]: v for k, v in state.items() if k.startswith("image_encoder.")}
    dims = {cfg["embed_dim"]: name for name, cfg in ENCODER_CONFIGS.items()}
    found = dims.get(state[key].shape[0])
    if found is None:
        raise ValueError(f"{path}: {key} has shape {tuple(state[key].shape)}, which matches no SAM encoder")
    if model_type is not None and model_type != found:
        raise ValueError(f"{path}: holds {found} weights but model_type={model_type!r} was given; "
                         f"pass model_type={found!r} or leave it out")
    encoder = build_image_encoder(found)
    try:
        encoder.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise ValueError(f"{path}: weights do not fit a {found} encoder ({first}); {DOWNLOAD_HINT}") from None
    if "medsam" in path.name.lower() and preprocess == "sam":
        print(f"{path.name}: MedSAM's weights were fine-tuned on MedSAM's preprocessing; pass preprocess='medsam' "
              "(--sam-preprocess medsam)", file=sys.stderr)
    weights = file_weights(path)
    if found == "tiny":
        weights += f" ({MINIATURE if built_as_miniature(path) else UNKNOWN_TINY})"
    return encoder, found, weights


def built_as_miniature(path: Path) -> bool:
    """True when the sidecar build_miniature writes (PATH.json) names a recipe and these bytes' sha256 (sidecars of
    0.5 and earlier name no hash: their recipe is taken as it is)."""
    info = read_json(path.with_suffix(".json"))
    return "recipe" in info and ("sha256" not in info or info["sha256"] == sha256_of(path))
