"""The floor benchmark (issue 45): torch's FLOP count of the tiny encoder equals a hand count, the GEMM rate is a
number, --flops-only prints its table without timing anything, and stages.py's stages add up. In this process: seconds."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch

from slca_min.sam.checkpoints import ENCODER_CONFIGS, PATCH
from slca_min.sam.precision import quantize_int8

SCRIPT = Path(__file__).parents[1] / "benchmarks/bench_floor.py"
STAGES = Path(__file__).parents[1] / "benchmarks/stages.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_floor", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_flops_match_a_hand_count(bench):
    cfg = ENCODER_CONFIGS["tiny"]
    d, side, window, heads = cfg["embed_dim"], cfg["img_size"] // PATCH, cfg["window_size"], cfg["num_heads"]
    assert side % window == 0  # no window padding: every block's Linear layers see side^2 tokens
    tokens = side * side
    # per token: qkv 3 d^2, proj d^2, MLP 2 * 4 d^2 multiply-adds; 2 FLOPs each
    linear = 2 * tokens * cfg["depth"] * (3 + 1 + 8) * d * d
    attention = 0  # q k^T and attn v over each window's t tokens, plus the decomposed relative-position terms
    for i in range(cfg["depth"]):
        s = side if i in cfg["global_attn_indexes"] else window  # side of the attended square
        windows, t = tokens // (s * s), s * s
        attention += windows * 2 * (2 * t * t * d + 2 * t * s * (d // heads) * heads)
    parts = bench.count_flops("tiny", cfg["img_size"])
    assert parts["qkv"] + parts["proj"] + parts["mlp"] == pytest.approx(linear, rel=0.01)
    assert parts["qkv"] == pytest.approx(2 * tokens * cfg["depth"] * 3 * d * d, rel=0.01)
    assert parts["attention"] == pytest.approx(attention, rel=0.01)
    assert parts["convs"] > 0


def test_the_int8_linear_it_times_is_quantized(bench, monkeypatch):
    made = []  # quantize_dynamic swaps a module's children, never the module itself: a bare Linear stays fp32
    monkeypatch.setattr(bench, "quantize_int8", lambda module: made.append(quantize_int8(module)) or made[-1])
    bench.gemm_gflops("int8 Linear", 32, repeat=1)
    assert made and not any(type(module) is torch.nn.Linear for module in made[0].modules())


def test_gemm_rate_is_a_positive_number_and_flops_only_times_nothing(bench, capsys, monkeypatch):
    for kind in ("fp32", "int8 Linear"):
        rate = bench.gemm_gflops(kind, 32, repeat=1)
        assert rate > 0 and math.isfinite(rate)
    monkeypatch.setattr(bench, "gemm_gflops", lambda *a, **k: pytest.fail("--flops-only timed a GEMM"))
    bench.main(["--flops-only", "--models", "tiny", "--sizes", "256"])
    out = capsys.readouterr().out
    assert "one multiply-add = 2 FLOPs" in out and "| tiny | 256 |" in out and "GFLOP/s" not in out


def test_the_stages_add_up_to_the_end_to_end_time(capsys):
    spec = importlib.util.spec_from_file_location("stages", STAGES)
    stages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stages)
    stages.main(["--model-type", "tiny", "--batches", "1", "--batch-size", "2"])
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and not line.startswith("| stage")}
    assert set(rows) == {"preprocess", "encoder", "pool", "end to end"}
    parts = sum(float(rows[stage]) for stage in ("preprocess", "encoder", "pool"))
    assert float(rows["end to end"]) == pytest.approx(parts, abs=0.02)
