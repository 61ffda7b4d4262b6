"""The comparison's controls and statistics: shuffled regions, probes, paired intervals, the CLI table."""
import csv
import math

import numpy as np
import pytest
import torch

from slca_min.cli.main import main
from slca_min.study.comparison import shuffled, summarize
from slca_min.study.probes import knn_probe, linear_probe, standardize
from slca_min.study.stats import paired_difference, t975
from slca_min.train import classification_metrics


def test_shuffled_regions_are_a_permutation_with_no_image_keeping_its_own():
    R = {"train": np.arange(50, dtype=np.float16).reshape(50, 1, 1, 1), "test": np.arange(7, dtype=np.float16).reshape(7, 1, 1, 1)}
    out = shuffled(R)
    for split in R:
        source = out[split].ravel().astype(int)
        assert sorted(source) == list(range(len(source))) and (source != np.arange(len(source))).all()
    assert np.array_equal(shuffled(R)["train"], out["train"])  # fixed


@pytest.mark.parametrize("probe", [linear_probe, knn_probe])
def test_probes_separate_a_separable_toy_set(probe):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    centres = rng.normal(0, 3, (3, 16))
    x = torch.tensor(centres[labels] + rng.normal(0, 1, (120, 16)), dtype=torch.float32)
    train_x, test_x = standardize(x[::2], x[1::2])
    scores = probe(train_x, labels[::2], test_x, 3)
    assert scores.shape == (60, 3) and np.allclose(scores.sum(1), 1)
    assert classification_metrics(labels[1::2], scores)["auc"] > 0.95


def test_paired_difference_against_a_hand_worked_example():
    # differences 0.02, 0.04, 0.00, 0.06: mean 0.03, sample sd 0.025820, t(0.975, 3) = 3.182
    d = paired_difference([0.82, 0.84, 0.80, 0.86], [0.80, 0.80, 0.80, 0.80])
    half = 3.182 * 0.0258199 / 2
    assert d["diff_mean"] == pytest.approx(0.03)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.03 - half, 0.03 + half), abs=1e-5)
    assert d["won"] == 3 and d["seeds"] == 4
    assert math.isnan(paired_difference([0.9], [0.8])["ci_low"])  # one seed: no interval
    assert t975(1000) == pytest.approx(1.962, abs=1e-3)


def test_summary_pairs_by_seed():
    rows = [{"model": m, "fraction": 1.0, "seed": s, "weights": "w", "acc": 0, "balanced_acc": 0, "f1_macro": 0,
             "auc": a} for m, s, a in [("baseline", 0, 0.7), ("baseline", 1, 0.6), ("slca", 1, 0.8), ("slca", 0, 0.9)]]
    slca = [r for r in summarize(rows) if r["model"] == "slca"][0]
    assert slca["auc_vs_baseline"] == pytest.approx(0.2) and slca["seeds_won"] == 2
    assert slca["ci95_low"] == pytest.approx(0.2) and slca["ci95_high"] == pytest.approx(0.2)  # identical differences


def test_summary_gives_each_size_its_images():
    rows = [{"model": "baseline", "fraction": f, "seed": s, "n_train": n, "weights": "w", "acc": 0, "balanced_acc": 0,
             "f1_macro": 0, "auc": 0.5} for f, s, n in [(0.1, 0, "42"), (0.1, 1, "42"), (0.5, 0, "40"), (0.5, 1, "44")]]
    assert [s["n_train"] for s in summarize(rows)] == [42, "40-44"]  # multi-label subsets can differ by seed
    assert summarize([{k: v for k, v in r.items() if k != "n_train"} for r in rows])[0]["n_train"] == ""


def test_lowdata_takes_sizes_in_images(tmp_path):
    from slca_min import load_data, save_phantoms
    from slca_min.data.loaders import fraction_for_images
    from slca_min.study.comparison import lowdata
    from slca_min.study.experiments import FitConfig

    save_phantoms(tmp_path / "p.npz", n=40, size=32)  # 28 training images
    splits = load_data(tmp_path / "p.npz")
    grid = dict(seeds=[0, 1], config=FitConfig(grid=4), setting={}, data="p.npz", models=["probe-oracle"], progress=False)
    rows = lowdata(splits, {}, images=[4, 28], **grid)  # linear probes: instant
    four = fraction_for_images(splits["train"].labels, 4)
    assert sorted((r["n_train"], r["fraction"]) for r in rows) == [(4, four), (4, four), (28, 1.0), (28, 1.0)]
    with pytest.raises(ValueError, match="images=.*or as fractions=.*one of the two"):
        lowdata(splits, {}, images=[4], fractions=[0.1], **grid)


def test_every_model_side_by_side_from_the_cli(tmp_path, monkeypatch, capsys):
    from slca_min import save_phantoms

    monkeypatch.chdir(tmp_path)
    save_phantoms("p.npz", n=40, size=32)
    models = "baseline,se,cbam,slca,slca-shuffled,probe-linear,probe-knn,slca-oracle,probe-oracle,slca-residual,slca-oracle-residual"
    assert main(["lowdata", "--data", "p.npz", "--models", models, "--fractions", "1.0", "--seeds", "0", "1",
                 "--epochs", "1", "--image-size", "32", "--grid", "4", "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "runs/lowdata/results.csv")))
    assert sorted({r["model"] for r in rows}) == sorted(models.split(",")) and len(rows) == 22
    assert all(int(r["n_params"]) > 0 for r in rows if r["model"] != "probe-knn")
    params = {r["model"]: int(r["n_params"]) for r in rows}
    assert params["baseline"] < params["se"] < params["cbam"] and params["slca"] == params["slca-shuffled"] == params["slca-residual"]
    assert params["probe-oracle"] == 2 * 2 + 2  # logistic regression on (lesion, border) fractions
    assert {r["weights"] for r in rows if r["model"] in ("baseline", "se", "cbam")} == {"not used (no SAM)"}
    summary = list(csv.DictReader(open(tmp_path / "runs/lowdata/summary.csv")))
    assert all(s["auc_vs_baseline"] != "" for s in summary if s["model"] != "baseline")
    assert "AUC vs baseline" in capsys.readouterr().out
    oracle = ("slca-oracle", "slca-oracle-residual", "probe-oracle")
    assert {r["weights"] for r in rows if r["model"] in oracle} == {"lesion masks (oracle, no SAM)"}
    np.savez("nomasks.npz", **{k: v for k, v in np.load("p.npz").items() if not k.endswith("_masks")})
    assert main(["lowdata", "--data", "nomasks.npz", "--models", "slca-oracle", "--epochs", "1", "--quiet"]) == 2
    assert "needs lesion masks" in capsys.readouterr().err


def test_oracle_regions_are_lesion_and_border_fractions():
    from slca_min import oracle_regions

    mask = np.zeros((1, 8, 8), bool)
    mask[0, 2:6, 2:6] = True  # a 4x4 square lesion
    R = oracle_regions(mask, grid=2).astype(np.float32)  # (1, 2, 2, 2): each region is a 4x4 quadrant
    assert R.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(R[0, 0], 4 / 16)  # each quadrant holds 2x2 lesion pixels
    # the border band (dilation minus erosion) in each quadrant: the 3x3 corner around the lesion's corner, minus
    # the one interior pixel that erosion keeps
    np.testing.assert_allclose(R[0, 1], 8 / 16)
