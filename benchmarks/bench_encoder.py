"""Images per second: the official loop (SamPredictor.set_image per image) versus SAMEncoder.embed.

Same weights for every path (untrained vit_b is fine for speed), each configuration in a fresh
process so that its peak RSS is its own, all of them --repeat times in turn, the fastest round of
each reported: on a shared machine a slow minute otherwise decides a ratio (one round measured the
official loop at 12 s where it takes 8). Prints a Markdown table; results go in benchmarks/README.md.

    python benchmarks/bench_encoder.py [--model-type vit_b] [--n 4] [--repeat 2] [--device cpu]

"1024" in a path's name means the encoder's own input size (1024 for SAM, 256 for the tiny encoder).
The two int8 paths are int8 with its attention in fp32 (as before; what int8 runs on a CPU without native bf16) and
int8 with it in bf16 where the CPU has it (the library's int8 now); their kernels column says which ran.
"compiled" paths are SAMEncoder(compile=True) (slca_min/sam/compiled.py; int8 is not compiled, so it has none). The
warm-up runs one batch of each size the timed images run in, so that they find everything compiled; the last column
says how long it took. The run gets an empty inductor cache of its own ($TORCHINDUCTOR_CACHE_DIR, unless set): round
1's warm-up is what a first process pays, later rounds' what a process pays with the cache warm.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CONFIGS = {  # name: (path, sam_input, attention, precision, devices)
    "official SamPredictor loop, 1024": ("official", 1024, "sam", "fp32", ("cpu", "cuda")),
    "SAMEncoder.embed, SAM attention, 1024": ("embed", 1024, "sam", "fp32", ("cpu", "cuda")),
    "SAMEncoder.embed, auto attention, 1024": ("embed", 1024, "auto", "fp32", ("cpu", "cuda")),
    "SAMEncoder.embed, masked attention, 1024": ("embed", 1024, "masked", "fp32", ("cuda",)),
    "SAMEncoder.embed, folded attention, 1024": ("embed", 1024, "folded", "fp32", ("cuda",)),
    "SAMEncoder.embed, flex attention, 1024": ("embed", 1024, "flex", "fp32", ("cuda",)),
    "SAMEncoder.embed, bf16, auto attention, 1024": ("embed", 1024, "auto", "bf16", ("cpu",)),
    "SAMEncoder.embed, bf16, masked attention, 1024": ("embed", 1024, "masked", "bf16", ("cpu",)),
    "SAMEncoder.embed, bf16, folded attention, 1024": ("embed", 1024, "folded", "bf16", ("cpu",)),
    "SAMEncoder.embed, bf16, explicit attention, 1024": ("embed", 1024, "explicit", "bf16", ("cpu",)),
    # int8 as it ran before its attention moved to bf16 (fp32 attention: what int8 still runs without native bf16),
    # and as the library runs it now (bf16 attention where the CPU has it): the kernels column names which ran
    "SAMEncoder.embed, int8 (CPU), auto attention, 1024": ("embed", 1024, "auto", "int8", ("cpu",)),
    "SAMEncoder.embed, int8 (CPU) + bf16 attention, auto attention, 1024":
        ("embed", 1024, "auto", "int8 + bf16 attention", ("cpu",)),
    "SAMEncoder.embed, auto attention, 512": ("embed", 512, "auto", "fp32", ("cpu", "cuda")),
    "SAMEncoder.embed, compiled, auto attention, 1024": ("compiled", 1024, "auto", "fp32", ("cpu", "cuda")),
    "SAMEncoder.embed, compiled, bf16, auto attention, 1024": ("compiled", 1024, "auto", "bf16", ("cpu",)),
}


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(n)]  # non-square, like most photos


def measure(name: str, model_type: str, n: int, batch_size: int, device: str) -> dict:
    """One configuration: a warm-up batch, then n timed images; returns outputs for the comparison."""
    from segment_anything import SamPredictor

    from slca_min import SAMEncoder
    from slca_min.sam.attention import kernels_run, use_attention_dtype
    from slca_min.sam.checkpoints import build_sam

    path, sam_input, attention, precision, _ = CONFIGS[name]
    encoder = SAMEncoder.untrained(model_type, seed=0, sam_input=None if sam_input == 1024 else sam_input,
                                   attention=attention, device=device, precision=precision.split(" + ")[0],
                                   compile=path == "compiled")  # sam_input None: its own, as the official loop
    if precision == "int8":  # int8 before its attention moved to bf16 (the floor's "int8"): attention in fp32
        use_attention_dtype(encoder.image_encoder, None)
    data = images(n + batch_size)
    if path == "official":
        predictor = SamPredictor(build_sam(encoder.image_encoder).to(device))

        def run(batch):
            out = []
            for image in batch:
                predictor.set_image(image)
                out.append(predictor.get_image_embedding().float().cpu())
            return torch.cat(out)
    else:
        def run(batch):
            return encoder.embed(batch, batch_size=batch_size).cpu()
    start = time.perf_counter()
    for size in {size for size in (batch_size * (n >= batch_size), n % batch_size) if size}:  # the timed batches' sizes
        run(data[:size])  # warm-up at each timed shape: 'auto' times its kernels here if it has to, compiled paths compile
    first = time.perf_counter() - start
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = run(data[batch_size:])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    kernels = ", ".join(f"{kind} {kernel}" for kind, kernel in kernels_run(encoder.image_encoder).items())
    kernels = f"{encoder.precision}: {kernels}" if precision.startswith("int8") else kernels  # which int8 ran
    if path == "compiled":
        compiled = encoder.compiled is not None and encoder.compiled.compiled is not None  # else it fell back to eager
        kernels = f"inductor ({kernels} traced)" if compiled else "eager: compile failed"
    return {"name": name, "images_per_s": n / seconds, "s_per_image": seconds / n,
            "kernels": kernels if path != "official" else "SAM's own", "warm_up_s": first,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
            "output": out[:2].numpy().tolist() if sam_input == 1024 else None}  # two images compared: JSON stays small


def warm_up(seconds: list[float]) -> str:
    """The warm-up's seconds: round 1 (a compiled path: compiling, cache cold), then the fastest later round."""
    return f"{seconds[0]:.3g}" + (f"; {min(seconds[1:]):.3g}" if len(seconds) > 1 else "")


