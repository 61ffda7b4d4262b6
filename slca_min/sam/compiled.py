"""SAMEncoder(compile=True): the ViT's pass compiled by torch.compile (inductor); opt-in, eager where it cannot be.

Opt-in because the first call pays for it. On a 2-core AMD EPYC loaded by another job (torch 2.14, one
thread) the tiny encoder's first call at one input shape took 28-66 s, fp32 and bf16 alike (nine runs),
against 0.03 s eager. Inductor keeps what it compiled in its cache (/tmp/torchinductor_$USER, or
$TORCHINDUCTOR_CACHE_DIR), which outlives the process: a later process paid 6-15 s (dynamo traces again,
the compiled kernels are loaded). ViT-B at 1024 on the idle EPYC (2 threads): 125-153 s to compile, in a later
process too, for 1.03x (fp32) and 1.06x (bf16, one round) over the eager speed (benchmarks/README.md): worth it
for long runs only. Every new input shape compiles once more: another batch size (a run's last, smaller batch) or
another sam_input (dynamic=False: one static graph per shape, the fastest kind).

The compiled pass is levels.encode traced as it is: the same maths, so nothing that describes a
result changes with it. The cache key, a result row and model.pt are the same with compile on and
off, as they are whichever attention kernel runs; only float rounding differs (inductor fuses
the elementwise steps and chooses its own kernels; tests/test_compiled.py bounds it).

"auto" attention cannot time kernels while the pass is traced, so before each new input shape is compiled the
pass runs once eager (discarded), where auto measures and remembers its kernels (kernel_choice.py); the traced
pass then takes that eager call's choice. Compiling does not change which kernel is fastest: on the 2-core AMD EPYC
(bf16, one thread, a ViT-B global block) explicit 779 ms eager and 701 compiled, the mask 1354 and 1267, so a
compiled pass that always took the mask (as this one did at first) lost what auto had found (benchmarks/README.md).

On the CPU it compiles with inductor's freezing: the frozen weights become constants, and what
depends on them alone is folded once. In bf16 that includes autocast's casts of the weights: the
compiled code holds the Linear and convolution weights in bfloat16 (its `_frozen_param`s are
bfloat16; checked with TORCH_LOGS=output_code) instead of casting them at every call, beside the
module's own fp32 weights (kept for the eager fallback). Freezing is switched on around each call
(torch._inductor.config.patch), never for the rest of the process. A GPU compiles without it.

int8 is not compiled: the dynamic int8 Linear layers (precision.py) break the graph at every
layer, and the int8 quantization made for inductor (PT2E with X86InductorQuantizer) left torch.ao
for torchao, which the project does not install. int8 runs eager, with a line saying so.

Where compiling fails (no C++ compiler, a torch that cannot compile this, an error at the first
call, which is when inductor compiles), one line on stderr names the reason and the encoder runs
eager from then on.
"""
from __future__ import annotations

import sys
from typing import Sequence

import torch
from segment_anything.modeling import ImageEncoderViT

from .levels import encode


class _Pass(torch.nn.Module):
    """encode() as a module's forward: torch.compile freezes the weights of a module it is given, not of an argument."""

    def __init__(self, image_encoder: ImageEncoderViT):
        super().__init__()
        self.image_encoder = image_encoder

    def forward(self, x: torch.Tensor, levels: tuple[str, ...]) -> list[torch.Tensor]:
        return encode(self.image_encoder, x, levels)


def fall_back(reason: str) -> None:
    print(f"note: compile=True (--compile): {reason}; the encoder runs eager (same numbers, not faster)", file=sys.stderr)


def why(error: Exception) -> str:
    """The first line of an error, short: inductor's own messages run to pages."""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"torch.compile failed here ({type(error).__name__}: {first[:160]})"


class CompiledPass:
    """Called by SAMEncoder.features in levels.encode's place, with its arguments; eager for good after a failure."""

    def __init__(self, compiled):
        self.compiled = compiled  # None once it has failed
        self.shapes: set[tuple] = set()  # the calls already run once eager: auto's kernels are chosen for them

    def __call__(self, image_encoder: ImageEncoderViT, x: torch.Tensor, levels: Sequence[str]) -> list[torch.Tensor]:
        if self.compiled is not None:
            shape = (tuple(x.shape), x.dtype, x.device, torch.is_autocast_enabled(x.device.type), tuple(levels))
            if shape not in self.shapes:  # before this shape compiles: auto measures its kernels, which tracing cannot
                encode(image_encoder, x, levels)
                self.shapes.add(shape)
            try:
                from torch._inductor import config  # imported here: only a compiled pass needs inductor

                with config.patch(freezing=x.device.type == "cpu"):
                    return self.compiled(x, tuple(levels))
            except Exception as e:  # noqa: BLE001 - whatever stops inductor, the eager pass computes the same
                self.compiled = None
                fall_back(why(e))
        return encode(image_encoder, x, levels)


def compile_encoder(image_encoder: ImageEncoderViT, precision: str) -> CompiledPass | None:
    """The encoder's pass to be compiled at its first call, or None (eager) with a line saying why."""
    if precision == "int8":
        fall_back("int8 is not compiled (its int8 Linear layers break the graph at every layer; "
                  "PT2E int8 needs torchao, not installed)")
        return None
    try:
        return CompiledPass(torch.compile(_Pass(image_encoder), dynamic=False))
    except Exception as e:  # noqa: BLE001 - e.g. a Python or platform this torch cannot compile on
        fall_back(why(e))
        return None
