"""The machine's floor: encoder FLOPs per image, sustained matrix-product throughput, and the fraction of that
floor each encoder path reaches (issue 45, item 1).

    python benchmarks/bench_floor.py --flops-only                      # FLOPs only: no timing, costs nothing
    python benchmarks/bench_floor.py --models vit_b [--gemm-size 4096] [--n 2 --batch-size 1 --repeat 2 --paths bf16]
    python benchmarks/bench_floor.py --models vit_b --from bench_encoder_output.md   # join a saved run, time GEMMs only

FLOPs are counted by torch (torch.utils.flop_counter.FlopCounterMode), not by hand, around one forward of
segment_anything's ImageEncoderViT built on the "meta" device (shapes only: ViT-H costs nothing), through the
library's own pass (levels.encode: ImageEncoderViT.forward for any input size, the position embedding resampled
at 512 as SAMEncoder(sam_input=512) does). Convention: one multiply-add = 2 FLOPs (FlopCounterMode's); bias adds,
norms, softmax and GELU are not counted. The count is SAM's own arithmetic: explicit attention matrices (scores,
values and the relative-position terms); the library's kernels compute the same maths ('folded' does more, so
its fraction of this floor is lower). Windowed blocks run qkv and proj on the window-padded grid (64 -> 70 tokens
a side at 1024): counted as torch runs them, hence ViT-B's ~0.97 TFLOP against the issue's 0.93 by hand.

The floor of a path is FLOPs / the sustained GEMM rate of the arithmetic it runs in, measured in this process
with torch.get_num_threads() threads (large square matrix products, best of --gemm-repeat after a warm-up):
fp32 path: fp32; bf16 path: bf16; int8 path: Linear layers (qkv, proj, MLP) at the int8 rate, attention and the
convolutions at fp32, as int8 ran before (and still runs without native bf16); "int8 + bf16 attention", the
library's int8 where the CPU has bf16 (precision.py): the same with the attention at the bf16 rate. int8's rate is the faster of torch._int_mm and the dynamic-quantized Linear
the library uses (which also quantizes its activations on the fly). On CUDA every path's floor uses the bf16 rate
(the library's fp32 on a GPU is bf16 autocast; the official loop runs fp32, so its fraction is against bf16).
Timings are bench_encoder.py's own (each path in a fresh process, fastest of --repeat rounds), run or read back.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_encoder import CONFIGS  # noqa: E402  (the paths it times: name -> (path, sam_input, attention, precision, devices))

from slca_min.sam.checkpoints import ENCODER_CONFIGS, build_image_encoder  # noqa: E402
from slca_min.sam.kernel_choice import processor  # noqa: E402
from slca_min.sam.levels import encode  # noqa: E402
from slca_min.sam.precision import cpu_flags, quantize_int8  # noqa: E402

BENCH_ENCODER = Path(__file__).resolve().parent / "bench_encoder.py"
LINEAR = ("qkv", "proj", "mlp")  # the blocks' Linear layers: what the int8 path quantizes


def count_flops(model_type: str, size: int) -> dict[str, int]:
    """FLOPs of one image through `model_type`'s encoder at `size` px, by part: the blocks' Linear layers (qkv, proj,
    mlp), attention (scores, values, relative-position terms), and the convolutions (patch embedding, neck)."""
    with torch.device("meta"):
        encoder = build_image_encoder(model_type).eval()
        x = torch.empty(1, 3, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        encode(encoder, x)
    by = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}  # modules by class path
    parts = {"qkv": by["Block.attn.qkv"], "proj": by["Block.attn.proj"], "mlp": by["Block.mlp"]}
    parts["attention"] = by["Block.attn"] - parts["qkv"] - parts["proj"]
    parts["convs"] = counter.get_total_flops() - sum(parts.values())  # patch embedding and the neck's two convs
    assert parts["convs"] == by["PatchEmbed"] + by["Sequential"], "FLOPs outside the known parts"
    return parts


def gemm_gflops(kind: str, n: int, device: str = "cpu", repeat: int = 3, shape: tuple | None = None) -> float:
    """Sustained GFLOP/s of an (m x k) by (k x n) product (2 m k n FLOPs; `shape` (m, k, n), else n x n by n x n),
    best of `repeat` rounds after a warm-up. kind: "fp32", "bf16", "int8" (torch._int_mm) or "int8 Linear" (the
    library's dynamic-quantized Linear, which also quantizes its input on the fly)."""
    gen = torch.Generator().manual_seed(0)
    m, k, n = shape or (n, n, n)
    if kind == "int8":
        a, b = (torch.randint(-128, 128, size, dtype=torch.int8, generator=gen).to(device) for size in ((m, k), (k, n)))
        op = lambda: torch._int_mm(a, b)  # noqa: E731
    elif kind == "int8 Linear":
        layer = quantize_int8(nn.Sequential(nn.Linear(k, n, bias=False)))  # children are swapped, never the root
        a = torch.randn(m, k, generator=gen)
        op = lambda: layer(a)  # noqa: E731
    else:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[kind]
        a, b = (torch.randn(size, generator=gen).to(device, dtype) for size in ((m, k), (k, n)))
        op = lambda: a @ b  # noqa: E731

    def seconds(calls: int) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(calls):
                op()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / calls

    calls = max(1, min(1000, int(0.2 / max(seconds(1), 1e-9))))  # warm-up; a round lasts about 0.2 s or one call
    return 2 * m * k * n / min(seconds(calls) for _ in range(repeat)) / 1e9


def rates(device: str, n: int, repeat: int) -> dict[str, float]:
    """GFLOP/s per arithmetic on `device` (CPU: fp32, bf16, int8; CUDA: bf16 only)."""
    if device.startswith("cuda"):
        return {"bf16": gemm_gflops("bf16", n, device, repeat)}
    out = {kind: gemm_gflops(kind, n, device, repeat) for kind in ("fp32", "bf16", "int8 Linear")}
    # and at the shape the library's int8 Linear mostly runs (ViT-B's MLP: 4096 tokens, 768 -> 3072)
    out["int8 Linear, ViT-B MLP shape"] = gemm_gflops("int8 Linear", n, device, repeat, shape=(4096, 768, 3072))
    try:
        out["int8 _int_mm"] = gemm_gflops("int8", n, device, repeat)
    except (RuntimeError, AttributeError) as e:
        print(f"torch._int_mm: not available here ({type(e).__name__}); int8 from the quantized Linear", file=sys.stderr)
    out["int8"] = max(v for k, v in out.items() if k.startswith("int8"))
    return out


def floor_s(parts: dict[str, int], precision: str, rate: dict[str, float], device: str) -> float:
    """Seconds per image at the rate of the path's arithmetic (module docstring)."""
    if device.startswith("cuda"):
        return sum(parts.values()) / (rate["bf16"] * 1e9)
    linear, rest = sum(parts[k] for k in LINEAR), sum(v for k, v in parts.items() if k not in LINEAR)
    if precision == "int8":  # as the library runs it: int8 Linear, the rest fp32
        return (linear / rate["int8"] + rest / rate["fp32"]) / 1e9
    if precision == "int8 + bf16 attention":  # the library's int8 where bf16 is native: the convolutions stay fp32
        return (linear / rate["int8"] + parts["attention"] / rate["bf16"] + parts["convs"] / rate["fp32"]) / 1e9
    return (linear + rest) / (rate[precision] * 1e9)


HEAD = re.compile(r"^(?P<model>\w+), untrained weights")
ROW = re.compile(r"^\| (?P<name>[^|]+?) \| [^|]* \| [^|]* \| (?P<s>[^|]+?) \| (?P<x>[^|]+?)x \| [^|]* \| (?P<cos>[^|]+?) \|")


def read_encoder_table(text: str) -> list[dict]:
    """bench_encoder.py's printed output (one or several runs) -> one dict per path and model."""
    model, rows = None, []
    for line in text.splitlines():
        if m := HEAD.match(line):
            model = m["model"]
        elif (m := ROW.match(line)) and model and m["name"] != "path":
            rows.append({"model": model, "name": m["name"], "s": float(m["s"]), "x": float(m["x"]), "cos": m["cos"]})
    return rows


def run_encoder_bench(args, model: str) -> str:
    """bench_encoder.py itself for `model`: its table (its progress goes to stderr as it runs)."""
    cmd = [sys.executable, str(BENCH_ENCODER), "--model-type", model, "--n", str(args.n), "--batch-size",
           str(args.batch_size), "--repeat", str(args.repeat), "--device", args.device]
    out = subprocess.run(cmd + (["--paths", args.paths] if args.paths else []), check=True, capture_output=True,
                         text=True).stdout
    print(out, file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--models", default="vit_b,vit_h", help="comma-separated: vit_b, vit_l, vit_h, tiny")
    parser.add_argument("--sizes", default="1024,512", help="input sizes for the FLOP table (timed paths use their own)")
    parser.add_argument("--gemm-size", type=int, default=4096, help="side of the square matrices timed")
    parser.add_argument("--gemm-repeat", type=int, default=3)
    parser.add_argument("--flops-only", action="store_true", help="count and print FLOPs; no timing")
    parser.add_argument("--from", dest="source", help="bench_encoder.py's saved output, instead of running it")
    parser.add_argument("--n", type=int, default=2, help="bench_encoder.py: timed images per path")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--paths", help="bench_encoder.py --paths (the official loop always runs)")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    for m in models:
        if m not in ENCODER_CONFIGS:
            parser.error(f"--models: {m!r} is unknown; use {', '.join(ENCODER_CONFIGS)}")

    flops = {(m, s): count_flops(m, s) for m in models for s in sizes}
    print("Encoder FLOPs per image (GFLOP, 1e9), counted by torch.utils.flop_counter.FlopCounterMode on the meta "
          "device; one multiply-add = 2 FLOPs; window padding included\n")
    print("| model | input | qkv | proj | MLP | convs (patch, neck) | linear total | attention | total |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (m, s), p in flops.items():
        linear = sum(p[k] for k in LINEAR) + p["convs"]
        cells = [p["qkv"], p["proj"], p["mlp"], p["convs"], linear, p["attention"], sum(p.values())]
        print(f"| {m} | {s} | " + " | ".join(f"{c / 1e9:.4g}" for c in cells) + " |")
    if args.flops_only:
        return

    device = torch.device(args.device)
    flags = " ".join(sorted({"avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni"} & (cpu_flags() or set())))
    print(f"\n{processor(device)}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{datetime.now():%Y-%m-%d %H:%M}, device {args.device}" + (f", CPU flags: {flags or 'none of bf16/VNNI/AMX'}"
                                                                       if device.type == "cpu" else ""))
    rate = rates(args.device, args.gemm_size, args.gemm_repeat)
    print(f"\nSustained GEMM, {args.gemm_size}^2 matrices, best of {args.gemm_repeat}: "
          + ", ".join(f"{'int8 (the faster, used)' if k == 'int8' else k} {v:.0f} GFLOP/s" for k, v in rate.items()))
    kinds = ["bf16"] if device.type == "cuda" else ["fp32", "bf16", "int8", "int8 + bf16 attention"]
    print("\nFloor, seconds per image (int8: Linear layers at int8, the rest at fp32 as the library runs it; "
          "'int8 + bf16 attention': attention at bf16, as the library's int8 runs where bf16 is native)\n")
    print("| model | input | " + " | ".join(kinds) + " |\n|---|---|" + "---|" * len(kinds))
    for (m, s), p in flops.items():
        print(f"| {m} | {s} | " + " | ".join(f"{floor_s(p, k, rate, args.device):.3g}" for k in kinds) + " |")

    text = Path(args.source).read_text() if args.source else "".join(run_encoder_bench(args, m) for m in models)
    print("\n| model | path | s/image | vs official | floor s/image | fraction of the floor | min cosine vs official |")
    print("|---|---|---|---|---|---|---|")
    for r in read_encoder_table(text):
        head = f"| {r['model']} | {r['name']} | {r['s']:.3g} | {r['x']:.2f}x |"
        if r["name"] not in CONFIGS or r["model"] not in ENCODER_CONFIGS:
            print(f"{head} ? (not a path bench_encoder knows) | ? | {r['cos']} |")
            continue
        _, sam_input, _, precision, _ = CONFIGS[r["name"]]
        size = ENCODER_CONFIGS[r["model"]]["img_size"] if sam_input == 1024 else sam_input  # "1024": the encoder's own
        parts = flops.get((r["model"], size)) or count_flops(r["model"], size)
        floor = floor_s(parts, precision, rate, args.device)
        arithmetic = precision if device.type == "cpu" else "bf16"
        print(f"{head} {floor:.3g} ({arithmetic}) | {floor / r['s']:.0%} | {r['cos']} |")

if __name__ == "__main__":
    main()
