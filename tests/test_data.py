import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from slca_min import extract, load_data, load_medmnist, save_phantoms, stratified_fraction
from slca_min.pipeline.cache import describe


def write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 3), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(n, 1)
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_phantoms_round_trip_in_medmnist_format(tmp_path):
    path = save_phantoms(tmp_path / "p.npz", n=40, size=32, seed=1)
    splits = load_medmnist(path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [28, 4, 8]
    assert splits["train"].images.shape == (28, 32, 32) and splits["train"].images.dtype == np.uint8
    assert np.load(path)["train_labels"].shape == (28, 1)
    assert set(np.unique(splits["train"].labels)) == {0, 1}


@pytest.mark.parametrize("overrides, message", [
    ({"val_labels": None}, "missing key 'val_labels'"),
    ({"train_images": np.zeros((6, 28, 28), np.float32)}, "train_images is float32"),
    ({"test_labels": np.full((3, 1), 5)}, "test has label 5, which never occurs in train"),
    ({"train_labels": -np.ones((6, 1), int)}, "labels include -1"),
    ({"val_images": np.zeros((0, 28, 28), np.uint8), "val_labels": np.zeros((0, 1), int)}, "val split is empty"),
    ({"train_labels": np.zeros((5, 1), int)}, r"expected integers of shape \(6, 1\)"),
])
def test_bad_npz_is_named(tmp_path, overrides, message):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(ValueError, match=message):
        load_medmnist(path)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_medmnist.py"):
        load_data(tmp_path / "nope.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="cannot be read"):
        load_data(tmp_path / "broken.npz")
    with pytest.raises(ValueError, match="expected a MedMNIST .npz"):
        load_data(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match="x.csv: no such file"):
        load_data(tmp_path / "x.csv")


def test_isic_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        (tmp_path / split).mkdir()
        rows = ["image_id,label"]
        for i, label in enumerate((0, 1, 2)):
            Image.fromarray(rng.integers(0, 256, (30 + i, 50, 3), dtype=np.uint8)).save(tmp_path / split / f"ISIC_{i}.jpg")
            rows.append(f"ISIC_{i},{label}")
        (tmp_path / split / "labels.csv").write_text("\n".join(rows) + "\n")
    splits = load_data(tmp_path)
    assert splits["val"].labels.tolist() == [0, 1, 2]
    assert splits["test"].images[2].shape == (32, 50, 3)
    (tmp_path / "test" / "ISIC_1.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="ISIC_1.jpg: listed in"):
        load_data(tmp_path)


def test_stratified_fraction():
    labels = np.array([0] * 90 + [1] * 10)
    idx = stratified_fraction(labels, 0.1, seed=0)
    assert np.bincount(labels[idx]).tolist() == [9, 1]
    assert np.bincount(labels[stratified_fraction(labels, 0.01, seed=0)]).tolist() == [1, 1]  # one per class at least
    assert not np.array_equal(idx, stratified_fraction(labels, 0.1, seed=1))
    assert len(stratified_fraction(labels, 1.0)) == 100
    with pytest.raises(ValueError, match="fraction=0"):
        stratified_fraction(labels, 0)


@pytest.mark.parametrize("counts, sizes", [
    ((19, 23), (2, 3, 4, 10, 20, 22, 41, 42)),  # the 42 training phantoms of n=60
    ((5, 50, 300), (3, 9, 42, 100, 354, 355)),
    ((4, 40, 80, 600, 50, 11, 900), (7, 9, 42, 420, 1685)),
])
def test_fraction_for_images_gives_exactly_that_many_for_every_seed(counts, sizes):
    from slca_min.data.loaders import fraction_for_images

    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(len(counts)), counts))
    for n in sizes:
        fraction = fraction_for_images(labels, n)
        assert 0 < fraction <= 1 and {len(stratified_fraction(labels, fraction, seed)) for seed in range(3)} == {n}


def test_fraction_for_images_picks_the_shortest_fraction_and_names_the_nearest_sizes():
    from slca_min.data.loaders import fraction_for_images

    balanced = np.repeat([0, 1], 210)  # two classes of 210: 0.1 is 21 + 21
    assert (fraction_for_images(balanced, 42), fraction_for_images(balanced, 420)) == (0.1, 1.0)  # rows shared with
    with pytest.raises(ValueError) as refused:                                                    # --fractions 0.1 1
        fraction_for_images(balanced, 9)  # every stratified subset of two equal classes is even
    assert "exactly 9" in str(refused.value) and str(refused.value).endswith("nearest sizes: 8 or 10")
    assert "\n" not in str(refused.value)
    with pytest.raises(ValueError, match="nearest sizes: 2$"):
        fraction_for_images(balanced, 1)  # one image per class at least
    with pytest.raises(ValueError, match="these 420 training images has exactly 421 .*nearest sizes: 420$"):
        fraction_for_images(balanced, 421)
    with pytest.raises(ValueError, match="nearest sizes: 20 or 22$"):
        fraction_for_images(np.repeat([0, 1], [19, 23]), 21)
    multilabel = (np.random.default_rng(0).random((50, 3)) < 0.3).astype(int)  # (N, L): the random draw's size
    assert len(stratified_fraction(multilabel, fraction_for_images(multilabel, 10), seed=0)) >= 10


def test_cache_reuses_and_recomputes(tiny, tmp_path, monkeypatch):
    images = np.random.default_rng(0).integers(0, 256, (10, 20, 20), dtype=np.uint8)
    first = extract(images, tiny, tmp_path / "c.npy", grid=4, batch_size=4, progress=False)
    assert first.shape == (10, 256, 4, 4) and first.dtype == np.float16
    np.testing.assert_allclose(first, tiny.regions(list(images), grid=4).numpy(), atol=2e-3, rtol=1e-3)
    sidecar = json.loads((tmp_path / "c.json").read_text())
    assert sidecar["weights"] == "untrained tiny, seed 0" and sidecar["complete"] and sidecar["sam_input"] == 256

    calls = []
    original = type(tiny).regions
    monkeypatch.setattr(type(tiny), "regions", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    extract(images, tiny, tmp_path / "c.npy", grid=4, progress=False)
    assert calls == []  # complete and matching: the encoder did not run
    changed = images.copy()
    changed[3, 0, 0] ^= 1
    assert describe(changed, tiny, 4) != describe(images, tiny, 4)
    extract(changed, tiny, tmp_path / "c.npy", grid=4, batch_size=5, progress=False)
    assert len(calls) == 2  # one changed pixel: recomputed, not reused
    extract(changed, tiny, tmp_path / "c.npy", grid=2, batch_size=10, progress=False)
    assert len(calls) == 3


KILLED_RUN = """
import sys, numpy as np
from slca_min import SAMEncoder, extract
images = np.random.default_rng(0).integers(0, 256, (600, 24, 24), dtype=np.uint8)
extract(images, SAMEncoder.untrained("tiny"), sys.argv[1], grid=4, batch_size=2, progress=False)
"""


def test_cache_survives_kill_9(tiny, tmp_path):
    """kill -9 mid-way: nothing looks complete; the rerun finishes without redoing finished images."""
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    target = tmp_path / "c.npy"
    process = subprocess.Popen([sys.executable, str(script), str(target)])
    partial = tmp_path / "c.partial.rank0-of-1.json"  # the progress of the (only) rank
    deadline = time.time() + 60
    while time.time() < deadline and json.loads(partial.read_text() if partial.exists() else '{"done": 0}').get("done", 0) < 20:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = json.loads(partial.read_text())["done"]
    assert 0 < done < 600, "the run was not caught mid-way"
    assert not target.exists() and not (tmp_path / "c.json").exists()

    images = np.random.default_rng(0).integers(0, 256, (600, 24, 24), dtype=np.uint8)
    seen = []
    original = tiny.regions
    tiny.regions = lambda batch, **k: seen.append(len(batch)) or original(batch, **k)
    try:
        result = extract(images, tiny, target, grid=4, batch_size=50, progress=False)
    finally:
        del tiny.regions
    assert sum(seen) == 600 - done
    expected = tiny.regions(list(images), grid=4, batch_size=50).numpy().astype(np.float16)
    np.testing.assert_allclose(result.astype(np.float32), expected.astype(np.float32), atol=2e-3, rtol=1e-3)


def test_atomic_write_leaves_old_file_or_new_never_half(tmp_path):
    from slca_min.utils.files import atomic_write

    target = tmp_path / "results.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-way")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as first:  # two writers at once (two lowdata runs' summary.csv): neither breaks the other
        first.write_text("first")
        with atomic_write(target) as second:
            second.write_text("second")
        assert target.read_text() == "second"
    assert target.read_text() == "first" and list(tmp_path.iterdir()) == [target]


def test_chestmnist_format_end_to_end(tmp_path):
    """(N, 14) 0/1 labels: sigmoid outputs, BCE, per-label metrics, subsets that keep every label."""
    import torch

    from slca_min import RegionDataset, SLCAClassifier, evaluate, train
    from slca_min.data.loaders import stratified_fraction

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 40), ("val", 12), ("test", 12)):
        labels = (rng.random((n, 14)) < 0.3).astype(np.uint8)
        labels[0] = 1  # every label positive somewhere
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = labels
    np.savez(tmp_path / "chestmnist.npz", **arrays)
    splits = load_data(tmp_path / "chestmnist.npz")
    assert splits["train"].multilabel and splits["train"].class_names[:2] == ("atelectasis", "cardiomegaly")
    subset = stratified_fraction(splits["train"].labels, 0.05, seed=0)
    assert (splits["train"].labels[subset].sum(0) > 0).all()
    make = lambda s: RegionDataset(splits[s].images, splits[s].labels, None, image_size=32)  # noqa: E731
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=14, gate="none")
    history = train(model, make("train"), make("val"), epochs=2, batch_size=16, class_weights="balanced", progress=False)
    assert len(history) == 2 and np.isfinite(history[-1]["val_loss"])
    metrics = evaluate(model, make("test"))
    assert 0 <= metrics["acc"] <= 1 and 0 <= metrics["auc"] <= 1
    arrays["train_labels"] = arrays["train_labels"].copy()
    arrays["train_labels"][:, 3] = 0
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="label 3 is never positive in the train split"):
        load_data(tmp_path / "bad.npz")


def test_a_training_fraction_reads_its_rows_from_the_cache_without_a_copy(tmp_path, rng):
    from slca_min import RegionDataset

    R = np.lib.format.open_memmap(tmp_path / "r.npy", mode="w+", dtype=np.float16, shape=(10, 4, 2, 2))
    R[:] = np.arange(10, dtype=np.float16)[:, None, None, None]  # row i holds i
    images, labels = rng.integers(0, 256, (10, 8, 8), dtype=np.uint8), np.arange(10) % 3
    whole = RegionDataset(images, labels, R, image_size=8)
    part = RegionDataset(images, labels, R, image_size=8, indices=np.array([7, 2]))
    assert part.regions is R and len(part) == 2 and list(part.labels) == [1, 2]
    for i, row in enumerate([7, 2]):
        x, r, y = part[i]
        assert torch.equal(x, whole[row][0]) and r.unique().tolist() == [row] and y == labels[row]
