"""Haystack scenes (issue 44): the positive control's phantoms leave every earlier phantom as it was, and only
the classified lesion carries the label."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slca_min import make_phantoms
from slca_min.data.haystack import CROP, lesion_boxes, make_haystack, oracle_crop
from slca_min.data.phantoms import oracle_regions
from slca_min.study.probes import linear_probe, standardize
from slca_min.train import classification_metrics
from test_ladder import digest

# sha256 of make_phantoms(40, size=64, seed=3, difficulty=L)'s images, labels and masks, written before the haystack
LEVELS = {0: "2996f6da5129598df882c65f01200d4efa820bc5665070556d7a8ccd6b78e535",
          1: "42f2c3953daf584935492e5a0de66faea2093cfa65f69ba15b1c16538b9e0caa",
          2: "d9e2fc5a041fadd7cfc50b5dff3712c4672e5e22518faf9839064df47460f4ea",
          3: "6e16893495fe1db56477fc313445ac0d4c146c3978196060194b1f030b3dbecf",
          4: "9bef68f05f773b87dba09ee480094299209510b9aee4d14f170e3f94baca53fb"}


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_every_ladder_level_is_unchanged_bit_for_bit(level):
    assert digest(*make_phantoms(40, size=64, seed=3, difficulty=level)) == LEVELS[level]


def test_scenes_mark_the_classified_lesion_only_and_do_not_depend_on_n():
    images, labels, masks = make_phantoms(12, scene="haystack", seed=1)
    assert images.shape == masks.shape == (12, 128, 128) and images.dtype == np.uint8 and set(labels) <= {0, 1}
    share = masks.mean((1, 2))
    assert np.all((share > 0.01) & (share < 0.04))  # one lesion of about 2 % of the image
    assert np.all(images[masks].mean() > 20)  # the mask is the grey solid mass, not a black cyst
    assert (images < 15).mean() > 0.03  # ... while the cysts are there, outside it
    more = make_haystack(20, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((images, labels, masks), (x[:12] for x in more)))
    regions = oracle_regions(masks, 16)
    assert regions.shape == (12, 2, 16, 16) and np.allclose(regions[:, 0].mean((1, 2)), share, atol=1e-3)


def _edges(x: np.ndarray) -> torch.Tensor:
    """Simple margin features: the image, its gradient and local contrast pooled on a 4 x 4 grid, and how much of
    the smoothed image has a strong edge (more where a margin is irregular)."""
    x = torch.from_numpy(x).float()[:, None] / 255
    gradient = (x[..., 1:, :-1] - x[..., :-1, :-1]).abs() + (x[..., :-1, 1:] - x[..., :-1, :-1]).abs()
    contrast = (x - F.avg_pool2d(x, 3, 1, 1)).abs()
    s = F.avg_pool2d(F.avg_pool2d(x, 3, 1, 1), 2)
    edges = torch.hypot(s[..., 1:, :-1] - s[..., :-1, :-1], s[..., :-1, 1:] - s[..., :-1, :-1])
    strong = torch.stack([(edges > t).float().mean((1, 2, 3)) for t in (0.05, 0.1, 0.15, 0.2)], 1)
    return torch.cat([F.adaptive_avg_pool2d(t, 4).flatten(1) for t in (x, gradient, contrast, edges)] + [strong], 1)


def test_the_label_is_in_the_classified_lesion_and_nowhere_else():
    """A linear probe on margin features tells the classes apart from a box around the lesion, and is at chance on
    the image with that box blanked out: the distractors' margins and places say nothing about the label."""
    images, labels, masks = make_haystack(900, seed=5)
    blanked = images.copy()
    for image, (y, x) in zip(blanked, lesion_boxes(masks, 48)):
        image[y:y + 48, x:x + 48] = 110
    auc = {}
    for name, x in (("crop", oracle_crop(images, masks, 32)), ("blanked", blanked)):
        train, test = standardize(_edges(x[:600]), _edges(x[600:]))
        scores = linear_probe(train, torch.from_numpy(labels[:600]), test, 2)
        auc[name] = classification_metrics(labels[600:], scores)["auc"]
    assert auc["crop"] > 0.7, auc  # the probe can see a margin: the check below can fail
    assert abs(auc["blanked"] - 0.5) < 0.1, auc


def test_oracle_crop_is_native_resolution_around_the_lesion():
    images, labels, masks = make_haystack(6, seed=2)
    crops = oracle_crop(images, masks)
    assert crops.shape == (6, CROP, CROP)
    for image, crop, mask, (y, x) in zip(images, crops, masks, lesion_boxes(masks)):
        assert np.array_equal(crop, image[y:y + CROP, x:x + CROP])
        assert mask[y:y + CROP, x:x + CROP].sum() == mask.sum()  # the whole lesion is inside the box


@pytest.mark.parametrize("knobs, message", [
    (dict(share=float("nan")), "finite"), (dict(share=0.5), "share"), (dict(distractors=-1), "distractors"),
    (dict(size=16), "size"), (dict(difficulty=2), "do not apply"), (dict(speckle=1.2), "do not apply")])
def test_bad_haystack_knobs_are_refused(knobs, message):
    with pytest.raises(ValueError, match=message):
        make_phantoms(2, scene="haystack", **knobs)


@pytest.mark.parametrize("knob", ["lesion_scale", "lesion_contrast", "speckle"])
def test_nan_and_infinite_ladder_knobs_are_refused(knob):
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            make_phantoms(2, **{knob: value})
    with pytest.raises(ValueError, match="scene='haystack'"):
        make_phantoms(2, share=0.02)


