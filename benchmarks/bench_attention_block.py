"""One ViT-B attention call (a global block's or a windowed block's) through every kernel, eager and compiled.

Why: a compiled encoder's "auto" attention cannot time kernels while it is traced (slca_min/sam/compiled.py), so
which kernel to trace has to come from somewhere; this measures, on this machine, what each kernel costs eager and
under torch.compile (inductor), on random inputs of the block's shape (speed does not depend on the values), with
each output's cosine to SAM's explicit attention in fp32.

    OMP_NUM_THREADS=1 python benchmarks/bench_attention_block.py                      # global block, bf16
    OMP_NUM_THREADS=1 python benchmarks/bench_attention_block.py --block windowed --kernels masked,folded
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime

import torch
import torch.nn.functional as F

from slca_min.sam.attention import KERNELS
from slca_min.sam.kernel_choice import processor

SHAPES = {"global": (1, 64), "windowed": (25, 14)}  # ViT-B at 1024 px: (images or windows, tokens per side)


def reference(q, k, v, rel_h, rel_w, scale):
    """SAM's explicit attention in fp32, all at once."""
    B, heads, HW, _ = q.shape
    H, W = rel_h.shape[-1], rel_w.shape[-1]
    scores = (q.float() * scale) @ k.float().transpose(-1, -2)  # (B, heads, HW, HW)
    scores = scores.view(B, heads, H, W, H, W) + rel_h.float()[..., None] + rel_w.float()[..., None, :]
    return scores.view(B, heads, HW, HW).softmax(-1) @ v.float()


def first_call(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fastest(calls: dict, rounds: int) -> dict:
    """The fastest of `rounds` calls of each, taken in turn round by round: on a shared machine a slow minute
    otherwise decides a ratio."""
    best = {}
    for _ in range(rounds):
        for name, fn in calls.items():
            best[name] = min(best.get(name, float("inf")), first_call(fn))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", choices=SHAPES, default="global")
    parser.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--kernels", default="explicit,masked,folded", help="comma-separated, of: " + ", ".join(KERNELS))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    (B, side), heads, d = SHAPES[args.block], 12, 64
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    qkv = torch.randn(B, side * side, 3, heads, d, dtype=dtype)  # as the qkv Linear lays it out (attention.py)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, tokens, d) each, not contiguous: as the encoder's
    rel_h, rel_w = (0.3 * torch.randn(B, heads, side, side, side, dtype=dtype) for _ in range(2))
    scale = d ** -0.5
    expected = reference(q, k, v, rel_h, rel_w, scale).flatten()
    print(f"# {processor(torch.device('cpu'))}, {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {datetime.now():%Y-%m-%d %H:%M}; ViT-B {args.block} block "
          f"({B} x {heads} heads x {side * side} tokens, head size {d}), {args.dtype}")
    print("| kernel | eager ms | compiled ms | compile s (first call) | cosine to fp32 SAM (eager) |")
    print("|---|---|---|---|---|")
    calls, compile_s, cosine = {}, {}, {}
    with torch.no_grad():
        for name in args.kernels.split(","):
            def call(name=name):
                return KERNELS[name](q, k, v, rel_h, rel_w, scale=scale)
            calls[name, "eager"], calls[name, "compiled"] = call, torch.compile(call, dynamic=False)
            compile_s[name] = first_call(calls[name, "compiled"])
            cosine[name] = F.cosine_similarity(call().float().flatten(), expected, dim=0).item()
        best = fastest(calls, args.rounds)
    for name in compile_s:
        print(f"| {name} | {best[name, 'eager'] * 1000:.0f} | {best[name, 'compiled'] * 1000:.0f} | {compile_s[name]:.1f} "
              f"| {cosine[name]:.6f} |")

if __name__ == "__main__":
    main()
