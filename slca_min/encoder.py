"""SAMEncoder: SAM's image encoder, frozen, as a batched feature extractor.

Preprocessing is exactly `SamPredictor.set_image` (ResizeLongestSide, normalize, zero-pad), so
`enc.embed([img])` equals `predictor.set_image(img); predictor.get_image_embedding()`. Two
speed-ups keep the weights and the features: attention through
`F.scaled_dot_product_attention` (same maths as SAM's explicit attention matrices), and an
optional smaller `sam_input` (the absolute position embedding is resampled; this one does change
the features, a documented speed/fidelity trade-off).
"""
from __future__ import annotations

import hashlib
import math
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from segment_anything.modeling.image_encoder import Attention
from segment_anything.utils.transforms import ResizeLongestSide

from .attention import FlexAttention, SDPAAttention
from .precision import PRECISIONS, quantize_int8

# The official encoders (segment_anything/build_sam.py) and "tiny", the same class with small
# dims and a 256-px input, for tests and quick runs. Keyed by the name SAM uses.
ENCODER_CONFIGS = {
    "vit_b": dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11), img_size=1024, window_size=14),
    "vit_l": dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23), img_size=1024, window_size=14),
    "vit_h": dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31), img_size=1024, window_size=14),
    "tiny": dict(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,), img_size=256, window_size=4),
}
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)
PATCH = 16
ATTENTIONS = {"sam": Attention, "sdpa": SDPAAttention, "flex": FlexAttention}
DOWNLOAD_HINT = "download it with: python data_scripts/download_sam_checkpoint.py vit_b"
# Meta published no "tiny" SAM: a tiny checkpoint is the miniature (miniature.py), and its label says what it is.
MINIATURE = "a tiny ViT pretrained on synthetic lesion masks by slca_min: a stand-in, not Segment Anything"


def build_image_encoder(model_type: str) -> ImageEncoderViT:
    """SAM's ImageEncoderViT with the hyper-parameters of `model_type` (as in build_sam.py)."""
    if model_type not in ENCODER_CONFIGS:
        raise ValueError(f"model_type={model_type!r} is unknown; use one of {', '.join(ENCODER_CONFIGS)}")
    return ImageEncoderViT(**ENCODER_CONFIGS[model_type], patch_size=PATCH, mlp_ratio=4, out_chans=256, qkv_bias=True,
                           norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True)


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


def to_rgb(image, index: int = 0) -> np.ndarray:
    """One image as HxWx3 uint8 RGB: grey is repeated, alpha dropped; anything else is an error."""
    if isinstance(image, Image.Image):
        image = image.convert("RGB")
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"image {index}: dtype {a.dtype}; expected uint8 (scale to 0..255 and use .astype(np.uint8))")
    if a.ndim == 3 and a.shape[2] == 4:  # RGBA: alpha dropped
        a = a[:, :, :3]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:  # grey: repeated to 3 channels
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3 or min(a.shape[:2]) == 0:
        raise ValueError(f"image {index}: shape {a.shape}; expected HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA)")
    return a


