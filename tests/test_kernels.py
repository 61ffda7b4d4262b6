"""Attention kernels chosen by measurement: every kernel is SAM's maths, the choice is remembered per machine."""
import json

import numpy as np
import pytest
import torch

from slca_min import SAMEncoder
from slca_min.sam import kernel_choice
from slca_min.sam.attention import KERNELS, kernels_run


@pytest.fixture
def choices(tmp_path, monkeypatch):
    """A fresh file of choices, and no memory of the session's."""
    path = tmp_path / "attention_kernels.json"
    monkeypatch.setenv("SLCA_ATTENTION_KERNELS", str(path))
    monkeypatch.setattr(kernel_choice, "_remembered", {})
    return path


@pytest.fixture
def timed(monkeypatch):
    """Counts the calls that time kernels."""
    calls = []
    measure = kernel_choice.measure

    def counting(*args, **kwargs):
        calls.append(args[0])
        return measure(*args, **kwargs)
    monkeypatch.setattr(kernel_choice, "measure", counting)
    return calls


def bf16_embedding(attention: str, image) -> torch.Tensor:
    return SAMEncoder.untrained("tiny", seed=0, precision="bf16", attention=attention).embed([image])


def test_every_kernel_in_bf16_is_fp32_sams_attention_within_rounding(choices, rng):
    image = rng.integers(0, 256, (90, 170, 3), dtype=np.uint8)
    reference = SAMEncoder.untrained("tiny", seed=0, attention="sam").embed([image]).flatten(1)
    for attention in ("auto", *KERNELS):
        cosine = torch.nn.functional.cosine_similarity(bf16_embedding(attention, image).flatten(1), reference)
        assert cosine.min() > 0.999, attention


def test_auto_times_once_then_remembers_per_processor_and_torch(choices, timed, rng, monkeypatch, capsys):
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    encoder = SAMEncoder.untrained("tiny", seed=0, precision="bf16")
    encoder.embed([image])
    shapes = len(timed)
    assert shapes == 2  # the tiny encoder's windowed block and its global ones
    assert "attention kernels timed once for this machine" in capsys.readouterr().err
    saved = json.loads(choices.read_text())
    assert len(saved) == 2 and all(torch.__version__ in key and kernel_choice.processor(torch.device("cpu")) in key
                                   for key in saved)
    assert set(kernels_run(encoder.image_encoder)) == {"windowed", "global"}
    kernel_choice._remembered.clear()  # a new process: reads the file, times nothing
    SAMEncoder.untrained("tiny", seed=0, precision="bf16").embed([image])
    assert len(timed) == shapes and "timed once" not in capsys.readouterr().err
    monkeypatch.setattr(kernel_choice, "processor", lambda device: "Another CPU")
    encoder.embed([image])
    assert len(timed) == 2 * shapes
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    encoder.embed([image])
    assert len(timed) == 3 * shapes and len(json.loads(choices.read_text())) == 3 * shapes


def test_a_damaged_file_of_choices_is_said_and_rewritten(choices, timed, rng, capsys):
    choices.write_text('{"half written')
    SAMEncoder.untrained("tiny", seed=0, precision="bf16").embed([rng.integers(0, 256, (40, 40), dtype=np.uint8)])
    assert f"{choices} cannot be read" in capsys.readouterr().err and len(timed) == 2
    assert len(json.loads(choices.read_text())) == 2
    key = next(iter(json.loads(choices.read_text())))
    choices.write_text(json.dumps({key: {"kernel": "no such kernel", "chunk_bytes": None}}))  # not a candidate
    kernel_choice._remembered.clear()
    SAMEncoder.untrained("tiny", seed=0, precision="bf16").embed([rng.integers(0, 256, (40, 40), dtype=np.uint8)])
    assert len(timed) == 4


def test_fp32_on_the_cpu_keeps_the_mask_without_timing(choices, timed, rng):
    encoder = SAMEncoder.untrained("tiny", seed=0)
    encoder.embed([rng.integers(0, 256, (40, 40), dtype=np.uint8)])
    assert not timed and not choices.exists() and set(kernels_run(encoder.image_encoder).values()) == {"masked"}


def test_a_forced_kernel_is_run_and_not_timed(choices, timed, rng):
    for kernel in KERNELS:
        encoder = SAMEncoder.untrained("tiny", seed=0, precision="bf16", attention=kernel)
        encoder.embed([rng.integers(0, 256, (40, 40), dtype=np.uint8)])
        assert set(kernels_run(encoder.image_encoder).values()) == {kernel}
    assert not timed and not choices.exists()
    with pytest.raises(ValueError, match="attention='fast'"):
        SAMEncoder.untrained("tiny", attention="fast")


def test_a_kernel_that_fails_or_disagrees_is_not_chosen(capsys):
    right = torch.ones(2, 8)

    def run(option):
        if option[0] == "broken":
            raise RuntimeError("no kernel for this device")
        return -right if option[0] == "wrong" else right
    times = kernel_choice.measure([("masked", None), ("broken", None), ("wrong", None)], run, cuda=False)
    assert list(times) == [("masked", None)]
    err = capsys.readouterr().err
    assert "broken cannot run here" in err and "wrong disagrees with masked" in err


def test_the_cli_takes_attention():
    from slca_min.cli.main import build_parser

    args = build_parser().parse_args(["extract", "--data", "p.npz", "--attention", "folded"])
    assert args.attention == "folded"
    assert build_parser().parse_args(["extract", "--data", "p.npz"]).attention == "auto"



OPTIONS = [("masked", 16 << 20), ("masked", 64 << 20)]


def choose_for(q):
    """The choice between OPTIONS for a call on q, timing a stand-in kernel (milliseconds, not an encoder)."""
    return kernel_choice.choose(OPTIONS, lambda option: q * 2, q=q, shape="a test shape")


def test_a_chunk_size_that_is_not_an_int_is_said_and_measured_again(choices, timed, capsys):
    q = torch.ones(2, 8, dtype=torch.bfloat16)
    choices.write_text(json.dumps({kernel_choice.key_of(q, "a test shape"): {"kernel": "masked",
                                                                             "chunk_bytes": 67108864.0}}))
    kernel, chunk = choose_for(q)  # was ("masked", 67108864.0): a TypeError in the attention that used it
    assert type(chunk) is int and len(timed) == 1 and kernel_choice.label((kernel, chunk))
    assert "chunk_bytes 67108864.0" in capsys.readouterr().err
    assert all(type(entry["chunk_bytes"]) is int for entry in json.loads(choices.read_text()).values())


def test_an_unwritable_file_of_choices_names_the_file_and_the_variable(tmp_path, monkeypatch, capsys):
    import errno
    import os
    from pathlib import Path

    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    write_text = Path.write_text

    def as_the_os_would(self, *args, **kwargs):  # root may still write into a 0o555 folder; anyone else gets this
        if self.parent == folder:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return write_text(self, *args, **kwargs)
    monkeypatch.setattr(Path, "write_text", as_the_os_would)
    monkeypatch.setenv("SLCA_ATTENTION_KERNELS", str(folder / "kernels.json"))
    monkeypatch.setattr(kernel_choice, "_remembered", {})
    choose_for(torch.ones(2, 8, dtype=torch.bfloat16))
    note = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and str(folder / "kernels.json") in note[0] and "SLCA_ATTENTION_KERNELS" in note[0]
    assert ".tmp" not in note[0] and not list(folder.iterdir())
