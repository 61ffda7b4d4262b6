"""The stand-in for ImageNet: deterministic, the phantom task kept out, labelled wherever it is used, saved and reloaded."""
import csv

import numpy as np
import pytest
import torch
import torchvision
from test_faults import SMALL

from slca_min import SLCAClassifier, make_phantoms
from slca_min.cli.main import build_parser, main
from slca_min.data.phantoms import PHANTOM_CLASSES
from slca_min.imagenet_standin.pretrain import ShapesConfig, pretrained_state
from slca_min.imagenet_standin.shape_scenes import CLASS_NAMES, FILLS, KINDS, shape_scenes
from slca_min.pipeline.model_file import load_model

STAND_IN = "a stand-in for ImageNet, not ImageNet"


def test_pretraining_is_deterministic():
    config = ShapesConfig(scenes=64, steps=20, batch_size=4)
    assert pretrained_state(config, progress=False)[0] == pretrained_state(config, progress=False)[0]


def test_the_phantom_task_is_kept_out():
    images, labels, roughness = shape_scenes(4096)
    assert set(labels.tolist()) == set(range(len(KINDS) * len(FILLS))) and not set(PHANTOM_CLASSES) & set(CLASS_NAMES)
    phantoms = make_phantoms(200, size=64, seed=0)[0]
    assert not np.isin(images.reshape(len(images), -1).view(f"V{64 * 64}"),
                       phantoms.reshape(len(phantoms), -1).view(f"V{64 * 64}")).any()  # no phantom image
    # the outline's roughness, the phantoms' class, says nothing about the label: the same spread in every class
    means = np.array([roughness[labels == c].mean() for c in range(len(CLASS_NAMES))])
    assert np.abs(means - roughness.mean()).max() < 0.04 and abs(np.corrcoef(roughness, labels)[0, 1]) < 0.05


def test_the_weights_are_loaded_and_labelled(backbone_miniature):
    model = SLCAClassifier(num_classes=3, backbone_weights="miniature")
    state = torch.load(backbone_miniature, weights_only=True)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"]) and model.backbone.fc.out_features == 3
    assert model.backbone_weights.startswith(backbone_miniature.name) and STAND_IN in model.backbone_weights
    assert SLCAClassifier(num_classes=2).backbone_weights == "none (trained from scratch)"


def test_a_weights_file_and_the_errors(tmp_path, backbone_miniature):
    torch.save(torchvision.models.resnet18(num_classes=7).state_dict(), tmp_path / "mine.pth")  # another head: dropped
    model = SLCAClassifier(num_classes=2, backbone_weights=str(tmp_path / "mine.pth"))
    assert model.backbone_weights.startswith("mine.pth sha256:")
    with pytest.raises(ValueError, match="exists for resnet18 only"):
        SLCAClassifier(num_classes=2, backbone="resnet50", backbone_weights="miniature")
    with pytest.raises(ValueError, match=r"mine.pth: not a state dict of resnet34"):
        SLCAClassifier(num_classes=2, backbone="resnet34", backbone_weights=str(tmp_path / "mine.pth"))
    with pytest.raises(FileNotFoundError, match="nothere.pth: no such weights file"):
        SLCAClassifier(num_classes=2, backbone_weights=str(tmp_path / "nothere.pth"))
    args = build_parser().parse_args(["train", "--data", "x", "--pretrained-backbone"])
    assert args.backbone_weights == "imagenet"  # the old flag keeps working


def test_trained_saved_reloaded_and_predicting_with_its_label(workdir, capsys, backbone_miniature):
    assert main(["train", "--data", "p.npz", "--out", "run", "--backbone-weights", "miniature", *SMALL]) == 0
    out = capsys.readouterr().out
    assert f"backbone weights: {backbone_miniature.name}" in out and STAND_IN in out
    row = next(csv.DictReader(open(workdir / "run/results.csv")))
    assert STAND_IN in row["backbone_weights"]
    model, saved = load_model(workdir / "run/model.pt")
    assert STAND_IN in saved["backbone_weights"] and model.backbone_weights == saved["backbone_weights"]
    from PIL import Image
    Image.fromarray(np.load("p.npz")["test_images"][0]).save(workdir / "a.png")
    assert main(["predict", "--model", "run/model.pt", "--images", "a.png", "--quiet"]) == 0
    assert STAND_IN in next(csv.DictReader(open(workdir / "runs/predict/predictions.csv")))["backbone_weights"]
