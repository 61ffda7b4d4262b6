"""Users' own images: class folders, CSV tables, 16-bit and DICOM files, every MedMNIST 2D flag, and predict."""
import csv
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from slca_min import load_data, save_phantoms
from slca_min.cli.main import main
from slca_min.data.medmnist_info import MEDMNIST, SIZES, URL, file_name

SMALL = ["--epochs", "1", "--image-size", "32", "--batch-size", "8", "--grid", "4", "--quiet"]


def write_class_folders(root, n=10, classes=("benign", "malignant")):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, min(255, 100 + 100 * c), (24, 32), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_class_folders_split_once_and_recorded(tmp_path):
    root = write_class_folders(tmp_path / "images")
    first = load_data(root)
    assert first["train"].class_names == ("benign", "malignant")
    assert [len(first[s]) for s in ("train", "val", "test")] == [14, 2, 4]  # 70/10/20, stratified per class
    assert (root / "slca_split.csv").is_file()
    again = load_data(root, seed=5)  # the recorded split wins while the files are the same
    assert all(first[s].images.paths == again[s].images.paths for s in first)
    (root / "slca_split.csv").unlink()
    assert load_data(root, seed=5)["test"].images.paths != first["test"].images.paths


def test_new_files_are_dealt_while_recorded_ones_keep_their_split(tmp_path, capsys):
    root = write_class_folders(tmp_path / "images")
    first = {s: set(map(str, split.images.paths)) for s, split in load_data(root).items()}
    image = np.asarray(Image.open(next((root / "benign").iterdir())))
    for i in range(10):  # ten more of each class
        for c in ("benign", "malignant"):
            Image.fromarray(np.roll(image, i + 1)).save(root / c / f"new{i}.png")
    (root / "malignant" / "0.png").unlink()
    after = {s: set(map(str, split.images.paths)) for s, split in load_data(root).items()}
    assert "20 new image(s) dealt, 19 kept in their splits, 1 gone" in capsys.readouterr().out
    for s in first:  # every recorded image is where it was; nothing of train moved to val or test
        assert first[s] - {str(root / "malignant" / "0.png")} <= after[s]
    assert sum(len(v) for v in after.values()) == 39 and all(len(after[s]) > len(first[s]) - 1 for s in first)


@pytest.mark.parametrize("second, message", [
    ("benign/0.png,benign,test", "line 3: benign/0.png is listed again (first on line 2)"),  # a train/test leak
    ("benign/1.png,benign,tset", "line 3: split 'tset'; use train, val or test"),
])
def test_split_tables_that_would_mislead_are_refused(tmp_path, second, message):
    root = write_class_folders(tmp_path / "images", n=2)
    (root / "slca_split.csv").write_text(f"path,label,split\nbenign/0.png,benign,train\n{second}\n")  # a recorded split
    with pytest.raises(ValueError, match=re.escape(f"slca_split.csv, {message}")):
        load_data(root)
    (tmp_path / "t.csv").write_text(f"path,label,split\nimages/benign/0.png,benign,train\nimages/{second}\n")  # a user's CSV
    with pytest.raises(ValueError, match=re.escape(f"t.csv, {message.replace('benign/', 'images/benign/')}")):
        load_data(tmp_path / "t.csv")


def test_class_folders_with_split_folders(tmp_path):
    for split in ("train", "val", "test"):
        write_class_folders(tmp_path / split, n=2)
    splits = load_data(tmp_path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [4, 4, 4]
    assert not (tmp_path / "slca_split.csv").exists()


def test_csv_with_names_and_with_integers(tmp_path):
    root = write_class_folders(tmp_path / "img", n=4)
    rows = [(f"img/{c}/{i}.png", c, "train" if i < 2 else "val" if i == 2 else "test") for c in ("benign", "malignant")
            for i in range(4)]
    with open(tmp_path / "named.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "split"), *rows])
    named = load_data(tmp_path / "named.csv")
    assert named["train"].class_names == ("benign", "malignant") and named["test"].labels.tolist() == [0, 1]
    with open(tmp_path / "numbers.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label"), *[(p, int(c == "malignant")) for p, c, _ in rows]])
    numbered = load_data(tmp_path / "numbers.csv")
    assert numbered["train"].class_names == ("0", "1") and (tmp_path / "numbers.slca_split.csv").is_file()
    del root


