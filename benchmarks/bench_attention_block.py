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


def best_of(fn, rounds: int) -> tuple[float, float, torch.Tensor]:
    """(seconds of the first call, the fastest of `rounds` later calls, the output)."""
    start = time.perf_counter()
    out = fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return first, min(times), out


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
    q, k, v = (torch.randn(B, heads, side * side, d, dtype=dtype) for _ in range(3))
    rel_h, rel_w = (0.3 * torch.randn(B, heads, side, side, side, dtype=dtype) for _ in range(2))
    scale = d ** -0.5
    expected = reference(q, k, v, rel_h, rel_w, scale).flatten()
    print(f"# {processor(torch.device('cpu'))}, {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {datetime.now():%Y-%m-%d %H:%M}; ViT-B {args.block} block "
          f"({B} x {heads} heads x {side * side} tokens, head size {d}), {args.dtype}")
    print("| kernel | eager ms | compiled ms | compile s (first call) | cosine to fp32 SAM (eager) |")
    print("|---|---|---|---|---|")
    with torch.no_grad():
        for name in args.kernels.split(","):
            def call(name=name):
                return KERNELS[name](q, k, v, rel_h, rel_w, scale=scale)
            _, eager, out = best_of(call, args.rounds)
            first, compiled, _ = best_of(torch.compile(call, dynamic=False), args.rounds)
            cosine = F.cosine_similarity(out.float().flatten(), expected, dim=0).item()
            print(f"| {name} | {eager * 1000:.0f} | {compiled * 1000:.0f} | {first:.1f} | {cosine:.6f} |", flush=True)


if __name__ == "__main__":
    main()
