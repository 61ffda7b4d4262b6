"""Encoder precision: int8 (CPU dynamic quantization) stays close to fp32, and is never mistaken for it."""
import numpy as np
import pytest
import torch

from slca_min import SAMEncoder
from slca_min.cache import describe
from slca_min.experiments import weights_label


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (60 + 8 * i, 80, 3), dtype=np.uint8) for i in range(4)]


def test_int8_regions_are_close_to_fp32(images):
    fp32, int8 = SAMEncoder.untrained("tiny", seed=0), SAMEncoder.untrained("tiny", seed=0, precision="int8")
    a, b = fp32.regions(images, grid=8), int8.regions(images, grid=8)
    cosine = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1))
    assert (cosine >= 0.99).all() and not torch.equal(a, b)  # close, and really another computation
    assert fp32.precision == "fp32" and int8.precision == "int8"
    quantized = lambda e: any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in e.modules())  # noqa: E731
    assert quantized(int8) and not quantized(fp32)  # the fp32 encoder is left alone


def test_precision_is_in_the_cache_key_and_the_label(images):
    fp32, int8 = SAMEncoder.untrained("tiny", seed=0), SAMEncoder.untrained("tiny", seed=0, precision="int8")
    assert describe(images, fp32, 8)["precision"] == "fp32" and describe(images, int8, 8)["precision"] == "int8"
    assert weights_label(int8).startswith("untrained tiny, seed 0, int8 (UNTRAINED")


def test_int8_is_cpu_only_and_named():
    with pytest.raises(ValueError, match="precision='int8' runs on the CPU only"):
        SAMEncoder.untrained("tiny", precision="int8", device="cuda")
    with pytest.raises(ValueError, match="precision='fp16'"):
        SAMEncoder.untrained("tiny", precision="fp16")


def test_cli_int8_gets_its_own_cache(tmp_path, monkeypatch, capsys):
    from slca_min import save_phantoms
    from slca_min.__main__ import main

    monkeypatch.chdir(tmp_path)
    save_phantoms("p.npz", n=30, size=32)
    assert main(["extract", "--data", "p.npz", "--grid", "4", "--quiet"]) == 0
    assert main(["extract", "--data", "p.npz", "--grid", "4", "--precision", "int8", "--quiet"]) == 0
    names = sorted(p.name for p in (tmp_path / "cache").glob("p-train-*.npy"))
    assert len(names) == 2 and any("-int8-" in n for n in names) and any("-fp32-" in n for n in names)
    assert "stand-in, not Segment Anything), int8" in capsys.readouterr().out  # the miniature, the offline default
