"""Faster attention for SAM's image encoder, with SAM's own maths (swapped in by SAMEncoder).

SAM adds a decomposed relative-position term to every attention logit. Four kernels compute it:
"masked" passes it to F.scaled_dot_product_attention as an additive mask, "folded" folds it into q
and k so that no mask is built, "explicit" computes SAM's scores in chunks with plain matrix products,
"flex" adds it inside FlexAttention's kernel. All four equal SAM's
attention within float rounding (tests/test_encoder.py); which is fastest depends on the processor,
the dtype and the block's shape, so "auto" (the default) measures them once per machine
(kernel_choice.py). "sam" keeps SAM's own Attention.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos
from torch.nn.attention.flex_attention import flex_attention

from .kernel_choice import choose

CHUNK_BYTES = 16 * 2**20  # the CPU mask's chunk (benchmarks/README.md: measured per CPU family)


class SDPAAttention(Attention):
    """SAM's Attention through a faster kernel: same maths, never SAM's full (heads x HW x HW) matrices at once.

    `kernel` names how SAM's relative-position term enters ("masked", "folded", "explicit", "flex", or "auto":
    the fastest measured here for this call's shape and dtype). `compute_dtype` (set by use_attention_dtype) casts
    q, k, v to it for the attention alone, the Linear layers around it keeping their fp32 (int8 on the CPU: its
    dynamic int8 Linear layers take fp32). Swapped in by changing the class of SAM's own modules: weights and
    state-dict keys are untouched.
    """

    kernel = "auto"
    compute_dtype: torch.dtype | None = None  # None: the input's; bfloat16: int8's, where bf16 is native (precision.py)
    chosen: str | None = None  # what the last call ran ("masked", "masked 64 MB", "folded", "flex"): benchmarks show it
    eager_choice: tuple | None = None  # auto's choice at the last eager call: what a compiled pass traces (compiled.py)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, _ = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).reshape(B, H * W, 3, heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, heads, HW, d)
        q, k, v = (qkv if self.compute_dtype is None else qkv.to(self.compute_dtype)).unbind(0)
        if not self.use_rel_pos:
            out = F.scaled_dot_product_attention(q, k, v)
        else:  # the position tables in q's dtype: what bf16 autocast does; a no-op in fp32
            r_q = q.reshape(B, heads, H, W, -1)
            pos_h = get_rel_pos(H, H, self.rel_pos_h).to(q.dtype)  # (H, H, d)
            pos_w = get_rel_pos(W, W, self.rel_pos_w).to(q.dtype)  # (W, W, d)
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, pos_h)  # (B, heads, H, W, H)
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, pos_w)  # (B, heads, H, W, W)
            out = self.attend(q, k, v, rel_h.to(q.dtype), rel_w.to(q.dtype))  # (B, heads, HW, d)
        out = out.transpose(1, 2).reshape(B, H, W, -1)
        return self.proj(out if self.compute_dtype is None else out.to(x.dtype))  # back to the Linear layer's dtype

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor,
               rel_w: torch.Tensor) -> torch.Tensor:
        """q, k, v: (B, heads, HW, d); rel_h: (B, heads, H, W, H); rel_w: (B, heads, H, W, W)."""
        def run(option):
            name, chunk_bytes = option
            return KERNELS[name](q, k, v, rel_h, rel_w, scale=self.scale,
                                 **({"chunk_bytes": chunk_bytes} if chunk_bytes else {}))

        option = (self.kernel, None)
        if self.kernel == "auto" and torch.compiler.is_compiling():  # traced: nothing can be timed (or read from a
            option = self.eager_choice or candidates(q)[0]            # file), so the eager pass's choice (compiled.py)
        elif self.kernel == "auto":
            (B, heads, _, d), H, W = q.shape, rel_h.shape[-1], rel_w.shape[-1]
            option = choose(candidates(q), run, q=q, shape=f"batch {B}, heads {heads}, tokens {H}x{W}, head size {d}")
            self.eager_choice = option
        self.chosen = option[0] if option[1] in (None, CHUNK_BYTES) else f"{option[0]} {option[1] >> 20} MB"
        return run(option)


def candidates(q: torch.Tensor) -> list[tuple[str, int | None]]:
    """The (kernel, chunk bytes) options "auto" times for a call: the mask and folded on a GPU; on the CPU in bf16 the
    mask in two chunk sizes, the folded dot product and the explicit scores; in fp32 on the CPU the mask alone
    (kernel_choice.py says why)."""
    if q.is_cuda:  # FlexAttention measured 2-30x slower per call than these on an H200, and it compiles per shape
        return [("masked", None), ("folded", None)]
    if q.dtype in (torch.bfloat16, torch.float16):
        return [("masked", CHUNK_BYTES), ("masked", 4 * CHUNK_BYTES), ("folded", None), ("explicit", CHUNK_BYTES)]
    return [("masked", None)]


def cpu_chunks(q: torch.Tensor, H: int, W: int, chunk_bytes: int) -> tuple[int, int]:
    """(images or windows, query rows) per chunk, so that a chunk's (n, heads, rows * W, HW) scores or mask take about
    `chunk_bytes`: several small images at once, or a few rows of one large one. q: (B, heads, H*W, d)."""
    _, heads, HW, _ = q.shape
    elements = chunk_bytes // q.element_size()
    return max(1, elements // (heads * HW * HW)), max(1, min(H, elements // (heads * W * HW)))


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor, *,
                     scale: float, chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """SAM's attention with its relative-position term as an additive mask.

    On the GPU the mask is built for the whole batch (one call: 1.7x SAM's attention in bf16 on an
    H200). On the CPU it is built in chunks of about `chunk_bytes`: several images (or windows) at
    once where each one's mask is small, a few query rows of one image where it is not (a full mask
    for ViT-B's global blocks is 800 MB per image). Buffers that size are reused by the allocator
    instead of being mapped and page-faulted anew (1.5x on two cores), and batching the small
    windows halved a training step of the tiny ViT (benchmarks/).
    q, k, v: (B, heads, H*W, d); rel_h: (B, heads, H, W, H); rel_w: (B, heads, H, W, W).
    """
    B, heads, HW, _ = q.shape
    H, W = rel_h.shape[-1], rel_w.shape[-1]
    n, rows = (B, H) if q.is_cuda else cpu_chunks(q, H, W, chunk_bytes)
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
    fused kernel takes one head size. Three times the kernel's arithmetic, but where the kernel is very
    fast (bf16 with AMX) cheaper than writing and reading a mask: a ViT-B global block 198 -> 129 ms on
    the Xeon; without AMX, or in fp32, the mask is faster (benchmarks/README.md).
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


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor, *,
                       scale: float, chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """SAM's own explicit attention (scores = q.k * scale + rel_h + rel_w, softmax, times v), in chunks of about
    `chunk_bytes` of scores, the terms added in place: no fused kernel.

    On a CPU with AVX-512 BF16 but no AMX the fused kernel is slow in bf16 and plain bf16 matrix products are
    not: a ViT-B global block 289 ms against 704 ms for the mask (AMD EPYC, benchmarks/README.md). Scores
    and probabilities are rounded to bf16 (a block's output cosine to fp32 0.99994, the mask's 0.999998).
    Every chunk writes into the same two buffers: fresh ones, page-faulted anew at each chunk, doubled a block's
    time at random (benchmarks/README.md).
    q, k, v: (B, heads, H*W, d); rel_h: (B, heads, H, W, H); rel_w: (B, heads, H, W, W).
    """
    B, heads, HW, _ = q.shape
    H, W = rel_h.shape[-1], rel_w.shape[-1]
    n, rows = cpu_chunks(q, H, W, chunk_bytes)
    # q, k, v are slices of the qkv Linear's output: laid out once for the products here, not once per chunk
    # (k's transpose copied at every chunk took ~0.6 s of an int8 ViT-B image: benchmarks/README.md)
    q, k_t, v = (q * scale).contiguous(), k.transpose(-1, -2).contiguous(), v.contiguous()
    out = torch.empty_like(q)
    # every chunk's scores and probabilities in the same two buffers; compiled, none: inductor plans its own memory
    # (written into buffers a compiled block took 1.8x longer)
    buffers = None if torch.compiler.is_compiling() else q.new_empty(2, min(n, B) * heads * rows * W * HW)
    for b in range(0, B, n):
        for r in range(0, H, rows):
            queries = slice(r * W, (r + rows) * W)
            out[b:b + n, :, queries] = _explicit_chunk(q[b:b + n, :, queries], k_t[b:b + n], v[b:b + n],
                                                       rel_h[b:b + n, :, r:r + rows], rel_w[b:b + n, :, r:r + rows],
                                                       buffers)
    return out


def _explicit_chunk(q: torch.Tensor, k_t: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor,
                    buffers: torch.Tensor | None) -> torch.Tensor:
    """One chunk of explicit_attention: q (n, heads, rows * W, d) already scaled; k_t (n, heads, d, HW), k transposed;
    rel_h (n, heads, rows, W, H) and rel_w (n, heads, rows, W, W), the chunk's rows; buffers (2, at least the chunk's
    scores), written over, or None (new tensors). Compiled, the chunks are unrolled (as a nested_compile_region
    ViT-B failed to compile under bf16 autocast: benchmarks/README.md)."""
    n, heads, rows, W, H = rel_h.shape
    scores = probs = None
    if buffers is not None:  # a smaller last chunk takes the front of each
        size = n * heads * rows * W * H * W
        scores, probs = (buffer[:size].view(n, heads, rows * W, H * W) for buffer in buffers)
    scores = torch.matmul(q, k_t, out=scores)  # (n, heads, rows * W, HW)
    grid = scores.view(n, heads, rows, W, H, W)  # (n, heads, rows, W, key rows, key columns)
    grid.add_(rel_h[..., None]).add_(rel_w[..., None, :])
    return torch.matmul(torch.softmax(scores, -1, out=probs), v)


_compiled_flex = None


def flex_rel_pos_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor,
                           rel_w: torch.Tensor, *, scale: float) -> torch.Tensor:
    """FlexAttention with q.k * scale + rel_h[query, key row] + rel_w[query, key column] as its score_mod: fused, no mask.

    Compiled (torch.compile) on a GPU, where the kernel is generated; eager elsewhere, which is
    correct but slow (on the CPU the compiled kernel measured 2x slower than the mask): for GPUs.
    """
    global _compiled_flex
    B, heads, HW, _ = q.shape
    H, W = rel_h.shape[-1], rel_w.shape[-1]
    rel_h, rel_w = rel_h.reshape(B, heads, HW, H), rel_w.reshape(B, heads, HW, W)

    def score_mod(score, b, h, q_idx, kv_idx):  # the key at kv_idx sits in row kv_idx // W, column kv_idx % W
        return score + rel_h[b, h, q_idx, kv_idx // W] + rel_w[b, h, q_idx, kv_idx % W]

    attend = flex_attention
    if q.is_cuda:
        _compiled_flex = _compiled_flex or torch.compile(flex_attention)
        attend = _compiled_flex
    return attend(q, k, v, score_mod=score_mod, scale=scale)


KERNELS = {"masked": masked_attention, "folded": folded_attention, "explicit": explicit_attention,
           "flex": flex_rel_pos_attention}
ATTENTIONS = ("auto", *KERNELS, "sam")


def use_attention(image_encoder, attention: str) -> None:
    """Swap the class of every block's Attention module (weights and state-dict keys are untouched) and set its kernel.
    "sdpa", the name of "auto" before kernels were chosen by measurement, is still accepted."""
    attention = "auto" if attention == "sdpa" else attention
    if attention not in ATTENTIONS:
        raise ValueError(f"attention={attention!r}: use one of {', '.join(ATTENTIONS)}")
    for block in image_encoder.blocks:
        block.attn.__class__ = Attention if attention == "sam" else SDPAAttention
        if attention != "sam":
            block.attn.kernel = attention


def use_attention_dtype(image_encoder, dtype: torch.dtype | None) -> None:
    """Run every block's attention (q, k, v, the relative-position terms, the kernel) in `dtype`; None: the input's.
    SAM's own Attention (attention="sam") has no such setting and keeps its input's dtype."""
    for block in image_encoder.blocks:
        if isinstance(block.attn, SDPAAttention):
            block.attn.compute_dtype = dtype


def attention_dtype(image_encoder) -> torch.dtype | None:
    """The dtype every block's attention is set to run in (use_attention_dtype), or None (the input's)."""
    dtypes = {getattr(block.attn, "compute_dtype", None) for block in image_encoder.blocks}
    return dtypes.pop() if len(dtypes) == 1 else None


def kernels_run(image_encoder) -> dict[str, str]:
    """What the last call ran in each kind of block, e.g. {"windowed": "folded", "global": "masked"}: auto's choice."""
    return {"windowed" if block.window_size else "global": getattr(block.attn, "chosen", None) or "sam"
            for block in image_encoder.blocks}
