"""The command line, run in-process in a temporary folder (phantoms; the miniature, the offline default)."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from slca_min.cli.main import main

SMALL = ["--epochs", "1", "--image-size", "32", "--batch-size", "16", "--grid", "4", "--quiet"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_demo_writes_labelled_results(workdir, capsys):
    assert main(["demo", "--n", "60", "--size", "32", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "weights of slca: tiny_lesions-quick-" in out and "stand-in" in out  # printed once, above the table
    rows = list(csv.DictReader(open(workdir / "runs/demo/results.csv")))
    assert [r["model"] for r in rows] == ["baseline", "slca"]
    assert "stand-in" in rows[1]["weights"] and rows[0]["weights"] == "not used (no SAM)"
    assert json.loads((workdir / "runs/demo/results.json").read_text())["rows"][1]["model"] == "slca"
    assert (workdir / "runs/demo/metrics.png").stat().st_size > 0 and (workdir / "runs/demo/attention.png").stat().st_size > 0
    assert sorted(p.name for p in workdir.iterdir()) == ["cache", "runs"] and sorted(p.name for p in (workdir / "runs").iterdir()) == ["demo"]


def test_train_then_evaluate(workdir, capsys):
    main(["demo", "--n", "60", "--size", "32", *SMALL])  # writes cache/phantoms-n60-s32.npz
    data = "cache/phantoms-n60-s32.npz"
    assert main(["train", "--data", data, "--fraction", "0.5", "--out", "runs/t", "--integrate", "residual",
                 "--min-steps", "5", *SMALL]) == 0  # 21 images, batch 16: 2 steps per epoch, so 3 epochs
    assert main(["evaluate", "--data", data, "--model", "runs/t/model.pt", "--quiet"]) == 0  # rebuilt as F*(1+A)
    trained = list(csv.DictReader(open(workdir / "runs/t/results.csv")))[0]
    history = list(csv.DictReader(open(workdir / "runs/t/history.csv")))
    assert len(history) == 3 and all("stand-in" in h["weights"] for h in history) and trained["integrate"] == "residual"
    evaluated = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert evaluated[0] == "slca" and float(evaluated[3]) == pytest.approx(float(trained["auc"]), abs=1e-3)
    assert main(["train", "--data", data, "--no-slca", "--out", "runs/b", *SMALL]) == 0
    assert list(csv.DictReader(open(workdir / "runs/b/results.csv")))[0]["weights"] == "not used (no SAM)"


def test_multilevel_model_trains_evaluates_and_predicts(workdir, capsys, miniature):
    from slca_min import save_phantoms
    from slca_min.sam.levels import LEVELS

    save_phantoms(workdir / "p.npz", n=60, size=32)
    assert main(["train", "--data", "p.npz", "--sam-levels", ",".join(LEVELS), "--out", "runs/m", *SMALL]) == 0
    row = list(csv.DictReader(open(workdir / "runs/m/results.csv")))[0]
    assert row["sam_levels"] == "+".join(LEVELS) and "stand-in" in row["weights"]
    saved = json.loads((workdir / "runs/m/results.json").read_text())["model_file"]
    assert saved["sam_levels"] == list(LEVELS) and saved["stages"] == [0, 1, 2, 3, 4] and saved["preprocess"] == "sam"
    assert main(["evaluate", "--data", "p.npz", "--model", "runs/m/model.pt", "--quiet"]) == 0  # the model's levels
    assert float(capsys.readouterr().out.strip().splitlines()[-1].split()[3]) == pytest.approx(float(row["auc"]), abs=1e-3)
    (workdir / "images").mkdir()
    for i, image in enumerate(np.load(workdir / "p.npz")["test_images"][:3]):
        Image.fromarray(image).save(workdir / f"images/{i}.png")
    assert main(["predict", "--model", "runs/m/model.pt", "--images", "images", "--out", "runs/p", "--quiet"]) == 0
    assert len(list(csv.DictReader(open(workdir / "runs/p/predictions.csv")))) == 3
    Image.fromarray(np.zeros((1, 3000), np.uint8)).save(workdir / "images/narrow.png")  # 0 px high at SAM's input
    capsys.readouterr()
    assert main(["predict", "--model", "runs/m/model.pt", "--images", "images", "--out", "runs/p2", "--quiet"]) == 2
    assert "images/narrow.png: 1x3000 px" in capsys.readouterr().err and not (workdir / "runs/p2/predictions.csv").exists()
    from slca_min import SAMEncoder, load_model  # the Python API names the file too
    from slca_min.data.split import ImageFiles
    from slca_min.pipeline.predict import image_paths, predict_images
    with pytest.raises(ValueError, match="narrow.png: 1x3000 px"):
        predict_images(load_model(workdir / "runs/m/model.pt")[0], SAMEncoder.from_checkpoint(miniature),
                       ImageFiles(image_paths([workdir / "images"])))
    assert main(["evaluate", "--data", "p.npz", "--model", "runs/m/model.pt", "--sam-levels", "neck", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "sam_levels=['patch', 'early', 'middle', 'late', 'neck']" in err and "sam_levels=['neck', 'neck'" in err
    assert main(["evaluate", "--data", "p.npz", "--model", "runs/m/model.pt", "--sam-preprocess", "medsam", "--quiet"]) == 2
    assert "preprocess='sam'" in capsys.readouterr().err


def test_lowdata_resumes(workdir, monkeypatch):
    main(["demo", "--n", "60", "--size", "32", *SMALL])
    args = ["lowdata", "--data", "cache/phantoms-n60-s32.npz", "--fractions", "0.25", "1.0", "--seeds", "0", *SMALL]
    assert main(args) == 0
    rows = list(csv.DictReader(open(workdir / "runs/lowdata/results.csv")))
    assert {(r["model"], r["fraction"]) for r in rows} == {(m, f) for m in ("baseline", "slca") for f in ("0.25", "1.0")}
    assert all("stand-in" in r["weights"] for r in rows if r["model"] == "slca")
    assert (workdir / "runs/lowdata/auc_vs_fraction.png").is_file()
    summary = list(csv.DictReader(open(workdir / "runs/lowdata/summary.csv")))
    assert len(summary) == 4 and "auc_std" in summary[0]

    import slca_min.study.experiments

    monkeypatch.setattr(slca_min.study.experiments, "fit", lambda *a, **k: pytest.fail("a finished run was redone"))
    assert main(args) == 0  # everything is in results.csv already


def test_lowdata_in_images(workdir, capsys):
    from slca_min import save_phantoms
    from slca_min.study.viz import plot_lowdata

    save_phantoms("p.npz", n=60, size=32)  # 42 training images: 19 smooth, 23 irregular
    args = ["lowdata", "--data", "p.npz", "--models", "baseline", "--seeds", "0", *SMALL]
    assert main([*args, "--images", "4", "42"]) == 0
    out = capsys.readouterr().out
    assert "training-set sizes: 4 images (fraction 0.1), 42 images (fraction 1) of the 42 training images" in out
    table = out[out.index("\nmodel ") + 1:].splitlines()
    assert table[0].split()[:3] == ["model", "images", "fraction"] and [line.split()[1:3] for line in table[1:3]] == \
        [["4", "0.1"], ["42", "1"]]
    rows = list(csv.DictReader(open(workdir / "runs/lowdata/results.csv")))
    assert sorted((r["n_train"], r["fraction"]) for r in rows) == [("4", "0.1"), ("42", "1.0")]  # the resume key stays
    summary = list(csv.DictReader(open(workdir / "runs/lowdata/summary.csv")))
    assert [s["n_train"] for s in summary] == ["4", "42"]
    for r in rows:
        r.update(fraction=float(r["fraction"]), auc=float(r["auc"]))
    ax = plot_lowdata(rows, title="t").axes[0]
    assert ax.get_xlabel() == "training images (log scale)" and [t.get_text() for t in ax.get_xticklabels()] == ["4", "42"]
    assert plot_lowdata(rows[:1], title="t").axes[0].get_xlabel() == "model (4 training images, fraction 0.1)"
    assert main([*args, "--fractions", "0.1"]) == 0 and "are reused, not rerun" in capsys.readouterr().out
    assert main([*args, "--images", "21"]) == 2  # 19f and 23f never round to 21 together: 9 + 11 or 10 + 12
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --images: ") and "exactly 21" in err and "nearest sizes: 20 or 22" in err and "\n" not in err
    with pytest.raises(SystemExit) as refused:  # argparse's one line, as for every other option
        main([*args, "--images", "4", "--fractions", "0.1"])
    assert refused.value.code == 2 and "argument --fractions: not allowed with argument --images" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "missing.npz"], "missing.npz: no such file"),
    (["train", "--data", "bad.npz"], "bad.npz: cannot be read"),
    (["train", "--data", "x.npz", "--checkpoint", "nope.pth"], "nope.pth: no such checkpoint"),
    (["evaluate", "--data", "x.npz", "--model", "nope.pt"], "nope.pt: no such model"),
])
def test_bad_input_exits_2_with_one_line(workdir, capsys, args, message):
    (workdir / "bad.npz").write_bytes(b"garbage")
    from slca_min import save_phantoms

    save_phantoms(workdir / "x.npz", n=30, size=16)
    assert main(args + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_bad_fraction_as_a_real_process(workdir):
    result = subprocess.run([sys.executable, "-m", "slca_min", "train", "--data", "x.npz", "--fraction", "1.5"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "1.5 is outside (0, 1]" in result.stderr and "Traceback" not in result.stderr


def test_a_busy_machine_gets_a_one_line_hint(monkeypatch):
    from slca_min.cli.main import busy_hint

    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr("os.getloadavg", lambda: (4.0, 4.0, 4.0))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert "busy (load 4.0 on 2 cores)" in busy_hint() and "OMP_NUM_THREADS=1" in busy_hint()
    monkeypatch.setattr("os.getloadavg", lambda: (0.3, 0.3, 0.3))
    assert busy_hint() is None
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr("os.getloadavg", lambda: (4.0, 4.0, 4.0))
    assert busy_hint() is None  # the user chose
