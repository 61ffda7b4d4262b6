"""Encoder precisions: "fp32" (SAM's weights as they are) and "int8" (CPU: dynamic int8 Linear layers).

int8 is torch's dynamic quantization: the weights of every Linear layer (qkv, proj, the MLPs:
about 3/4 of ViT-B's arithmetic) are stored in int8 and multiplied with int8 activations
quantized on the fly (fbgemm/x86 kernels, VNNI where the CPU has it); attention, norms and the
neck stay fp32. Region descriptors differ slightly from fp32 (benchmarks/README.md: cosine
similarity and max difference on untrained ViT-B; trained weights may differ).
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

PRECISIONS = ("fp32", "int8")


def quantize_int8(module: nn.Module) -> nn.Module:
    """`module` with its Linear layers dynamically quantized to int8 (a copy; the fp32 module is left alone)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch marks its eager quantization API as moving to torchao; it still works here
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)