@pytest.mark.parametrize("make, message", [
    (lambda r: (r / "empty").mkdir(), "empty: empty class folder"),
    (lambda r: shutil.rmtree(r / "malignant"), "a classifier needs at least 2 classes"),
    (lambda r: (r / "benign" / "notes.txt").write_text("x"), "notes.txt: unknown image type"),
    (lambda r: (r / "benign" / "0.png").write_bytes(b"not a png"), "0.png: cannot be read as an image"),
])
def test_bad_folders_exit_2_naming_the_file(tmp_path, monkeypatch, capsys, make, message):
    monkeypatch.chdir(tmp_path)
    root = write_class_folders(tmp_path / "images")
    make(root)
    assert main(["extract", "--data", "images", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_csv_path_that_does_not_exist(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("path,label\nnope.png,a\n")
    assert main(["extract", "--data", "t.csv"]) == 2
    assert "nope.png: listed in t.csv but missing" in capsys.readouterr().err


def test_dicom_examples_through_the_whole_pipeline(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pydicom", reason="DICOM is an optional extra: pip install -e '.[dicom]'")
    from pydicom import examples

    from slca_min.data.images import read_image

    ct = read_image(examples.ct.filename)  # CT_small.dcm: rescale to HU, no window -> the image range
    assert ct.shape == (128, 128, 3) and ct.min() == 0 and ct.max() == 255
    mr = read_image(examples.mr.filename)  # MR_small.dcm: window center 600, width 1600: -200..1400
    hu = examples.mr.pixel_array.astype(float)
    expected = np.round(np.clip((hu + 200) / 1600, 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(mr[..., 0], expected)
    monkeypatch.chdir(tmp_path)
    for name, source in (("ct", examples.ct.filename), ("mr", examples.mr.filename)):
        (tmp_path / "scans" / name).mkdir(parents=True)
        for i in range(5):
            shutil.copy(source, tmp_path / "scans" / name / f"{i}.dcm")
    assert main(["train", "--data", "scans", "--out", "m", *SMALL]) == 0
    assert main(["predict", "--model", "m/model.pt", "--images", "scans/ct", "--out", "p", "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "p/predictions.csv")))
    assert len(rows) == 5 and set(rows[0]) == {"path", "predicted", "p(ct)", "p(mr)", "weights", "backbone_weights"}


def test_predict_agrees_with_evaluate(tmp_path, monkeypatch, capsys):
    from slca_min.data.dataset import RegionDataset
    from slca_min.pipeline.model_file import load_model
    from slca_min.pipeline.predict import predict_images
    from slca_min.study.experiments import extract_splits, load_encoder
    from slca_min.train import predict

    monkeypatch.chdir(tmp_path)
    save_phantoms(tmp_path / "p.npz", n=40, size=32)
    assert main(["train", "--data", "p.npz", "--out", "m", *SMALL]) == 0
    splits = load_data(tmp_path / "p.npz")
    test = splits["test"]
    for i, image in enumerate(test.images):
        Image.fromarray(image).save(tmp_path / f"t{i:02d}.png")
    assert main(["predict", "--model", "m/model.pt", "--images", *sorted(map(str, tmp_path.glob("t*.png"))), "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "runs/predict/predictions.csv")))
    p = np.array([[float(r["p(smooth margin)"]), float(r["p(irregular margin)"])] for r in rows])
    assert len(rows) == len(test) and np.allclose(p.sum(1), 1, atol=1e-6)
    model, d = load_model("m/model.pt")
    regions = extract_splits(splits, load_encoder(), name="p", grid=4, progress=False)
    scores, _ = predict(model, RegionDataset(test.images, test.labels, regions["test"], image_size=d["image_size"]))
    assert (p.argmax(1) == scores.argmax(1)).all()  # the same predictions as evaluate's
    np.testing.assert_allclose(predict_images(model, load_encoder(), test.images), scores, atol=1e-3)
    with pytest.raises(ValueError, match="sam_input=256"):
        predict_images(model, load_encoder(sam_input=128), test.images)


def test_medmnist_table_has_all_12_flags_at_4_sizes():
    assert len(MEDMNIST) == 12 and all(set(md5) == set(SIZES) for _, _, _, md5 in MEDMNIST.values())
    assert file_name("breastmnist", 224) == "breastmnist_224.npz" and file_name("chestmnist", 28) == "chestmnist.npz"


def test_medmnist_table_equals_the_medmnist_package():
    info = pytest.importorskip("medmnist.info", reason="medmnist not installed (pip install --no-deps medmnist)").INFO
    for flag, (task, names, sizes, md5) in MEDMNIST.items():
        row = info[flag]
        assert task == row["task"] and names == tuple(row["label"][str(i)] for i in range(len(row["label"])))
        assert sizes == tuple(row["n_samples"][s] for s in ("train", "val", "test"))
        for size in SIZES:
            suffix = "" if size == 28 else f"_{size}"
            assert md5[size] == row[f"MD5{suffix}"] and row[f"url{suffix}"] == f"{URL}/{file_name(flag, size)}?download=1"


def test_missing_pydicom_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.chdir(tmp_path)
    write_class_folders(tmp_path / "scans", n=3)
    (tmp_path / "scans" / "benign" / "x.dcm").write_bytes(b"DICM")
    monkeypatch.setitem(sys.modules, "pydicom", None)  # as if the [dicom] extra were not installed
    assert main(["extract", "--data", "scans", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and 'pip install -e ".[dicom]"' in err and "\n" not in err


def test_integer_class_folders_sort_as_numbers_and_csv_paths_may_leave_its_folder(tmp_path):
    root = write_class_folders(tmp_path / "images", n=4, classes=("0", "10", "2"))
    assert load_data(root)["train"].class_names == ("0", "2", "10")  # the same rule as a CSV's integer labels
    (tmp_path / "tables").mkdir()
    with open(tmp_path / "tables/t.csv", "w", newline="") as f:  # no split column, paths outside the CSV's folder
        csv.writer(f).writerows([("path", "label"), *[(f"../images/{c}/{i}.png", c) for c in ("0", "10", "2")
                                                       for i in range(4)]])
    with pytest.raises(ValueError, match="integer labels must be 0..C-1"):
        load_data(tmp_path / "tables/t.csv")
    with open(tmp_path / "tables/t.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label"), *[(f"../images/{c}/{i}.png", n) for n, c in enumerate(("0", "2", "10"))
                                                       for i in range(4)]])
    splits = load_data(tmp_path / "tables/t.csv")
    assert sum(len(s) for s in splits.values()) == 12 and "../images/" in (tmp_path / "tables/t.slca_split.csv").read_text()
