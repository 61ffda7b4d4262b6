"""Faults and bad input: nothing silently wrong, one line and exit 2 for every mistake, nothing half-written.

The CLI is the contract here: most cases run `main()` in-process (the same code a real process
runs, much faster); the ones that need a process of their own (exit codes, file-size limits,
concurrency) run `python -m slca_min` as one. Small phantoms at 32 px, the untrained tiny encoder.
"""
import csv
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from slca_min import SAMEncoder, extract, save_phantoms
from slca_min.cli.main import main
from slca_min.data.images import read_image

SMALL = ["--epochs", "1", "--image-size", "32", "--batch-size", "16", "--grid", "4", "--quiet"]


def run(args, capsys) -> tuple[int, str]:
    """main() as the shell would see it: (exit code, stderr)."""
    try:
        code = main(args)
    except SystemExit as e:  # argparse
        code = e.code
    return code, capsys.readouterr().err


def one_line_error(err: str, *needles: str) -> bool:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("error: ") and all(n in lines[0] for n in needles)


def cli(*args, cwd, limit_bytes=None) -> subprocess.CompletedProcess:
    def limit():
        if limit_bytes:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run([sys.executable, "-m", "slca_min", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, preexec_fn=limit)


def write_npz(path, labels=(0, 1), n=8, shape=(28, 28)):
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.resize(np.array(labels), n).reshape(n, 1)
    np.savez(path, **arrays)
    return path


# --- silent wrong results and lost data ----------------------------------------------------------

def test_lowdata_only_adds_rows_and_resumes_on_every_setting(workdir, capsys):
    base = ["lowdata", "--data", "p.npz", "--seeds", "0", "--out", "X", *SMALL]
    results = lambda: list(csv.DictReader(open(workdir / "X/results.csv")))  # noqa: E731
    assert main(base + ["--fractions", "0.5", "1.0"]) == 0
    first = results()
    assert len(first) == 4
    assert main([*base, "--fractions", "1.0", "--epochs", "2"]) == 0  # another setting into the same --out
    rows = results()
    assert len(rows) == 6 and [{k: r[k] for k in first[0]} for r in rows[:4]] == first  # earlier rows kept as they were
    summary = list(csv.DictReader(open(workdir / "X/summary.csv")))
    assert [(s["model"], s["fraction"], s["seeds"]) for s in summary] == [("baseline", "1.0", "1"), ("slca", "1.0", "1")]
    # each option is part of the resume key: changing it refits what it can change (the baseline ignores SAM)
    for change, refit in ((["--class-weights", "balanced"], ["baseline", "slca"]), (["--grid", "2"], ["baseline", "slca"]),
                          (["--sam-input", "128"], ["slca"])):
        before = len(results())
        assert main([*base, "--fractions", "1.0", *change]) == 0
        assert [r["model"] for r in results()[before:]] == refit, change
    before = len(results())
    assert main([*base, "--fractions", "1.0", "--sam-input", "128"]) == 0  # the same setting again: nothing new
    assert len(results()) == before


def test_result_setting_covers_every_fit_option(tmp_path):
    from dataclasses import fields

    from slca_min.data.loaders import load_data
    from slca_min.study.comparison import result_setting
    from slca_min.study.experiments import FitConfig

    splits = load_data(save_phantoms(tmp_path / "p.npz", n=30, size=16))
    setting = result_setting(FitConfig(), splits, SAMEncoder.untrained("tiny"))
    assert {f.name for f in fields(FitConfig)} - {"device"} <= setting.keys()
    assert {"data_id", "weights", "sam_input", "precision", "model_type", "library"} <= setting.keys()


@pytest.mark.parametrize("damage", ["overwrite", "truncate", "empty", "pickle"])
def test_damaged_cache_is_recomputed_never_used(tmp_path, tiny, damage, capsys):
    images = [np.full((24, 24), 40 * i, np.uint8) for i in range(5)]
    path = tmp_path / "c.npy"
    clean = np.array(extract(images, tiny, path, grid=4, progress=False))
    if damage == "overwrite":  # bytes inside the data, sidecar intact
        with open(path, "r+b") as f:
            f.seek(-64, 2)
            f.write(b"\x7f" * 64)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:-1000])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    capsys.readouterr()
    again = np.array(extract(images, tiny, path, grid=4, progress=False))
    assert np.array_equal(again, clean)
    err = capsys.readouterr().err.strip()
    assert err.startswith("cache c.npy:") and err.endswith("recomputing") and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.npy"]