def test_oracle_crop_and_the_oracles_run_from_the_cli_without_extracting(tmp_path, monkeypatch, capsys):
    """lowdata trains oracle-crop on 64-px crops (its image_size column says so), and extracts no regions when no
    model reads SAM; a data set without masks is refused in one line."""
    import csv

    from slca_min import save_phantoms
    from slca_min.cli.main import main

    monkeypatch.chdir(tmp_path)
    save_phantoms("h.npz", n=30, scene="haystack", size=80)
    assert main(["lowdata", "--data", "h.npz", "--models", "baseline,oracle-crop", "--fractions", "1.0",
                 "--seeds", "0", "--epochs", "1", "--image-size", "32", "--grid", "4", "--quiet",
                 "--checkpoint", "untrained"]) == 0
    rows = {r["model"]: r for r in csv.DictReader(open(tmp_path / "runs/lowdata/results.csv"))}
    assert rows["oracle-crop"]["image_size"] == str(CROP) and rows["baseline"]["image_size"] == "32"
    assert rows["oracle-crop"]["weights"] == "lesion masks (oracle, no SAM)"
    assert not (tmp_path / "cache").exists()  # no model read SAM: nothing extracted
    np.savez("nomasks.npz", **{k: v for k, v in np.load("h.npz").items() if not k.endswith("_masks")})
    capsys.readouterr()
    assert main(["lowdata", "--data", "nomasks.npz", "--models", "oracle-crop", "--epochs", "1", "--quiet",
                 "--checkpoint", "untrained"]) == 2
    assert "oracle-crop needs lesion masks" in capsys.readouterr().err


def test_the_haystack_miniature_is_built_from_its_scenes_and_labelled_a_stand_in(tmp_path):
    from slca_min import SAMEncoder
    from slca_min.data.haystack import segmentation_scenes
    from slca_min.sam.miniature import PretrainConfig, build_miniature

    images, masks = segmentation_scenes(16, seed=9, size=96)
    assert images.shape == (16, 96, 96) and masks.shape == (16, 64, 64) and 0 < masks.mean() < 0.1
    info = build_miniature(tmp_path / "h.pth", PretrainConfig(steps=20, scenes=16, batch_size=2), progress=False,
                           scenes=(images, masks), held_out=segmentation_scenes(2, seed=10, size=96),
                           what="haystack scenes")
    assert "haystack scenes (a stand-in, not SAM's weights)" in info["what"]
    assert "stand-in" in SAMEncoder.from_checkpoint(tmp_path / "h.pth").weights


@pytest.mark.parametrize("argv, needle", [(["--difficulty", "5"], "--difficulty"), (["--lesion-scale", "nan"], "finite"),
                                          (["--scene", "haystack", "--clutter", "2"], "do not apply")])
def test_the_data_script_refuses_bad_options_in_one_line(tmp_path, argv, needle):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "data_scripts/make_phantoms.py"
    done = subprocess.run([sys.executable, str(script), *argv, "--n", "20", "--out", str(tmp_path / "p.npz")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr, done.stderr
    assert not (tmp_path / "p.npz").exists()


def test_the_lesion_cells_models_cut_the_regions_by_the_true_lesion():
    """slca-inside keeps the regions on the cells that touch the lesion and zeroes the rest, slca-outside the
    opposite (together they are the regions), probe-inside is their mean over those cells; all three are keyed by
    the encoder, since they read its regions."""
    from slca_min.data.split import Split
    from slca_min.study.comparison import USES_SAM, cut_by_lesion

    masks = np.zeros((2, 32, 32), bool)
    masks[0, 2:6, 5:10] = True    # cells (0, 0) and (0, 1) of a 4 x 4 grid of 8-px cells, with the margin band
    masks[1, 20:23, 20:23] = True  # cell (2, 2) only
    splits = {"train": Split(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1]), ["a", "b"], masks=masks)}
    R = {"train": np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float16)}
    inside, outside = (cut_by_lesion(m, R, splits)["train"] for m in ("slca-inside", "slca-outside"))
    assert inside.dtype == np.float16 and np.array_equal(inside + outside, R["train"])
    kept = [np.argwhere(np.any(inside[i] != 0, axis=0)).tolist() for i in range(2)]
    assert kept == [[[0, 0], [0, 1]], [[2, 2]]]
    mean = cut_by_lesion("probe-inside", R, splits)["train"]
    assert mean.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(mean[1, :, 0, 0], R["train"][1, :, 2, 2].astype(np.float32))
    swapped = cut_by_lesion("slca-outside-swapped", R, splits)["train"]  # each image the other's cells there
    assert swapped.dtype == np.float16 and np.array_equal(swapped[0, :, 0, :2], R["train"][1, :, 0, :2])
    assert np.array_equal(swapped[1, :, 2, 2], R["train"][0, :, 2, 2])
    assert np.array_equal(swapped * (inside == 0), R["train"] * (inside == 0))  # elsewhere the image's own
    assert {"slca-inside", "slca-outside", "slca-outside-swapped", "probe-inside"} <= set(USES_SAM)


def test_a_swapped_lesion_is_never_filled_from_a_lesion_on_the_same_cells():
    from slca_min.study.comparison import lesion_free_donors

    cells = np.zeros((3, 4, 4), bool)
    cells[0, 0, 0] = cells[1, 0, 0] = cells[2, 3, 3] = True  # 0 and 1 share a cell: each takes 2's
    donors = lesion_free_donors(cells)
    assert donors[:2].tolist() == [2, 2] and donors[2] in (0, 1)
    with pytest.raises(ValueError, match="no donor"):
        lesion_free_donors(np.ones((2, 4, 4), bool))
