"""Faster attention for SAM's image encoder, with SAM's own maths (swapped in by SAMEncoder).

"sdpa" (the default) passes SAM's decomposed relative-position term to
F.scaled_dot_product_attention as an additive mask, or folds it into q and k in bfloat16 on the CPU;
"flex" adds it inside FlexAttention's kernel as a score_mod. All three equal SAM's attention within
float rounding (tests/test_encoder.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos
from torch.nn.attention.flex_attention import flex_attention


class SDPAAttention(Attention):
    """SAM's Attention computed by F.scaled_dot_product_attention: same maths, no explicit matrices.

    SAM adds a decomposed relative-position term to the attention logits. In bfloat16 on the CPU it
    is folded into q and k (`folded_attention`): the fused kernel is so fast there that writing and
    reading a mask would cost more than the attention itself. Elsewhere it is the additive
    `attn_mask` (`masked_attention`). Swapped in by changing the class of SAM's own modules: weights
    and state-dict keys are untouched.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, _ = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).reshape(B, H * W, 3, heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, heads, HW, d)
        q, k, v = qkv.unbind(0)
        rel_h = rel_w = None
        if self.use_rel_pos:
            r_q = q.reshape(B, heads, H, W, -1)
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, get_rel_pos(H, H, self.rel_pos_h))  # (B, heads, H, W, H)
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, get_rel_pos(W, W, self.rel_pos_w))  # (B, heads, H, W, W)
        out = self.attend(q, k, v, rel_h, rel_w)  # (B, heads, HW, d)
        return self.proj(out.transpose(1, 2).reshape(B, H, W, -1))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor | None,
               rel_w: torch.Tensor | None) -> torch.Tensor:
        """q, k, v: (B, heads, HW, d); rel_h, rel_w: SAM's two terms, or None in a block without them. FlexAttention
        overrides this; the projections around it are shared."""
        if rel_h is None:
            return F.scaled_dot_product_attention(q, k, v)
        attend = folded_attention if q.dtype == torch.bfloat16 and not q.is_cuda else masked_attention
        return attend(q, k, v, rel_h.to(q.dtype), rel_w.to(q.dtype), scale=self.scale)


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor, *,
                     scale: float, chunk_elements: int = 4 * 2**20) -> torch.Tensor:
    """SAM's attention with its relative-position term as an additive mask.

    On the GPU the mask is built for the whole batch (one call: 1.7x SAM's attention in bf16 on an
    H200). On the CPU it is built in chunks of `chunk_elements` (16 MB in fp32): several images (or
    windows) at once where each one's mask is small, a few query rows of one image where it is not
    (a full mask for ViT-B's global blocks is 800 MB per image). Buffers that size are reused by the
    allocator instead of being mapped and page-faulted anew (1.5x on two cores), and batching the
    small windows halved a training step of the tiny ViT (benchmarks/).
    q, k, v: (B, heads, H*W, d); rel_h: (B, heads, H, W, H); rel_w: (B, heads, H, W, W).
    """
    B, heads, HW, _ = q.shape
    H, W = rel_h.shape[-1], rel_w.shape[-1]
    n = B if q.is_cuda else max(1, chunk_elements // (heads * HW * HW))  # images (or windows) per chunk
    rows = H if q.is_cuda else max(1, min(H, chunk_elements // (heads * W * HW)))  # query rows per chunk
    out = torch.empty_like(q)
    for b in range(0, B, n):
        for r in range(0, H, rows):
            bias = rel_h[b:b + n, :, r:r + rows, :, :, None] + rel_w[b:b + n, :, r:r + rows, :, None, :]
            bias = bias.reshape(len(bias), heads, -1, HW)  # (n, heads, rows, W, H, W) -> (n, heads, rows * W, HW)
            queries = slice(r * W, (r + rows) * W)
            out[b:b + n, :, queries] = F.scaled_dot_product_attention(q[b:b + n, :, queries], k[b:b + n], v[b:b + n],
                                                                      attn_mask=bias, scale=scale)
    return out


def folded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor, *,
                     scale: float) -> torch.Tensor:
    """SAM's attention with its relative-position term folded into the dot product: no mask is built.

    SAM's logit for a query and the key in row i, column j is q.k * scale + rel_h[query, i] + rel_w[query, j].
    That is one dot product of [q * scale, rel_h, rel_w] with [k, one_hot(i), one_hot(j)], so a plain
    fused attention computes it. The values are padded with zeros to the same width because the CPU's
    fused kernel takes one head size. Three times the kernel's arithmetic, but in bfloat16 on the
    development CPU (AVX-512 BF16, AMX) cheaper than a (heads x HW x HW) mask: a ViT-B global block
    198 -> 129 ms; in fp32 it is slower (benchmarks/README.md), so fp32 keeps the mask.
    q, k, v: (B, heads, H*W, d); rel_h: (B, heads, H, W, H); rel_w: (B, heads, H, W, W).
    """
    B, heads, HW, d = q.shape
    H, W = rel_h.shape[-1], rel_w.shape[-1]
    key = torch.arange(HW, device=q.device)
    key_row_column = torch.cat([F.one_hot(key // W, H), F.one_hot(key % W, W)], -1).to(q.dtype)  # (HW, H + W)
    q = torch.cat([q * scale, rel_h.reshape(B, heads, HW, H), rel_w.reshape(B, heads, HW, W)], -1)
    k = torch.cat([k, key_row_column.expand(B, heads, HW, H + W)], -1)
    out = F.scaled_dot_product_attention(q, k, F.pad(v, (0, H + W)), scale=1.0)  # (B, heads, HW, d + H + W)
    return out[..., :d]


class FlexAttention(SDPAAttention):
    """SAM's Attention with FlexAttention: q.k * scale + rel_h[query, key row] + rel_w[query, key column], fused.

    Compiled (torch.compile) on a GPU, where the kernel is generated; eager elsewhere, which is
    correct but slow (on the CPU the compiled kernel measured 2x slower than "sdpa", see
    benchmarks/README.md): use it on GPUs. Not yet measured on a GPU.
    """

    _compiled = None

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor | None,
               rel_w: torch.Tensor | None) -> torch.Tensor:
        score_mod = None
        if rel_h is not None:
            B, heads, HW, _ = q.shape
            H, W = rel_h.shape[-1], rel_w.shape[-1]
            rel_h, rel_w = rel_h.reshape(B, heads, HW, H), rel_w.reshape(B, heads, HW, W)

            def score_mod(score, b, h, q_idx, kv_idx):  # the key at kv_idx sits in row kv_idx // W, column kv_idx % W
                return score + rel_h[b, h, q_idx, kv_idx // W] + rel_w[b, h, q_idx, kv_idx % W]

        attend = flex_attention
        if q.is_cuda:
            FlexAttention._compiled = FlexAttention._compiled or torch.compile(flex_attention)
            attend = FlexAttention._compiled
        return attend(q, k, v, score_mod=score_mod)


ATTENTIONS = {"sam": Attention, "sdpa": SDPAAttention, "flex": FlexAttention}


def use_attention(image_encoder, attention: str) -> None:
    """Swap the class of every block's Attention module (weights and state-dict keys are untouched)."""
    if attention not in ATTENTIONS:
        raise ValueError(f"attention={attention!r}: use one of {', '.join(ATTENTIONS)}")
    for block in image_encoder.blocks:
        block.attn.__class__ = ATTENTIONS[attention]
