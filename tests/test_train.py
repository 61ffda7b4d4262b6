import numpy as np
import pytest
import torch

from slca_min import RegionDataset, SLCAClassifier, evaluate, make_phantoms, train


@pytest.fixture(scope="module")
def phantom_sets():
    """Phantoms -> regions with the untrained tiny encoder (a pipeline check, not a SAM result)."""
    from slca_min import SAMEncoder

    images, labels, _ = make_phantoms(96, size=48, seed=0)
    R = SAMEncoder.untrained("tiny", seed=0).regions(list(images), grid=8, batch_size=32)
    return (RegionDataset(images[:64], labels[:64], R[:64], image_size=48),
            RegionDataset(images[64:], labels[64:], R[64:], image_size=48))


@pytest.mark.parametrize("slca", [False, True])
def test_end_to_end_learning_happens(phantom_sets, slca):
    train_set, val_set = phantom_sets
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, slca=slca, grid=8)
    history = train(model, train_set, val_set, epochs=8, lr=2e-3, batch_size=16, seed=0, progress=False,
                    recalibrate_bn=False)  # the restored weights as they were (recalibration changes BatchNorm's statistics)
    assert len(history) == 8
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    best = max(history, key=lambda h: (h["val_auc"], h["val_balanced_acc"]))
    assert evaluate(model, val_set)["auc"] == pytest.approx(best["val_auc"])  # the best epoch was restored
    assert set(evaluate(model, val_set)) == {"acc", "balanced_acc", "auc", "f1_macro"}


def test_same_seed_same_history(phantom_sets):
    train_set, val_set = phantom_sets
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = SLCAClassifier(num_classes=2, grid=8)
        history = train(model, train_set, val_set, epochs=2, lr=1e-3, batch_size=16, seed=5, progress=False)
        runs.append([{k: v for k, v in h.items() if k != "seconds"} for h in history])
    assert runs[0] == runs[1]


def test_flips_move_image_and_regions_together():
    image = np.zeros((8, 8), np.uint8)
    image[:, :2] = 255  # bright left edge
    R = torch.zeros(1, 256, 4, 4)
    R[0, :, :, 0] = 1  # left column of regions
    dataset = RegionDataset(image[None], np.array([0]), R, image_size=8, augment=True)
    torch.manual_seed(0)
    sides = []
    for _ in range(20):
        x, r, _ = dataset[0]
        image_left = x[0, :, :2].mean() > x[0, :, -2:].mean()
        regions_left = r[0, :, 0].mean() > r[0, :, -1].mean()
        assert image_left == regions_left
        sides.append(bool(image_left))
    assert 0 < sum(sides) < 20  # both flipped and unflipped were seen


def test_non_finite_loss_stops_with_a_clear_error(phantom_sets):
    train_set, val_set = phantom_sets
    model = SLCAClassifier(num_classes=2, slca=False)
    with torch.no_grad():
        model.backbone.fc.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="training loss is nan"):
        train(model, train_set, val_set, epochs=1, lr=1e-3, batch_size=16, seed=0, progress=False)


def test_balanced_class_weights(phantom_sets):
    train_set, val_set = phantom_sets
    model = SLCAClassifier(num_classes=2, slca=False)
    history = train(model, train_set, val_set, epochs=1, batch_size=32, class_weights="balanced", progress=False)
    assert np.isfinite(history[0]["train_loss"])
    with pytest.raises(ValueError, match="3 entries"):
        train(model, train_set, val_set, epochs=1, class_weights=[1, 1, 1], progress=False)


def test_a_last_batch_of_one_is_dropped_not_fatal(phantom_sets):
    train_set, val_set = phantom_sets
    small = RegionDataset(train_set.images[:17], train_set.labels[:17], train_set.regions[:17], image_size=32)
    history = train(SLCAClassifier(num_classes=2, grid=8), small, val_set, epochs=1, batch_size=16, progress=False)
    assert history[0]["best"] and np.isfinite(history[0]["train_loss"])


def test_chance_warning():
    from slca_min.train import chance_warning

    labels = np.array([0] * 8 + [1] * 2)
    always_zero = np.tile([0.9, 0.1], (10, 1))
    always_zero[:, 1] = np.linspace(0.01, 0.1, 10)  # a perfect AUC (the positives score highest) from a one-class model
    assert "predicts class 0 for 100% of the images (balanced accuracy 0.500, chance 0.500)" in chance_warning(labels,
                                                                                                            always_zero)
    good = np.eye(2)[labels] * 0.8 + 0.1
    assert chance_warning(labels, good) is None
    swapped = good[:, ::-1]  # two classes predicted, every one wrong: balanced accuracy 0, below chance
    assert "balanced accuracy 0.000 over 10 images is within what chance gives" in chance_warning(labels, swapped)
    half = good.copy()
    half[[0, 1, 8]] = half[[0, 1, 8]][:, ::-1]  # balanced accuracy (6/8 + 1/2) / 2 = 0.625 on 10 images: chance's range
    assert "below 0.816" in chance_warning(labels, half, split="validation")
    big = np.concatenate([labels] * 10), np.concatenate([half] * 10)
    assert chance_warning(*big) is None  # 0.625 on 100 images is above chance's range (0.600)
    assert chance_warning(np.zeros((4, 3), int), np.full((4, 3), 0.5)) is None  # multi-label: not this check


def test_a_small_easy_folder_is_learned_or_warned_about(tmp_path, capsys):
    """The newcomer's folder: 2 x 40 noisy 64-px images, bright disks against bright squares, README defaults but
    few epochs. Either the model tells them apart on test, or the one-class warning says it does not."""
    from PIL import Image

    from slca_min.cli.main import main

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    for shape in ("disk", "square"):
        (tmp_path / "shapes" / shape).mkdir(parents=True)
        for i in range(40):
            cy, cx, r = rng.integers(20, 44, 2).tolist() + [int(rng.integers(8, 14))]
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r if shape == "disk" else (abs(yy - cy) < r) & (abs(xx - cx) < r)
            image = np.clip(rng.normal(60, 25, (64, 64)) + 140 * inside, 0, 255).astype(np.uint8)
            Image.fromarray(image).save(tmp_path / "shapes" / shape / f"{i}.png")
    assert main(["train", "--data", str(tmp_path / "shapes"), "--out", str(tmp_path / "run"), "--epochs", "6",
                 "--image-size", "128", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    test_balanced = float(out.strip().splitlines()[-2].split()[2])  # the table's row: model, acc, balanced_acc, ...
    assert test_balanced >= 0.75 or "warning: on the test split" in out, out[-3000:]  # learned, or said it has not
    assert "BatchNorm statistics recomputed" in out and "note: 8 validation images choose the epoch" in out


def test_batchnorm_recalibration_gives_the_exact_statistics():
    from torch.utils.data import TensorDataset

    from slca_min import SLCAClassifier
    from slca_min.train import recalibrate_batchnorm

    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, slca=False)
    x = torch.randn(10, 3, 32, 32) * 3 + 2  # far from the running statistics' starting point (mean 0, var 1)
    recalibrate_batchnorm(model, TensorDataset(x, torch.empty(10, 0), torch.zeros(10, dtype=torch.long)), batch_size=5)
    with torch.no_grad():
        expected = model.backbone.conv1(x).mean((0, 2, 3))  # what bn1 sees, over the whole set
    torch.testing.assert_close(model.backbone.bn1.running_mean, expected, atol=1e-4, rtol=1e-4)
    assert model.backbone.bn1.momentum == 0.1 and not model.training
