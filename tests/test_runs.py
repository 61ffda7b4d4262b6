"""Output folders and concurrent runs: nothing of the user's is wiped, nothing of two runs is mixed or lost.

Concurrency is tested with real processes started together, in two rounds (a race that passes once
proves little); everything else in-process. Small phantoms at 32 px, the quick miniature.
"""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_faults import SMALL  # workdir (conftest): the same 40 small phantoms in a fresh folder

from slca_min.cli.main import main
from slca_min.pipeline.model_file import load_model


def start(*args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "slca_min", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_a_folder_that_is_not_a_run_is_refused_never_wiped(workdir, capsys):
    (workdir / "project").mkdir()
    (workdir / "project/notes.txt").write_text("mine")
    assert main(["train", "--data", "p.npz", "--out", "project", *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert "project: holds files no run of slca_min wrote (notes.txt)" in err and "\n" not in err
    assert (workdir / "project/notes.txt").read_text() == "mine" and sorted(os.listdir(workdir / "project")) == ["notes.txt"]
    assert main(["train", "--data", "p.npz", "--out", ".", *SMALL]) == 2  # the working folder: same rule, its own name
    assert f"{workdir}: holds files" in capsys.readouterr().err
    assert main(["train", "--data", "p.npz", "--out", "run", *SMALL]) == 0
    assert main(["train", "--data", "p.npz", "--out", "run", "--seed", "1", *SMALL]) == 0  # a previous run: replaced
    assert json.loads((workdir / "run/results.json").read_text())["seed"] == 1


def test_two_trains_into_one_folder_at_once_one_is_refused_nothing_mixed(workdir):
    main(["extract", "--data", "p.npz", "--grid", "4", "--quiet"])  # the cache first: both runs start training at once
    runs = [start("train", "--data", "p.npz", "--out", "same", "--seed", str(seed), "--epochs", "20",  # ~8 s holding
                  "--image-size", "64", "--batch-size", "16", "--grid", "4", "--quiet", cwd=workdir)  # the lock
            for seed in (0, 1)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    winner = next(i for i, (code, _) in enumerate(results) if code == 0)
    err = results[1 - winner][1]
    assert "same: another run is writing to it right now" in err and err.count("\n") == 1
    saved = json.loads((workdir / "same/results.json").read_text())
    assert saved["seed"] == winner and saved["model_file"] == load_model(workdir / "same/model.pt")[1]
    assert sorted(p.name for p in workdir.iterdir()) == ["cache", "p.npz", "same"]  # nothing staged left behind


def test_two_lowdata_runs_into_one_folder_at_once_keep_every_row(workdir):
    main(["extract", "--data", "p.npz", "--grid", "4", "--quiet"])
    runs = [start("lowdata", "--data", "p.npz", "--out", "low", "--fractions", "1.0", "--seeds", *seeds, *SMALL,
                  cwd=workdir) for seeds in (["0", "1"], ["2", "3"])]
    assert [p.wait(timeout=300) for p in runs] == [0, 0], [p.stderr.read() for p in runs]
    rows = list(csv.DictReader(open(workdir / "low/results.csv")))
    assert sorted((r["model"], int(r["seed"])) for r in rows) == sorted((m, s) for m in ("baseline", "slca") for s in range(4))


def test_repeated_models_and_seeds_run_once(workdir, capsys):
    assert main(["lowdata", "--data", "p.npz", "--models", "baseline,baseline", "--seeds", "0", "0", "--fractions", "1.0",
                 "1", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "--models: repeated values are run once" in out and "--seeds: repeated" in out and "--fractions: repeated" in out
    assert len(list(csv.DictReader(open(workdir / "runs/lowdata/results.csv")))) == 1


def test_unclear_errors_now_name_the_option_or_file(workdir, capsys):
    from PIL import Image

    from slca_min.data.phantoms import make_phantoms

    with pytest.raises(SystemExit):
        main(["train", "--data", "p.npz", "--batch-size", "1"])
    assert "--batch-size: 1 must be at least 2" in capsys.readouterr().err
    images = make_phantoms(12, size=32, seed=0)[0]
    for split in ("train", "val"):  # no test/: not classes named train and val
        for label in ("a", "b"):
            (workdir / "folder" / split / label).mkdir(parents=True)
            for i, image in enumerate(images[:3]):
                Image.fromarray(image).save(workdir / "folder" / split / label / f"{i}.png")
    assert main(["train", "--data", "folder", *SMALL]) == 2
    assert "folder: has train/, val/ but not test/" in capsys.readouterr().err
    nan = np.full((8, 8), 0.5, np.float32)
    nan[0, :3] = np.nan
    (workdir / "f/a").mkdir(parents=True)
    Image.fromarray(nan, mode="F").save(workdir / "f/a/nan.tif")
    from slca_min.data.images import read_image

    with pytest.raises(ValueError, match=r"nan.tif: .*3 of its 64 pixels are NaN or infinite"):
        read_image(workdir / "f/a/nan.tif")
    np.savez(workdir / "nomask.npz", **{k: v for k, v in np.load(workdir / "p.npz").items() if "mask" not in k})
    assert main(["lowdata", "--data", "nomask.npz", "--models", "slca-oracle", *SMALL]) == 2
    assert "(train_masks, val_masks, test_masks in the npz)" in capsys.readouterr().err


def test_a_model_from_another_library_version_says_so(workdir, capsys):
    import torch

    assert main(["train", "--data", "p.npz", "--out", "run", *SMALL]) == 0
    saved = torch.load(workdir / "run/model.pt", weights_only=True)
    saved["description"]["library"] = "0.0.1"
    torch.save(saved, workdir / "old.pt")
    capsys.readouterr()
    assert main(["evaluate", "--data", "p.npz", "--model", "old.pt", "--quiet"]) == 0
    assert "old.pt: written by slca_min 0.0.1, this is" in capsys.readouterr().err


def test_evaluate_says_when_it_scores_images_the_model_trained_on(workdir, capsys):
    assert main(["train", "--data", "p.npz", "--out", "run", *SMALL]) == 0
    p = dict(np.load(workdir / "p.npz"))
    leaked = {**p, "test_images": p["train_images"][:8], "test_labels": p["train_labels"][:8],
              "test_masks": p["train_masks"][:8]}
    np.savez(workdir / "leaked.npz", **leaked)
    capsys.readouterr()
    assert main(["evaluate", "--data", "p.npz", "--model", "run/model.pt", "--quiet"]) == 0
    assert "not held out" not in capsys.readouterr().err  # the real test split: held out
    assert main(["evaluate", "--data", "leaked.npz", "--model", "run/model.pt", "--quiet"]) == 0
    assert "warning: 8 of the 8 test images were in this model's training split" in capsys.readouterr().err
