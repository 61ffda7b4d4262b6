"""The fifth fault sweep (issue 34): a student's work is never overwritten, bad notebooks and foreign files get one
line, reports never mix settings. Each test fails on 0.5.0's code."""
import json
import threading
from pathlib import Path

import pytest
from test_faults import SMALL, one_line_error, run

from slca_min.cli.main import main
from slca_min.exercises.__main__ import main as release_main

SOURCE = Path(__file__).parents[1] / "notebooks/exercises/source"


def release_cli(args, capsys):
    code = release_main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_release_never_overwrites_a_students_notebook(tmp_path, capsys):
    out = tmp_path / "release"
    assert release_cli([SOURCE, "--out", out], capsys)[0] == 0
    student = next(out.rglob("01_*.ipynb"))
    notebook = json.loads(student.read_text())
    notebook["cells"][3]["source"] = "my answer, three hours of work"
    student.write_text(json.dumps(notebook))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, _, err = release_cli([SOURCE, "--out", out], capsys)
    assert code == 2 and one_line_error(err, student.name, "nothing was written", "--overwrite")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing changed, nothing added
    code, out_text, _ = release_cli([SOURCE, "--out", out, "--overwrite"], capsys)
    assert code == 0 and "my answer" not in student.read_text()


def test_a_second_identical_release_changes_nothing(tmp_path, capsys):
    out = tmp_path / "release"
    assert release_cli([SOURCE, "--out", out], capsys)[0] == 0
    code, text, _ = release_cli([SOURCE, "--out", out], capsys)
    assert code == 0 and "wrote" not in text and text.count("unchanged") == len(list(SOURCE.rglob("*.ipynb")))


@pytest.mark.parametrize("content, needles", [
    ('{"cells": [{"cell_type" "code"}]}', ("not valid JSON",)),
    ("[]", ("not a Jupyter notebook",)),
    ('{"cells": [{"cell_type": "code", "source": "x = 1"}]}', ("cell 0 has no metadata",)),
])
def test_a_broken_notebook_is_named_and_nothing_is_written(tmp_path, capsys, content, needles):
    source = tmp_path / "source"
    source.mkdir()
    for path in SOURCE.rglob("*.ipynb"):
        (source / path.name).write_bytes(path.read_bytes())
    (source / "99_broken.ipynb").write_text(content)
    code, _, err = release_cli([source, "--out", tmp_path / "release"], capsys)
    assert code == 2 and one_line_error(err, "99_broken.ipynb", *needles)
    assert not (tmp_path / "release").exists() or not list((tmp_path / "release").rglob("*.ipynb"))


