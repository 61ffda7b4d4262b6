"""The fourth fault sweep (issue 27): folders stay the user's, warnings survive --quiet, the second command works.

Each test fails on 0.3's code. Small phantoms at 32 px (workdir), the quick miniature, in-process main().
"""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image
from test_faults import SMALL, one_line_error, run, write_npz

from slca_min.cli.main import main
from slca_min.train import steps_per_epoch
from slca_min.utils.files import RUN_MARK


def test_a_folder_holding_only_a_users_results_csv_is_refused(workdir, capsys):
    (workdir / "r").mkdir()
    (workdir / "r/results.csv").write_text("patient,score\n1,0.3\n")
    code, err = run(["train", "--data", "p.npz", "--out", "r", *SMALL], capsys)
    assert code == 2 and one_line_error(err, "r: holds files no run of slca_min wrote (results.csv)")
    assert (workdir / "r/results.csv").read_text() == "patient,score\n1,0.3\n"


def test_a_run_folder_with_a_users_file_keeps_it(workdir, capsys):
    assert main(["train", "--data", "p.npz", "--out", "run", *SMALL]) == 0
    assert "results.csv" in (workdir / "run" / RUN_MARK).read_text().splitlines()  # the mark lists what the run wrote
    (workdir / "run/my_thesis.docx").write_bytes(b"chapter 1")
    code, err = run(["train", "--data", "p.npz", "--out", "run", "--seed", "1", *SMALL], capsys)
    assert code == 2 and one_line_error(err, "(my_thesis.docx)", "move them out")
    assert (workdir / "run/my_thesis.docx").read_bytes() == b"chapter 1"
    (workdir / "run/my_thesis.docx").unlink()
    assert main(["train", "--data", "p.npz", "--out", "run", "--seed", "1", *SMALL]) == 0  # its own files: replaced


def test_a_run_folder_written_by_0_3_is_still_replaced(workdir):
    (workdir / "old").mkdir()
    (workdir / "old" / RUN_MARK).write_text("written by slca_min: the next run into this folder replaces it\n")
    for name in ("model.pt", "results.csv", "history.csv", "results.json"):
        (workdir / "old" / name).write_text("x")
    assert main(["train", "--data", "p.npz", "--out", "old", *SMALL]) == 0
    assert json.loads((workdir / "old/results.json").read_text())["seed"] == 0


def test_quiet_keeps_the_chance_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "noise.npz", n=16, shape=(32, 32))  # noise: nothing to learn
    assert main(["train", "--data", "noise.npz", "--gate", "none", "--out", "run", *SMALL]) == 0
    out = capsys.readouterr().out
    row = next(csv.DictReader(open(tmp_path / "run/results.csv")))
    assert row["at_chance"] == "True" and "warning: on the test split" in out


def test_predict_notes_another_precision_under_quiet(workdir, capsys):
    assert main(["train", "--data", "p.npz", "--out", "run", *SMALL]) == 0
    Image.fromarray(np.load("p.npz")["test_images"][0]).save(workdir / "a.png")
    capsys.readouterr()
    assert main(["predict", "--model", "run/model.pt", "--images", "a.png", "--precision", "int8", "--quiet"]) == 0
    assert "was trained on fp32 regions, these are int8" in capsys.readouterr().err


def test_predict_notes_training_images_of_an_npz_model(workdir, capsys):
    assert main(["train", "--data", "p.npz", "--out", "run", *SMALL]) == 0
    train_images = np.load("p.npz")["train_images"]
    for i in range(3):  # grey PNGs, as MedMNIST users save them, and one as RGB
        Image.fromarray(train_images[i]).convert("RGB" if i == 2 else "L").save(workdir / f"t{i}.png")
    Image.fromarray(np.load("p.npz")["test_images"][0]).save(workdir / "new.png")
    capsys.readouterr()
    assert main(["predict", "--model", "run/model.pt", "--images", "t0.png", "t1.png", "t2.png", "new.png",
                 "--quiet"]) == 0
    assert "note: 3 of the 4 images were in this model's training split" in capsys.readouterr().err


