"""The difficulty ladder of the phantoms (issue 35): level 0 is the original data, and nothing but the lesion's
margin carries the label at any level."""
import hashlib

import numpy as np
import pytest
import torch

from slca_min import SLCAClassifier, make_phantoms
from slca_min.data.phantoms import DIFFICULTY, oracle_regions
from slca_min.study.probes import linear_probe, standardize
from slca_min.train import classification_metrics

# sha256 of make_phantoms(300, size=64, seed=3)'s images, labels and masks, as written before the ladder existed
ORIGINAL = "b98bdeeacc91884c48c09f78d9db0603d1314e92ec22f70329e02db183431086"


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_level_0_is_the_original_phantom_bit_for_bit():
    assert digest(*make_phantoms(300, size=64, seed=3)) == ORIGINAL
    assert digest(*make_phantoms(300, size=64, seed=3, difficulty=0, lesion_scale=1.0, clutter=0)) == ORIGINAL


def test_every_level_keeps_the_labels_and_makes_the_lesion_smaller():
    labels0, masks0 = make_phantoms(200, size=64, seed=1)[1:]
    areas = []
    for level in DIFFICULTY:
        images, labels, masks = make_phantoms(200, size=64, seed=1, difficulty=level)
        assert (labels == labels0).all()  # the label is drawn before any knob acts
        areas.append(masks.mean())
    assert all(a > b for a, b in zip(areas, areas[1:]))
    assert areas[-1] < 0.04  # the hardest level's lesion covers a few percent of the image


def test_clutter_is_independent_of_the_label_and_outside_the_oracle():
    """A classifier on where the clutter is (its footprint on an 8 x 8 grid, and how much there is) is at chance,
    and the lesion masks (what oracle_regions reads) are the same with or without clutter."""
    n = 1200
    images, labels, masks = make_phantoms(n, size=64, seed=2, difficulty=4)
    plain, _, plain_masks = make_phantoms(n, size=64, seed=2, difficulty=4, clutter=0)
    assert (masks == plain_masks).all()
    assert (oracle_regions(masks) == oracle_regions(plain_masks)).all()
    footprint = torch.from_numpy((images != plain).astype(np.float32))[:, None]  # (N, 1, 64, 64)
    assert footprint.mean() > 0.05  # there is clutter to classify
    features = torch.cat([torch.nn.functional.adaptive_avg_pool2d(footprint, 8).flatten(1),
                          footprint.mean((1, 2, 3))[:, None]], dim=1)  # (N, 65)
    train_x, test_x = standardize(features[:800], features[800:])
    scores = linear_probe(train_x, labels[:800], test_x, 2)
    auc = classification_metrics(labels[800:], scores)["auc"]
    assert abs(auc - 0.5) < 0.1, f"clutter predicts the label (AUC {auc:.3f})"


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError, match="difficulty=9"):
        make_phantoms(4, difficulty=9)
    with pytest.raises(ValueError, match="lesion_scale"):
        make_phantoms(4, lesion_scale=0)


def test_fusion_reads_each_image_own_pooled_regions():
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, gate="fusion").eval()
    x, R = torch.randn(3, 3, 64, 64), torch.randn(3, 256, 16, 16)
    changed = R.clone()
    changed[0] += 1
    moved = (model(x, changed) - model(x, R)).abs().amax(1)
    assert moved[0] > 0 and (moved[1:] == 0).all()
    assert model.backbone.fc.in_features == 512 + 256
    with pytest.raises(ValueError, match="required when gate='fusion'"):
        model(x)


def test_the_ladder_report_pairs_by_level_and_refuses_other_data(tmp_path):
    import csv
    import subprocess
    import sys
    from pathlib import Path

    from slca_min.utils.files import write_csv

    script = Path(__file__).parents[1] / "benchmarks/study_ladder_report.py"
    for level in (0, 1):
        write_csv(tmp_path / f"d{level}.csv", [
            {"model": m, "fraction": "0.1", "seed": s, "auc": 0.6 + 0.1 * level + (0.02 + 0.01 * s) * (m == "slca-oracle"),
             "balanced_acc": 0.6, "acc": 0.6, "f1_macro": 0.6, "data": f"data/phantoms-d{level}-n1600.npz",
             "weights": "w", "epochs": 10}
            for m in ("baseline", "slca-oracle") for s in range(3)])
    done = subprocess.run([sys.executable, str(script), "--prefix", str(tmp_path / "out"), str(tmp_path / "d0.csv"),
                           str(tmp_path / "d1.csv")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    questions = list(csv.DictReader(open(tmp_path / "out_questions.csv")))
    assert [(q["question"], q["level"]) for q in questions] == [("slca-oracle - baseline", "0"),
                                                               ("slca-oracle - baseline", "1")]
    assert all(abs(float(q["diff"]) - 0.03) < 1e-9 and q["seeds_won"] == "3" for q in questions)
    assert (tmp_path / "out.png").is_file() and len(list(csv.DictReader(open(tmp_path / "out_summary.csv")))) == 4
    write_csv(tmp_path / "other.csv", [{"model": "baseline", "fraction": "0.1", "seed": 0, "auc": 0.5,
                                        "balanced_acc": 0.5, "data": "mine.npz"}])
    refused = subprocess.run([sys.executable, str(script), "--prefix", str(tmp_path / "x"), str(tmp_path / "other.csv")],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "not a ladder file" in refused.stderr and not (tmp_path / "x.png").exists()