def test_two_releases_at_once_write_one_complete_set(tmp_path):
    out, codes = tmp_path / "release", []
    threads = [threading.Thread(target=lambda: codes.append(release_main([str(SOURCE), "--out", str(out)])))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [0, 0]
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(p.name for p in SOURCE.rglob("*.ipynb"))


def test_cache_lists_around_another_tools_json(workdir, capsys):
    assert run(["extract", "--data", "p.npz", "--checkpoint", "untrained", "--grid", "4", "--quiet"], capsys)[0] == 0
    (workdir / "cache/other-tool.json").write_text('{"weights": null, "count": null}')
    (workdir / "cache/other-tool.npy").write_bytes(b"x")
    (workdir / "cache/list.json").write_text("[1, 2]")
    capsys.readouterr()
    code = main(["cache", "--cache-dir", "cache"])
    captured = capsys.readouterr()
    assert code == 0 and not captured.err and "3 entries" in captured.out and "other-tool" not in captured.out


REPORT = Path(__file__).parents[1] / "benchmarks/study_pretrained_report.py"
RECORDED = ["study_pretrained_summary.csv", "study_pretrained_questions.csv", "study_pretrained.png"]
ROW = {"model": "baseline", "fraction": "0.1", "seed": "0", "auc": "0.8", "balanced_acc": "0.7", "precision": "",
       "train_precision": "fp32", "backbone_weights": "resnet18_shapes-b345b58f.pth", "epochs": "10"}


def results(path, rows):
    from slca_min.utils.files import write_csv

    write_csv(path, rows)
    return path


@pytest.mark.parametrize("case, needles", [
    ("empty", ("no result rows",)),
    ("header", ("no result rows",)),
    ("bf16 and fp32", ("rows of slca", "train_precision", "bf16, fp32")),
    ("scratch and weights", ("rows of slca", "backbone_weights", "none")),
    ("two library versions", ("rows of slca", "library", "0.4.0, 0.5.0")),  # a file an older version began
])
def test_the_report_refuses_what_it_cannot_pair_and_keeps_the_recorded_study(tmp_path, case, needles, capsys):
    import importlib.util

    rows = [{**ROW, "model": m, "seed": str(s)} for m in ("baseline", "slca") for s in range(4)]
    if case == "bf16 and fp32":
        rows += [{**r, "train_precision": "bf16"} for r in rows if r["model"] == "slca"]
    if case == "scratch and weights":
        rows[-1]["backbone_weights"] = "none"
    for r in rows:
        r["library"] = "0.5.0"
    if case == "two library versions":
        rows[-1]["library"] = "0.4.0"
    path = tmp_path / "results.csv"
    if case == "empty":
        path.write_text("")
    elif case == "header":
        path.write_text(",".join(ROW) + "\n")
    else:
        results(path, rows)
    recorded = {name: (REPORT.parent / name).read_bytes() for name in RECORDED}
    spec = importlib.util.spec_from_file_location("study_pretrained_report", REPORT)  # in-process: its main(argv)
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    code, err = report.main([str(path)]), capsys.readouterr().err
    assert code == 2 and one_line_error(err, str(path), *needles), err  # like every refusal
    assert {name: (REPORT.parent / name).read_bytes() for name in RECORDED} == recorded


def test_a_damaged_remembered_encoder_names_the_option(workdir, capsys, miniature):
    import shutil

    shutil.copy(miniature, workdir / "enc.pth")
    assert main(["train", "--data", "p.npz", "--out", "run", "--checkpoint", "enc.pth", *SMALL]) == 0
    (workdir / "enc.pth").write_bytes(b"not a checkpoint any more")
    code, err = run(["evaluate", "--data", "p.npz", "--model", "run/model.pt", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "enc.pth", "pass --checkpoint FILE", "cannot be loaded")
    assert "download" not in err


def test_evaluate_reuses_the_models_precision(workdir, capsys):
    assert main(["train", "--data", "p.npz", "--out", "run", "--precision", "bf16", *SMALL]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--data", "p.npz", "--model", "run/model.pt", "--quiet"]) == 0
    assert "regions, these are" not in capsys.readouterr().err  # bf16 regions, as trained: no note


def test_evaluating_a_baseline_loads_no_encoder(workdir, capsys, monkeypatch):
    assert main(["train", "--data", "p.npz", "--out", "run", "--no-slca", *SMALL]) == 0
    import slca_min.cli.commands as commands

    monkeypatch.setattr(commands, "load_encoder", lambda *a, **k: pytest.fail("an encoder was loaded"))
    assert main(["evaluate", "--data", "p.npz", "--model", "run/model.pt", "--quiet"]) == 0


def test_bad_backbone_weights_are_refused_before_the_data_are_read(workdir, capsys):
    (workdir / "bad.pt").write_bytes(b"junk")
    code, err = run(["lowdata", "--data", "p.npz", "--backbone-weights", "bad.pt", *SMALL], capsys)
    assert code == 2 and one_line_error(err, "bad.pt", "not a state dict")
    assert "data:" not in capsys.readouterr().out and not (workdir / "cache").exists()


def test_an_imagenet_download_that_never_answers_times_out(tmp_path, monkeypatch):
    import socket

    import slca_min.backbones as backbones

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    import torch
    import torchvision.models._api as weights_api

    url = f"http://127.0.0.1:{silent.getsockname()[1]}/resnet18-f37072fd.pth"  # instead of download.pytorch.org
    monkeypatch.setattr(weights_api, "load_state_dict_from_url",
                        lambda _, *args, **kwargs: torch.hub.load_state_dict_from_url(url, *args, **kwargs))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "DOWNLOAD_TIMEOUT", 1.0)
    with pytest.raises(OSError, match="cannot fetch .*timed out.*--backbone-weights miniature"):
        backbones.build_backbone("resnet18", 2, "imagenet")
    silent.close()
    assert socket.getdefaulttimeout() is None


def test_a_tiny_checkpoint_is_the_miniature_only_by_its_sidecar(tmp_path, miniature):
    import shutil

    import torch

    from slca_min import SAMEncoder
    from slca_min.sam.checkpoints import MINIATURE, UNKNOWN_TINY
    from slca_min.utils.files import sha256_of

    random = tmp_path / "random.pth"
    torch.save({f"image_encoder.{k}": v for k, v in SAMEncoder.untrained("tiny").image_encoder.state_dict().items()},
               random)
    assert UNKNOWN_TINY in SAMEncoder.from_checkpoint(random).weights
    shutil.copy(miniature, tmp_path / "copy.pth")
    assert UNKNOWN_TINY in SAMEncoder.from_checkpoint(tmp_path / "copy.pth").weights  # no sidecar: unknown
    shutil.copy(miniature.with_suffix(".json"), tmp_path / "copy.json")
    assert MINIATURE in SAMEncoder.from_checkpoint(tmp_path / "copy.pth").weights
    sidecar = {**json.loads(miniature.with_suffix(".json").read_text()), "sha256": sha256_of(miniature)}
    (tmp_path / "random.json").write_text(json.dumps(sidecar))  # the miniature's sidecar, naming other bytes
    assert UNKNOWN_TINY in SAMEncoder.from_checkpoint(random).weights