@pytest.mark.parametrize("n, batch", [(33, 16), (32, 16), (17, 16), (1, 4), (2, 4)])
def test_steps_per_epoch_is_what_the_loader_gives(n, batch):
    from torch.utils.data import DataLoader

    from slca_min.train import steps_per_epoch as planned
    loader = DataLoader(range(n), batch_size=batch, drop_last=planned(n, batch) < -(-n // batch))
    assert len(loader) == steps_per_epoch(n, batch) and all(len(b) > 1 or n == 1 for b in loader)


def test_min_steps_gives_at_least_that_many_steps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "d.npz", n=33, shape=(32, 32))
    args = ["--epochs", "1", "--image-size", "32", "--batch-size", "16", "--grid", "4", "--quiet", "--gate", "none"]
    assert main(["train", "--data", "d.npz", "--min-steps", "10", "--out", "run", *args]) == 0
    history = list(csv.DictReader(open(tmp_path / "run/history.csv")))
    assert len(history) * steps_per_epoch(33, 16) >= 10


def test_a_damaged_miniature_says_delete_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "mini.pth").write_bytes(b"PK\x03\x04 not all of it")
    monkeypatch.setenv("SLCA_MINIATURE", str(tmp_path / "mini.pth"))
    write_npz(tmp_path / "d.npz", n=8, shape=(32, 32))
    code, err = run(["extract", "--data", str(tmp_path / "d.npz"), "--cache-dir", str(tmp_path / "c"), "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "$SLCA_MINIATURE", "truncated or damaged", "delete the file")
    assert "download" not in err


def test_a_miniature_path_under_a_file_names_the_variable(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("SLCA_MINIATURE", str(tmp_path / "afile" / "mini.pth"))
    write_npz(tmp_path / "d.npz", n=8, shape=(32, 32))
    code, err = run(["extract", "--data", str(tmp_path / "d.npz"), "--cache-dir", str(tmp_path / "c"), "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "$SLCA_MINIATURE", "a part of the path is a file") and "Errno" not in err


def test_evaluate_and_predict_use_the_models_own_encoder(workdir, capsys):
    assert main(["train", "--data", "p.npz", "--out", "run", "--checkpoint", "untrained", *SMALL]) == 0
    Image.fromarray(np.load("p.npz")["test_images"][0]).save(workdir / "a.png")
    assert main(["predict", "--model", "run/model.pt", "--images", "a.png", "--quiet"]) == 0  # not the miniature
    assert main(["evaluate", "--data", "p.npz", "--model", "run/model.pt", "--quiet"]) == 0
    capsys.readouterr()
    code, err = run(["predict", "--model", "run/model.pt", "--images", "a.png", "--checkpoint", "miniature"], capsys)
    assert code == 2 and one_line_error(err, "pass --checkpoint with the encoder it was trained with")


def test_a_moved_encoder_file_names_the_option(workdir, capsys, miniature):
    import shutil

    shutil.copy(miniature, workdir / "enc.pth")
    assert main(["train", "--data", "p.npz", "--out", "run", "--checkpoint", "enc.pth", *SMALL]) == 0
    Image.fromarray(np.load("p.npz")["test_images"][0]).save(workdir / "a.png")
    assert main(["predict", "--model", "run/model.pt", "--images", "a.png", "--quiet"]) == 0
    os.rename(workdir / "enc.pth", workdir / "moved.pth")
    code, err = run(["predict", "--model", "run/model.pt", "--images", "a.png", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "enc.pth", "pass --checkpoint FILE")
    assert main(["predict", "--model", "run/model.pt", "--images", "a.png", "--checkpoint", "moved.pth", "--quiet"]) == 0


def test_two_data_folders_of_one_name_keep_their_cache_entries(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for site, seed in (("site1", 0), ("site2", 1)):
        rng = np.random.default_rng(seed)
        for c in ("a", "b"):
            (tmp_path / site / "scans" / c).mkdir(parents=True)
            for i in range(6):
                Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(tmp_path / site / "scans" / c / f"{i}.png")
    for site in ("site1", "site2", "site1"):
        assert main(["extract", "--data", f"{site}/scans", "--grid", "4", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "recomputing" not in err
    assert len(list((tmp_path / "cache").glob("scans-*-train-*.npy"))) == 2
    assert main(["cache"]) == 0
    listing = capsys.readouterr().out
    assert "6 entries" in listing and "delete any entry" in listing


def test_a_cache_entry_written_by_0_3_is_still_used(workdir, capsys, tiny):
    from slca_min import extract, load_data
    from slca_min.study.experiments import cache_key, load_encoder

    encoder = load_encoder(None)  # the miniature, the CLI's default
    for split, data in load_data("p.npz").items():  # 0.3's names: NAME-SPLIT-KEY.npy, no data fingerprint
        extract(data.images, encoder, workdir / "cache" / f"p-{split}-{cache_key(encoder, 4)}.npy", grid=4, progress=False)
    capsys.readouterr()
    assert main(["extract", "--data", "p.npz", "--grid", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("reusing cache") == 3 and "p-train-" in out
