"""SAMEncoder(compile=True): eager in one line where compiling fails, nothing recorded changes, same numbers."""
import os

import numpy as np
import pytest
import torch

from slca_min import SAMEncoder
from slca_min.pipeline.cache import describe
from slca_min.study.experiments import cache_key, weights_label


@pytest.fixture(scope="module")
def images():
    return [np.random.default_rng(i).integers(0, 256, (40 + 8 * i, 56, 3), dtype=np.uint8) for i in range(3)]


def compile_that_fails(*args, **kwargs):
    """What torch.compile hands back where inductor cannot compile: it fails at the first call, not before."""
    def compiled(*args, **kwargs):
        raise RuntimeError("CppCompileError: no C++ compiler found\nand pages more")
    return compiled


@pytest.mark.parametrize("failure", ["at the first call", "at torch.compile"])
def test_a_failed_compile_says_so_in_one_line_and_runs_eager(failure, images, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise RuntimeError("Python 3.99 is not supported by torch.compile")

    monkeypatch.setattr(torch, "compile", compile_that_fails if failure == "at the first call" else refuse)
    eager, compiled = SAMEncoder.untrained("tiny", seed=0), SAMEncoder.untrained("tiny", seed=0, compile=True)
    before = capsys.readouterr().err
    out = compiled.regions(images, grid=4)  # three batches of one: the first fails, the next two go eager at once
    err = (before + capsys.readouterr().err).strip().splitlines()
    assert len(err) == 1 and "compile=True" in err[0] and "runs eager" in err[0] and "pages more" not in err[0]
    assert ("CppCompileError" if failure == "at the first call" else "Python 3.99") in err[0]
    assert torch.equal(out, eager.regions(images, grid=4))
    assert (compiled.compiled is None) if failure == "at torch.compile" else (compiled.compiled.compiled is None)


def test_int8_is_not_compiled_and_says_so(capsys):
    encoder = SAMEncoder.untrained("tiny", seed=0, precision="int8", compile=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert encoder.compiled is None and len(err) == 1 and "int8 is not compiled" in err[0]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_compile_changes_no_cache_key_label_or_model_description(precision, images):
    from slca_min import SLCAClassifier
    from slca_min.pipeline.model_file import describe_model
    from slca_min.study.experiments import FitConfig

    eager, compiled = (SAMEncoder.untrained("tiny", seed=0, precision=precision, compile=c) for c in (False, True))
    assert compiled.compiled is not None or precision == "int8"  # really another path (int8: eager, see above)
    assert compiled.precision == eager.precision and eager.precision.split("-")[0] == precision  # int8-bf16attn: int8
    assert describe(images, compiled, 4) == describe(images, eager, 4)
    assert cache_key(compiled, 4) == cache_key(eager, 4) and weights_label(compiled) == weights_label(eager)
    model, config = SLCAClassifier(num_classes=2, backbone="resnet18", pretrained_backbone=False), FitConfig(grid=4)
    described = [describe_model(model, config=config, class_names=["a", "b"], encoder=e) for e in (eager, compiled)]
    assert described[0] == described[1]
    assert sorted(compiled.state_dict()) == sorted(eager.state_dict())  # the compiled pass adds no weights


def traced_eagerly(module, **kwargs):
    """torch.compile without inductor: the pass runs eager but says it is being traced, as dynamo's tracing does."""
    def compiled(*args):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch.compiler, "is_compiling", lambda: True)
            return module(*args)
    return compiled


def test_the_compiled_pass_takes_the_kernels_auto_chose_eager(images, tmp_path, monkeypatch):
    """Tracing cannot time kernels: each new shape runs once eager first, where auto measures and remembers, and the
    traced pass takes what is remembered (it used to take the mask whatever auto had found)."""
    import json

    from slca_min.sam import kernel_choice
    from slca_min.sam.attention import kernels_run

    choices = tmp_path / "kernels.json"
    monkeypatch.setenv("SLCA_ATTENTION_KERNELS", str(choices))
    monkeypatch.setattr(kernel_choice, "_remembered", {})
    monkeypatch.setattr(torch, "compile", traced_eagerly)
    encoder = SAMEncoder.untrained("tiny", seed=0, precision="bf16", compile=True)
    encoder.regions(images[:1], grid=4)  # no choices yet: the eager pass measures them
    saved = json.loads(choices.read_text())
    ran = {chosen.split()[0] for chosen in kernels_run(encoder.image_encoder).values()}  # "masked 64 MB": masked
    assert len(saved) == 2 and ran <= {entry["kernel"] for entry in saved.values()}
    choices.write_text(json.dumps({key: {**entry, "kernel": "explicit", "chunk_bytes": 16 * 2**20}
                                   for key, entry in saved.items()}))  # a machine where explicit won
    kernel_choice._remembered.clear()
    encoder = SAMEncoder.untrained("tiny", seed=0, precision="bf16", compile=True)
    encoder.regions(images[:1], grid=4)
    assert kernels_run(encoder.image_encoder) == {"windowed": "explicit", "global": "explicit"}


def test_cli_compile_reaches_the_encoder(monkeypatch):
    from slca_min.cli import commands
    from slca_min.cli.main import build_parser

    seen = {}
    monkeypatch.setattr(commands, "load_encoder", lambda checkpoint, **options: seen.update(options))
    for argv, wanted in ((["extract", "--data", "p.npz", "--compile"], True), (["extract", "--data", "p.npz"], False)):
        commands.encoder_of(build_parser().parse_args(argv))
        assert seen["compile"] is wanted


@pytest.mark.skipif(os.environ.get("SLCA_SLOW") != "1", reason="inductor compiles the tiny encoder: 15-60 s per "
                    "precision on 2 cores (less with its cache warm); set SLCA_SLOW=1")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_inductor_compiled_equals_eager(precision, images, capsys):
    eager, compiled = (SAMEncoder.untrained("tiny", seed=0, precision=precision, compile=c) for c in (False, True))
    a, b = eager.regions(images[:1], grid=4), compiled.regions(images[:1], grid=4)
    assert compiled.compiled.compiled is not None, capsys.readouterr().err  # compiled, not fallen back to eager
    if precision == "fp32":
        torch.testing.assert_close(b, a, atol=1e-4, rtol=0)
    else:  # bf16 rounds where inductor's fused kernels do, not where eager autocast does: as close as bf16 to fp32
        assert torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1)).min() > 0.999
