"""Encoder precisions: "fp32" (SAM's weights as they are), "bf16" (bfloat16 autocast) and "int8" (CPU: dynamic int8
Linear layers).

bf16 is torch's autocast: matrix products and convolutions in bfloat16, reductions and norms in
fp32, weights kept in fp32. It pays where the hardware computes bfloat16 natively (every recent
GPU; CPUs with AVX-512 BF16 or AMX; Arm cores with BF16): 3.5x fp32 on a Xeon with AMX, 2.0x on an
AMD EPYC without it (where int8 is faster), region cosine to fp32 0.9999 (benchmarks/README.md).
Elsewhere it is emulated and slower, and `native_bf16` lets the library say so.

int8 is torch's dynamic quantization: the weights of every Linear layer (qkv, proj, the MLPs:
about 3/4 of ViT-B's arithmetic) are stored in int8 and multiplied with int8 activations
quantized on the fly (fbgemm/x86 kernels, VNNI where the CPU has it); norms and the neck stay fp32.
Attention (about half of int8's time for ViT-B on a 2-core EPYC) runs in bfloat16 where the CPU computes
it natively, in the kernel "auto" measures fastest for bf16 (attention.py): 1.43x int8 with fp32 attention
there, at the same cosine (benchmarks/README.md); in fp32 elsewhere, as int8 always did. The two are different
arithmetic, so they are recorded under different names: "int8-bf16attn" (bf16 attention) and "int8" (fp32
attention) in the cache key, the weights label, result rows and model.pt; a cache or model made by one is never
taken for the other. Region descriptors differ slightly from fp32 (benchmarks/README.md: cosine similarity and
max difference on untrained ViT-B; trained weights may differ).
"""
from __future__ import annotations

import sys
import warnings

import torch
from torch import nn

from .attention import attention_dtype, use_attention_dtype

PRECISIONS = ("fp32", "bf16", "int8")  # what a user asks for
INT8_BF16_ATTENTION = "int8-bf16attn"  # what int8 records where its attention runs in bf16 (SAMEncoder.precision)


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags (x86 "flags", Arm "Features" in /proc/cpuinfo), or None where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1].split() for line in f if line.startswith(("flags", "Features"))), []))
    except OSError:
        return None  # not Linux: cannot tell


def native_bf16(device: str | torch.device = "cpu") -> bool | None:
    """True where `device` computes bfloat16 natively, False where it would be emulated, None where unknown."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    flags = cpu_flags()
    return None if flags is None else bool({"avx512_bf16", "amx_bf16", "bf16"} & flags)


def check_precision(precision: str, device: str | torch.device) -> str:
    """`precision`, checked: an error where it cannot run on `device`; a note where bf16 would be emulated (and slower)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "int8" and torch.device(device).type != "cpu":
        raise ValueError("precision='int8' runs on the CPU only; use --device cpu (a GPU runs fp32 weights in bf16)")
    if precision == "bf16" and native_bf16(device) is False:
        print(f"note: this {torch.device(device).type.upper()} has no native bfloat16, so bf16 runs emulated and "
              "slower here; precision='int8' (--precision int8) is the faster choice on a CPU", file=sys.stderr)
    return precision


def use_precision(image_encoder: nn.Module, precision: str, device: str | torch.device) -> nn.Module:
    """The encoder that runs `precision` (checked): for int8 a copy with int8 Linear layers, its attention in bf16 where
    `device` computes bf16 natively; the encoder itself otherwise (bf16 is autocast around the pass)."""
    if precision != "int8":
        return image_encoder
    image_encoder = quantize_int8(image_encoder)
    use_attention_dtype(image_encoder, int8_attention_dtype(device))
    return image_encoder


def recorded_precision(precision: str, image_encoder: nn.Module, device: str | torch.device) -> str:
    """What an encoder asked for `precision` computes in, as caches, rows and model.pt record it: "int8-bf16attn"
    (int8 Linear layers, bf16 attention), "int8" (fp32 attention), "bf16" (asked, or fp32 on a GPU: autocast), "fp32"."""
    if precision == "int8" and attention_dtype(image_encoder) == torch.bfloat16:
        return INT8_BF16_ATTENTION
    return "bf16" if precision == "fp32" and torch.device(device).type == "cuda" else precision


def int8_attention_dtype(device: str | torch.device = "cpu") -> torch.dtype | None:
    """bfloat16 for int8's attention where `device` computes it natively (faster there); None (fp32, as the
    quantized Linear layers around it) where it would be emulated or the CPU cannot be read."""
    return torch.bfloat16 if native_bf16(device) else None


def requested(recorded: str | None) -> str | None:
    """The precision to ask for to reproduce a recorded one (model.pt's): int8-bf16attn is int8 on a CPU with bf16."""
    return "int8" if recorded == INT8_BF16_ATTENTION else recorded


def quantize_int8(module: nn.Module) -> nn.Module:
    """`module` with its Linear layers dynamically quantized to int8 (a copy; the fp32 module is left alone)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch marks its eager quantization API as moving to torchao; it still works here
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)