def file_weights(path: Path) -> str:
    """'name sha256:12345678': a short, checkable name for the weights in a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.name} sha256:{digest.hexdigest()[:8]}"


class SAMEncoder(torch.nn.Module):
    """Frozen SAM image encoder: images in, (B, 256, S/16, S/16) embeddings or pooled regions out.

    Args:
        image_encoder: segment_anything's ImageEncoderViT.
        model_type: "vit_b", "vit_l", "vit_h" or "tiny".
        weights: what produced the weights, printed next to every number computed from them.
        sam_input: the side of SAM's square input. Default: the encoder's own (1024; 256 for
            tiny). Smaller (512, 256) is ~4x fewer tokens: much faster, features differ.
        attention: "sdpa" (default, faster than SAM's own), "flex" (FlexAttention, for GPUs) or "sam".
        fast_attention: False is the same as attention="sam" (kept for older code).
        precision: "fp32" (default; bf16 autocast on a GPU) or "int8" (CPU only: dynamic int8
            quantization of the Linear layers, attention kept in fp32; faster, slightly different).
    """

    def __init__(self, image_encoder: ImageEncoderViT, *, model_type: str, weights: str,
                 sam_input: int | None = None, fast_attention: bool = True, device: str | torch.device = "cpu",
                 precision: str = "fp32", attention: str = "sdpa"):
        super().__init__()
        sam_input = sam_input or image_encoder.img_size
        if sam_input <= 0 or sam_input % PATCH:
            raise ValueError(f"sam_input={sam_input}: must be a positive multiple of {PATCH} (e.g. 1024, 512, 256)")
        self.image_encoder = image_encoder.requires_grad_(False).eval()
        self.model_type, self.weights, self.sam_input = model_type, weights, sam_input
        self.transform = ResizeLongestSide(sam_input)
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(3, 1, 1), persistent=False)
        for block in image_encoder.blocks:
            block.attn.__class__ = ATTENTIONS[attention if fast_attention else "sam"]
        if attention not in ATTENTIONS:
            raise ValueError(f"attention={attention!r}: use one of {', '.join(ATTENTIONS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: use one of {', '.join(PRECISIONS)}")
        if precision == "int8" and torch.device(device).type != "cpu":
            raise ValueError("precision='int8' runs on the CPU only; use --device cpu (a GPU runs fp32 weights in bf16)")
        self._int8 = precision == "int8"
        if self._int8:
            self.image_encoder = quantize_int8(self.image_encoder)
        self.to(device)

    @classmethod
    def untrained(cls, kind: str = "tiny", *, seed: int = 0, **kwargs) -> SAMEncoder:
        """Random weights (deterministic for `seed`): for tests, speed checks and offline runs.

        Position embeddings, zero at SAM's init, are drawn too (std 0.02) so that every part of
        the encoder, relative positions included, takes part in the computation.
        """
        with torch.random.fork_rng(devices=[]):  # the caller's random state is left alone
            torch.manual_seed(seed)
            encoder = build_image_encoder(kind)
            with torch.no_grad():
                for name, p in encoder.named_parameters():
                    if "pos" in name:
                        p.normal_(0.0, 0.02)
        return cls(encoder, model_type=kind, weights=f"untrained {kind}, seed {seed}", **kwargs)

    @classmethod
    def from_checkpoint(cls, path: str | Path, model_type: str | None = None, device: str | torch.device = "cpu",
                        **kwargs) -> SAMEncoder:
        """Load an official SAM checkpoint (a `Sam` state dict) or an encoder-only state dict.

        The model type is read from the weights (`patch_embed.proj.weight` is (embed_dim, 3, 16, 16)).
        """
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
        weights = file_weights(path) + (f" ({MINIATURE})" if found == "tiny" else "")
        return cls(encoder, model_type=found, weights=weights, device=device, **kwargs)

    @property
    def trained(self) -> bool:
        """False for random weights: their outputs are pipeline checks, never SAM results."""
        return not self.weights.startswith("untrained")

    @property
    def precision(self) -> str:
        """The arithmetic the encoder runs in (part of the cache key): int8 Linear layers, bf16 autocast on a GPU, or fp32."""
        return "int8" if self._int8 else "bf16" if self.device.type == "cuda" else "fp32"

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def train(self, mode: bool = True) -> SAMEncoder:
        """The encoder stays in eval mode whatever its parent does."""
        super().train(mode)
        self.image_encoder.eval()
        return self

    def preprocess(self, image, index: int = 0, on_device: bool | None = None) -> tuple[torch.Tensor, tuple[int, int]]:
        """One image -> (3, S, S) normalized and padded, as SamPredictor.set_image, and its unpadded (h, w).

        On the CPU the resize is SamPredictor's own (PIL). On a GPU (on_device=None means: when the
        encoder is on one) the uint8 image is uploaded and resized there (bilinear, antialiased,
        rounded to integers like PIL's output): the same pixels within one grey level, so that the
        CPU does not limit a fast GPU.
        """
        rgb = to_rgb(image, index)
        if on_device if on_device is not None else self.device.type == "cuda":
            h, w = self.transform.get_preprocess_shape(rgb.shape[0], rgb.shape[1], self.sam_input)
            x = torch.as_tensor(rgb, device=self.device).permute(2, 0, 1)[None].float()  # (1, 3, H0, W0)
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0].round().clamp(0, 255)
        else:
            resized = self.transform.apply_image(rgb)  # (h, w, 3) uint8, longest side S
            x = torch.as_tensor(resized, device=self.device).permute(2, 0, 1)  # (3, h, w)
            h, w = resized.shape[:2]
        x = (x - self.pixel_mean) / self.pixel_std
        return F.pad(x, (0, self.sam_input - w, 0, self.sam_input - h)), (h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) preprocessed -> (B, 256, S/16, S/16): ImageEncoderViT.forward for any S."""
        enc = self.image_encoder
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.is_cuda):
            x = enc.patch_embed(x)  # (B, S/16, S/16, C)
            if enc.pos_embed is not None:
                x = x + self._pos_embed(x.shape[1:3])
            for block in enc.blocks:
                x = block(x)
            x = enc.neck(x.permute(0, 3, 1, 2))  # (B, 256, S/16, S/16)
        return x.float()

    def _pos_embed(self, size: tuple[int, int]) -> torch.Tensor:
        pos = self.image_encoder.pos_embed  # (1, 64, 64, C) for the official encoders
        if tuple(pos.shape[1:3]) == tuple(size):
            return pos
        pos = F.interpolate(pos.permute(0, 3, 1, 2), size=tuple(size), mode="bicubic", antialias=True, align_corners=False)
        return pos.permute(0, 2, 3, 1)  # (1, S/16, S/16, C)

    @property
    def default_batch_size(self) -> int:
        """8 on a GPU; 1 on the CPU, where batching ViT-B measured slower and took 5x the memory (benchmarks/)."""
        return 8 if self.device.type == "cuda" else 1

    def _batches(self, images: Sequence, batch_size: int | None):
        if isinstance(images, (Image.Image, str, Path)):
            raise ValueError("images: expected a list of images; wrap a single image in a list")
        if len(images) == 0:
            raise ValueError("images: the list is empty")
        batch_size = self.default_batch_size if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be at least 1")
        for start in range(0, len(images), batch_size):
            prepared = [self.preprocess(images[i], i) for i in range(start, min(start + batch_size, len(images)))]
            with torch.no_grad():
                yield self(torch.stack([x for x, _ in prepared])), [hw for _, hw in prepared]

    def embed(self, images: Sequence, batch_size: int | None = None) -> torch.Tensor:
        """List of HxW / HxWx3 / HxWx4 uint8 arrays or PIL images -> (B, 256, S/16, S/16) float32 on the encoder's device."""
        return torch.cat([emb for emb, _ in self._batches(images, batch_size)])

    def regions(self, images: Sequence, grid: int = 16, batch_size: int | None = None) -> torch.Tensor:
        """Region descriptors R: each embedding cropped to its unpadded area, then pooled to (B, 256, grid, grid)."""
        return torch.cat([self.pool_regions(emb, sizes, grid) for emb, sizes in self._batches(images, batch_size)])

    @staticmethod
    def pool_regions(embedding: torch.Tensor, sizes: list[tuple[int, int]], grid: int) -> torch.Tensor:
        """(B, 256, S/16, S/16) -> (B, 256, grid, grid), each over the patches its image covers (partial ones included)."""
        return torch.cat([F.adaptive_avg_pool2d(e[None, :, :math.ceil(h / PATCH), :math.ceil(w / PATCH)], grid)
                          for e, (h, w) in zip(embedding, sizes)])
