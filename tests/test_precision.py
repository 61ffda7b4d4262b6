"""Encoder precision: int8 (CPU dynamic quantization) stays close to fp32, and is never mistaken for it; nor is its
attention in bf16 (where native) for its attention in fp32."""
import numpy as np
import pytest
import torch

from slca_min import SAMEncoder
from slca_min.pipeline.cache import describe
from slca_min.sam.precision import native_bf16
from slca_min.study.experiments import weights_label


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (60 + 8 * i, 80, 3), dtype=np.uint8) for i in range(4)]


INT8 = "int8-bf16attn" if native_bf16() else "int8"  # what int8 records on this CPU: bf16 attention where native


def test_int8_regions_are_close_to_fp32(images):
    fp32, int8 = SAMEncoder.untrained("tiny", seed=0), SAMEncoder.untrained("tiny", seed=0, precision="int8")
    a, b = fp32.regions(images, grid=8), int8.regions(images, grid=8)
    cosine = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1))
    assert (cosine >= 0.99).all() and not torch.equal(a, b)  # close, and really another computation
    assert fp32.precision == "fp32" and int8.precision == INT8
    quantized = lambda e: any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in e.modules())  # noqa: E731
    assert quantized(int8) and not quantized(fp32)  # the fp32 encoder is left alone


def test_precision_is_in_the_cache_key_and_the_label(images):
    fp32, int8 = SAMEncoder.untrained("tiny", seed=0), SAMEncoder.untrained("tiny", seed=0, precision="int8")
    assert describe(images, fp32, 8)["precision"] == "fp32" and describe(images, int8, 8)["precision"] == INT8
    assert weights_label(int8).startswith(f"untrained tiny, seed 0, {INT8} (UNTRAINED")


def test_int8_is_cpu_only_and_named():
    with pytest.raises(ValueError, match="precision='int8' runs on the CPU only"):
        SAMEncoder.untrained("tiny", precision="int8", device="cuda")
    with pytest.raises(ValueError, match="precision='fp16'"):
        SAMEncoder.untrained("tiny", precision="fp16")


def test_cli_int8_gets_its_own_cache(tmp_path, monkeypatch, capsys):
    from slca_min import save_phantoms
    from slca_min.cli.main import main

    monkeypatch.chdir(tmp_path)
    save_phantoms("p.npz", n=30, size=32)
    assert main(["extract", "--data", "p.npz", "--grid", "4", "--quiet"]) == 0
    assert main(["extract", "--data", "p.npz", "--grid", "4", "--precision", "int8", "--quiet"]) == 0
    names = sorted(p.name for p in (tmp_path / "cache").glob("p-*-train-*.npy"))
    assert len(names) == 2 and any("-int8-" in n for n in names) and any("-fp32-" in n for n in names)
    assert "stand-in, not Segment Anything), int8" in capsys.readouterr().out  # the miniature, the offline default


def test_bf16_regions_are_close_to_fp32_and_recorded(capsys):
    import numpy as np
    import torch

    from slca_min import SAMEncoder
    from slca_min.study.experiments import cache_key, weights_label

    images = [np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8) for i in range(3)]
    fp32, bf16 = (SAMEncoder.untrained("tiny", seed=0, precision=p) for p in ("fp32", "bf16"))
    a, b = fp32.regions(images, grid=4).flatten(1), bf16.regions(images, grid=4).flatten(1)
    assert bf16.precision == "bf16" and b.dtype == torch.float32 and not torch.equal(a, b)  # it did run in bf16
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.999
    assert "-bf16-" in cache_key(bf16, 4) and weights_label(bf16).endswith(", bf16 (UNTRAINED: a pipeline check, not a SAM result)")


def test_bf16_without_native_support_says_so(monkeypatch, capsys):
    from slca_min import SAMEncoder
    from slca_min.sam import precision

    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    SAMEncoder.untrained("tiny", precision="bf16")
    err = capsys.readouterr().err
    assert "no native bfloat16" in err and "--precision int8" in err and len(err.strip().splitlines()) == 1