def wanted(name: str, paths: str | None) -> bool:
    """--paths: substrings, matched against the name with and without its commas ('embed bf16 auto': that path alone)."""
    return not paths or CONFIGS[name][0] == "official" or any(
        p.strip() in name or p.strip() in name.replace(",", "") for p in paths.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-type", default="vit_b")
    parser.add_argument("--n", type=int, default=4, help="timed images per configuration (after a warm-up batch)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2, help="rounds over all paths; each path's fastest is reported")
    parser.add_argument("--paths", help="comma-separated substrings: only the paths whose name contains one, commas "
                                        "in the name left out or not (the official loop always runs: the reference)")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args()
    if args.only:
        print(json.dumps(measure(args.only, args.model_type, args.n, args.batch_size, args.device)))
        return
    choices = os.environ.setdefault("SLCA_ATTENTION_KERNELS", tempfile.mkstemp(suffix="-attention_kernels.json")[1])
    Path(choices).unlink(missing_ok=True)  # 'auto' chooses in this run (its first warm-up), under today's conditions
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="torchinductor-"))  # round 1 compiles cold
    best = {}  # name: its fastest round; rounds run every path in turn, so one slow minute cannot decide a ratio
    firsts = {}  # name: its warm-up's seconds in each round
    for i in range(args.repeat):
        for name in [c for c in CONFIGS if args.device.split(":")[0] in CONFIGS[c][4] and wanted(c, args.paths)]:
            line = subprocess.run([sys.executable, __file__, "--only", name, "--model-type", args.model_type, "--n",
                                   str(args.n), "--batch-size", str(args.batch_size), "--device", args.device],
                                  check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            r = json.loads(line)
            best[name] = min(best.get(name, r), r, key=lambda x: x["s_per_image"])
            firsts.setdefault(name, []).append(r["warm_up_s"])
            print(f"measured: {name} (round {i + 1}: {r['s_per_image']:.3g} s/image)", file=sys.stderr)
    results = list(best.values())
    reference = np.array(results[0]["output"])
    official = results[0]["images_per_s"]
    from slca_min.sam.kernel_choice import processor
    from slca_min.sam.precision import cpu_flags, native_bf16

    flags = " ".join(sorted({"avx512_bf16", "amx_bf16", "amx_tile"} & (cpu_flags() or set()))) or "no bf16 flags"
    print(f"{args.model_type}, untrained weights, {args.n} images of 480x640, batch {args.batch_size}, best of {args.repeat} "
          f"rounds, device {args.device} ({processor(torch.device(args.device))}), CPU flags: {flags}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"native bf16: {native_bf16(args.device)}; 'auto' choices timed in this run ({choices})\n")
    print("| path | kernels run | images/s | s/image | vs official | max abs diff vs official | min cosine vs official | "
          "peak RSS MiB | peak CUDA MiB | warm-up s (round 1; later) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["output"] is not None:
            out = np.array(r["output"]).reshape(len(reference), -1)
            ref = reference.reshape(len(reference), -1)
            cosine = (out * ref).sum(1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1))
            diff, cos = f"{np.abs(out - ref).max():.1e}", f"{cosine.min():.6f}"
        else:
            diff = cos = "n/a (other input size)"
        cuda = f"{r['peak_cuda_mib']:.0f}" if r["peak_cuda_mib"] is not None else "-"
        print(f"| {r['name']} | {r['kernels']} | {r['images_per_s']:.3f} | {r['s_per_image']:.3g} | {r['images_per_s'] / official:.2f}x | "
              f"{diff} | {cos} | {r['peak_rss_mib']:.0f} | {cuda} | {warm_up(firsts[r['name']])} |")
    for key, choice in json.loads(Path(choices).read_text()).items() if Path(choices).exists() else ():
        print(f"\n'auto' for {key}: {', '.join(f'{k} {v:.3g} ms' for k, v in choice['ms'].items())}", end="")
    print()


if __name__ == "__main__":
    main()