def test_damaged_cache_through_the_cli(workdir):
    assert cli("extract", "--data", "p.npz", "--grid", "4", "--quiet", cwd=workdir).returncode == 0
    cache = sorted((workdir / "cache").glob("p-*-train-*.npy"))[0]
    clean = np.load(cache).copy()
    with open(cache, "r+b") as f:
        f.seek(-200, 2)
        f.write(b"\x00" * 200)
    result = cli("extract", "--data", "p.npz", "--grid", "4", "--quiet", cwd=workdir)
    assert result.returncode == 0 and f"cache {cache.name}: its data does not match the checksum" in result.stderr
    assert np.array_equal(np.load(cache), clean)


def test_sixteen_bit_images_keep_their_contrast(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)  # 12-bit data in a 16-bit container
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    assert Image.open(tmp_path / "ramp.png").mode.startswith("I;16")
    rgb = read_image(tmp_path / "ramp.png")
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8 and rgb.min() == 0 and rgb.max() == 255
    assert np.array_equal(rgb[..., 0], np.round(ramp / 4095 * 255).astype(np.uint8))  # linear from the image's range


def test_evaluate_refuses_a_model_that_does_not_match(workdir, capsys):
    assert main(["train", "--data", "p.npz", "--out", "m", *SMALL]) == 0
    code, err = run(["evaluate", "--data", "p.npz", "--model", "m/model.pt", "--sam-input", "128", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "sam_input=256", "sam_input=128")
    code, err = run(["evaluate", "--data", "p.npz", "--model", "m/model.pt", "--grid", "8", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "grid=4", "grid=8")
    write_npz(workdir / "three.npz", labels=(0, 1, 2))
    code, err = run(["evaluate", "--data", "three.npz", "--model", "m/model.pt", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "num_classes=2", "num_classes=3")
    saved = __import__("torch").load(workdir / "m/model.pt", weights_only=True)["description"]
    assert {"library", "num_classes", "class_names", "backbone", "gate", "stages", "grid", "image_size", "weights",
            "model_type", "sam_input", "precision"} <= saved.keys()
    assert saved["class_names"] == ["smooth margin", "irregular margin"]


def test_train_outputs_appear_together_or_not_at_all(workdir):
    assert cli("train", "--data", "p.npz", "--out", "t", *SMALL, cwd=workdir).returncode == 0
    before = {p.name: p.read_bytes() for p in (workdir / "t").iterdir()}
    assert sorted(before) == [".slca_min-run", "history.csv", "model.pt", "results.csv", "results.json"]
    # a second run whose model.pt cannot be written (a 20 MB file-size limit; ResNet-18 is 45 MB): disk full, in effect
    result = cli("train", "--data", "p.npz", "--out", "t", "--seed", "1", *SMALL, cwd=workdir, limit_bytes=20 << 20)
    assert result.returncode == 2 and one_line_error(result.stderr, "model.pt: cannot write")
    assert {p.name: p.read_bytes() for p in (workdir / "t").iterdir()} == before  # the previous run, untouched
    assert sorted(p.name for p in workdir.iterdir()) == ["cache", "p.npz", "t"]  # no staging folder left


@pytest.mark.parametrize("labels, message", [
    ((0, 0), "every train label is 0"),
    ((1, 1), "no example of class 0 of 0..1"),
    ((0, 5), "no example of class 1 of 0..5"),
    ((0, 10**9), "no example of labels up to 1000000000"),
])
def test_degenerate_labels_are_refused(workdir, capsys, labels, message):
    write_npz(workdir / "bad.npz", labels=labels)
    code, err = run(["train", "--data", "bad.npz", *SMALL], capsys)
    assert code == 2 and one_line_error(err, "bad.npz", message)


def make_isic(root, labels_csv: bytes):
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((20, 30, 3), 50 * i, np.uint8)).save(root / split / f"ISIC_{i}.jpg")
        (root / split / "labels.csv").write_bytes(labels_csv)


@pytest.mark.parametrize("labels_csv, message", [
    (b"image_id,label\nISIC_0,0\nISIC_1,1\nISIC_2,3\n", "line 4: label '3'; ISIC labels are 0..2"),
    (b"image_id,label\nISIC_0,0\nISIC_1\nISIC_2,2\n", "line 3: a value is missing"),
    ("image_id,label\nISIC_0,0\nISIC_1,1\nISIC_2,2 é\n".encode("latin-1"), "not UTF-8 text"),
])
def test_bad_isic_tables(workdir, capsys, labels_csv, message):
    make_isic(workdir / "isic", labels_csv)
    code, err = run(["extract", "--data", "isic", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "labels.csv", message)


def test_csv_with_a_byte_order_mark_is_read(workdir):
    from slca_min import load_data

    make_isic(workdir / "isic", "\ufeffimage_id,label\nISIC_0,0\nISIC_1,1\nISIC_2,2\n".encode("utf-8"))
    assert load_data(workdir / "isic")["val"].labels.tolist() == [0, 1, 2]


def test_two_extracts_at_once_share_one_cache(workdir):
    save_phantoms(workdir / "q.npz", n=300, size=32, seed=1)
    args = [sys.executable, "-m", "slca_min", "extract", "--data", "q.npz", "--grid", "4", "--quiet"]
    first, second = (subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2))
    results = [p.communicate() + (p.returncode,) for p in (first, second)]
    assert [code for _, _, code in results] == [0, 0], results
    names = sorted(p.name for p in (workdir / "cache").iterdir())
    assert len(names) == 6 and all(n.endswith((".npy", ".json")) and ".partial" not in n for n in names)


# --- tracebacks that must be one-line errors -------------------------------------------------------

@pytest.mark.parametrize("option, message", [
    (["--epochs", "0"], "--epochs: 0 must be at least 1"),
    (["--batch-size", "0"], "--batch-size: 0 must be at least 2"),
    (["--image-size", "0"], "--image-size: 0 must be from 16 to 2048"),
    (["--grid", "0"], "--grid: 0 must be from 1 to 64"),
    (["--grid", "-2"], "--grid: -2 must be from 1 to 64"),
    (["--seed", "-1"], "--seed: -1 must be at least 0"),
    (["--sam-input", "0"], "--sam-input: 0 must be from 64 to 1024"),
    (["--sam-input", "4096"], "--sam-input: 4096 must be from 64 to 1024"),
    (["--sam-input", "100"], "a multiple of 16"),
    (["--device", "foo"], "--device: 'foo' is not a device"),
    (["--epochs", "two"], "--epochs: 'two' is not an integer"),
    (["--backbone", "vgg"], "--backbone: 'vgg' is not a backbone"),
    (["--gate", "film"], "--gate: invalid choice"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
])
def test_bad_options_one_line(workdir, capsys, option, message):
    code, err = run(["train", "--data", "p.npz", *option], capsys)
    assert code == 2 and one_line_error(err, message, "--help")


def test_cuda_without_a_gpu(workdir, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, err = run(["extract", "--data", "p.npz", "--device", "cuda"], capsys)
    assert code == 2 and one_line_error(err, "no CUDA GPU", "--device cpu")


def test_bad_option_as_a_real_process(workdir):
    result = cli("train", "--data", "p.npz", "--epochs", "0", cwd=workdir)
    assert result.returncode == 2 and one_line_error(result.stderr, "--epochs") and not (workdir / "runs").exists()


def test_images_that_cannot_be_read_name_the_file(workdir, capsys):
    make_isic(workdir / "isic", b"image_id,label\nISIC_0,0\nISIC_1,1\nISIC_2,2\n")
    jpeg = (workdir / "isic/val/ISIC_1.jpg").read_bytes()
    (workdir / "isic/val/ISIC_1.jpg").write_bytes(jpeg[:len(jpeg) // 2])  # truncated
    code, err = run(["extract", "--data", "isic", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "ISIC_1.jpg: cannot be read as an image")
    Image.new("1", (20000, 20000)).save(workdir / "isic/val/ISIC_1.jpg", format="PNG")  # 400 Mpixel, a few kB
    code, err = run(["extract", "--data", "isic", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "ISIC_1.jpg", "decompression-bomb", "--allow-large-images")


def test_empty_images_are_named(workdir, capsys):
    write_npz(workdir / "flat.npz", shape=(0, 0))
    code, err = run(["extract", "--data", "flat.npz"], capsys)
    assert code == 2 and one_line_error(err, "flat.npz", "(8, 0, 0)", "at least 1x1")


def test_unwritable_out_is_found_before_training(workdir, capsys):
    (workdir / "afile").write_text("x")
    code, err = run(["train", "--data", "p.npz", "--out", "afile/run", *SMALL], capsys)
    assert code == 2 and one_line_error(err, "afile/run", "cannot write", "--out")
    assert "epoch" not in capsys.readouterr().out
    code, err = run(["lowdata", "--data", "p.npz", "--out", "afile/low", *SMALL], capsys)
    assert code == 2 and one_line_error(err, "afile/low", "cannot write")


def test_a_too_narrow_image_names_its_file(workdir, capsys):
    make_isic(workdir / "isic", b"image_id,label\nISIC_0,0\nISIC_1,1\nISIC_2,2\n")
    Image.fromarray(np.zeros((1, 3000), np.uint8)).save(workdir / "isic/test/ISIC_2.jpg")
    code, err = run(["extract", "--data", "isic", "--quiet"], capsys)
    assert code == 2 and one_line_error(err, "isic/test/ISIC_2.jpg: 1x3000 px", "at least 6 px")
