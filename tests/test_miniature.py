"""The miniature: a tiny SAM-architecture encoder pretrained on synthetic lesion masks (a stand-in, never SAM)."""
import numpy as np
import pytest
import torch

from slca_min import SAMEncoder
from slca_min.data.phantoms import make_phantoms
from slca_min.sam.checkpoints import build_image_encoder
from slca_min.sam.lesion_scenes import lesion_scenes
from slca_min.sam.miniature import PretrainConfig, dice, pretrain, probe_dice
from slca_min.study.experiments import load_encoder, weights_label


def test_pretraining_is_deterministic():
    short = PretrainConfig(scenes=16, steps=20, batch_size=2)
    first, second = pretrain(short, progress=False)[0], pretrain(short, progress=False)[0]
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_checkpoint_loads_strictly_into_segment_anythings_encoder(miniature):
    state = torch.load(miniature, map_location="cpu", weights_only=True)
    assert all(k.startswith("image_encoder.") for k in state)
    reference = build_image_encoder("tiny")  # segment_anything's ImageEncoderViT, tiny configuration
    reference.load_state_dict({k[len("image_encoder."):]: v for k, v in state.items()}, strict=True)
    encoder = SAMEncoder.from_checkpoint(miniature)
    assert encoder.model_type == "tiny" and encoder.trained
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), reference(x), atol=1e-5, rtol=1e-5)


def test_its_label_never_calls_it_sam(miniature):
    encoder = load_encoder()  # offline default: the miniature ($SLCA_MINIATURE in the tests)
    assert encoder.weights.startswith(miniature.name) and "stand-in" in encoder.weights
    for label in (encoder.weights, weights_label(encoder)):
        assert "SAM" not in label and "UNTRAINED" not in label
    assert "UNTRAINED" in weights_label(load_encoder("untrained"))


def test_miniature_separates_lesions_better_than_the_untrained_encoder(miniature):
    small = dict(train_scenes=192, test_scenes=96, steps=150)
    trained = probe_dice(SAMEncoder.from_checkpoint(miniature), **small)
    untrained = probe_dice(SAMEncoder.untrained("tiny", seed=0), **small)
    assert trained > untrained + 0.03, (trained, untrained)


def test_scenes_have_masks_and_no_labels():
    images, masks = lesion_scenes(32, seed=5)
    assert images.shape == masks.shape == (32, 64, 64) and images.dtype == np.uint8 and masks.dtype == bool
    assert 0.01 < masks.mean() < 0.4 and (masks.reshape(32, -1).any(1)).mean() > 0.7
    phantoms = make_phantoms(32, size=64, seed=0)[0]
    assert not any((s == p).all() for s in images for p in phantoms)  # another generator, another stream


def test_too_short_a_recipe_is_refused():
    with pytest.raises(ValueError, match="at least 20 steps"):
        PretrainConfig(steps=10)


def test_dice():
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, :4] = True
    logits = torch.where(masks, 1.0, -1.0)[:, None]
    assert dice(logits, masks) == 1.0  # image 1: no lesion, none predicted
    assert dice(-logits.abs(), masks) == 0.5  # nothing predicted: 0 for image 0, 1 for image 1