def test_training_in_bf16_is_recorded(tmp_path, monkeypatch, capsys):
    import csv

    from slca_min import save_phantoms
    from slca_min.cli.main import main

    monkeypatch.chdir(tmp_path)
    save_phantoms("p.npz", n=40, size=32)
    args = ["--data", "p.npz", "--epochs", "1", "--image-size", "32", "--batch-size", "16", "--grid", "4", "--quiet",
            "--fractions", "1.0", "--seeds", "0", "--models", "baseline,slca"]
    assert main(["lowdata", *args, "--precision", "bf16"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "runs/lowdata/results.csv")))
    assert {r["train_precision"] for r in rows} == {"bf16"} and next(r for r in rows if r["model"] == "slca")["precision"] == "bf16"
    assert main(["lowdata", *args]) == 0  # fp32 is another setting: both are run, neither reused for the other
    rows = list(csv.DictReader(open(tmp_path / "runs/lowdata/results.csv")))
    assert sorted(r["train_precision"] for r in rows) == ["bf16", "bf16", "fp32", "fp32"]


def int8_pair(monkeypatch):
    """The same int8 encoder twice: attention in bf16 (as on a CPU with native bf16) and in fp32 (a CPU without)."""
    from slca_min.sam import precision

    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": True)
    bf16_attention = SAMEncoder.untrained("tiny", seed=0, precision="int8")
    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": False)
    return bf16_attention, SAMEncoder.untrained("tiny", seed=0, precision="int8")


def test_int8_attention_in_bf16_is_close_to_fp32_and_keyed_apart(images, monkeypatch):
    from slca_min.sam.attention import attention_dtype
    from slca_min.sam.loading import short_label
    from slca_min.study.experiments import cache_key

    new, old = int8_pair(monkeypatch)
    assert attention_dtype(new.image_encoder) == torch.bfloat16 and attention_dtype(old.image_encoder) is None
    assert (new.precision, old.precision) == ("int8-bf16attn", "int8")  # a CPU without bf16 keeps today's int8
    fp32 = SAMEncoder.untrained("tiny", seed=0)
    a, b, c = (e.regions(images, grid=8).flatten(1) for e in (fp32, new, old))
    cosine = lambda x, y: torch.nn.functional.cosine_similarity(x, y).min().item()  # noqa: E731
    # measured on this encoder (AMD EPYC, torch 2.14.1): 0.99991-0.99992 for either attention, every kernel
    assert cosine(a, b) > 0.9995 and cosine(a, c) > 0.9995 and not torch.equal(b, c)  # close, and really bf16
    assert b.dtype == torch.float32
    assert cache_key(new, 8) != cache_key(old, 8) and "-int8-bf16attn-" in cache_key(new, 8)
    assert describe(images, new, 8) != describe(images, old, 8)
    assert weights_label(new).endswith(", int8-bf16attn (UNTRAINED: a pipeline check, not a SAM result)")
    assert weights_label(old).endswith(", int8 (UNTRAINED: a pipeline check, not a SAM result)")
    assert short_label(weights_label(new)) == "untrained tiny, int8-bf16attn (UNTRAINED)"
    assert short_label(weights_label(old)) == "untrained tiny, int8 (UNTRAINED)"


def test_a_cache_of_one_int8_attention_is_never_used_for_the_other(images, tmp_path, monkeypatch, capsys):
    import numpy as np

    from slca_min.pipeline.cache import extract

    new, old = int8_pair(monkeypatch)
    path = tmp_path / "x.npy"  # the same file name for both, so only the description tells them apart
    made_old = np.array(extract(images, old, path, grid=4, progress=False))
    made_new = np.array(extract(images, new, path, grid=4, progress=False))
    assert "made with other settings (precision); recomputing" in capsys.readouterr().err
    assert not np.array_equal(made_old, made_new)
    np.array(extract(images, old, path, grid=4, progress=False))  # and the reverse
    assert "made with other settings (precision); recomputing" in capsys.readouterr().err


def test_a_recorded_precision_asks_for_what_made_it(monkeypatch):
    from slca_min.sam import precision
    from slca_min.sam.loading import load_encoder

    recorded = ("int8-bf16attn", "int8", "bf16", "fp32")
    assert [precision.requested(p) for p in recorded] == ["int8", "int8", "bf16", "fp32"]
    # evaluate/predict load the encoder with model.pt's precision: one made by int8 with bf16 attention asks for int8
    assert load_encoder("untrained", precision="int8-bf16attn").precision == INT8
    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": False)  # and gets fp32 attention where it must
    assert load_encoder("untrained", precision="int8-bf16attn").precision == "int8"
