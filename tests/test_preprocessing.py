"""MedSAM's preprocessing: the steps of its inference script, done directly, give the same input and embedding."""
import numpy as np
import pytest
import torch
from PIL import Image

from slca_min import SAMEncoder, extract
from slca_min.pipeline.cache import describe
from slca_min.sam.checkpoints import build_image_encoder
from slca_min.study.experiments import cache_key, weights_label


def medsam_input(image: np.ndarray, size: int) -> torch.Tensor:
    """MedSAM_Inference.py, step by step: grey to 3 channels, square bicubic resize to uint8, min-max to [0, 1]."""
    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
    resized = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC)).astype(np.float32)
    scaled = (resized - resized.min()) / np.clip(resized.max() - resized.min(), 1e-8, None)
    return torch.from_numpy(scaled).permute(2, 0, 1)  # (3, S, S)


@pytest.mark.parametrize("shape", [(90, 170, 3), (61, 37), (256, 256, 3)], ids=str)
def test_medsam_preprocessing_and_embedding_equal_the_direct_steps(rng, shape):
    image = rng.integers(20, 200, shape, dtype=np.uint8)
    encoder = SAMEncoder.untrained("tiny", preprocess="medsam")
    x, size = encoder.preprocess(image)
    assert size == (256, 256) and x.shape == (3, 256, 256)  # square, no padding: all of it is image
    torch.testing.assert_close(x, medsam_input(image, 256), atol=1e-6, rtol=0)
    assert x.min() == 0 and x.max() == 1  # no SAM mean/std
    reference = build_image_encoder("tiny")  # called directly on the input, as MedSAM's script does
    reference.load_state_dict(encoder.image_encoder.state_dict())
    with torch.no_grad():
        expected = reference(medsam_input(image, 256)[None])
    torch.testing.assert_close(encoder.embed([image]), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(encoder.regions([image], grid=16), expected, atol=1e-5, rtol=0)  # nothing cropped


def test_a_flat_image_does_not_divide_by_zero():
    x, _ = SAMEncoder.untrained("tiny", preprocess="medsam").preprocess(np.full((40, 40), 7, np.uint8))
    assert torch.isfinite(x).all() and x.abs().max() == 0


def test_preprocessing_is_in_the_label_the_cache_key_and_the_sidecar(rng, tmp_path):
    sam, medsam = SAMEncoder.untrained("tiny"), SAMEncoder.untrained("tiny", preprocess="medsam")
    assert "MedSAM preprocessing" in weights_label(medsam) and "MedSAM" not in weights_label(sam)
    assert cache_key(sam, 16) != cache_key(medsam, 16)
    images = list(rng.integers(0, 256, (3, 40, 60), dtype=np.uint8))
    assert describe(images, sam, 16)["preprocess"] == "sam" and describe(images, medsam, 16)["preprocess"] == "medsam"
    a = np.array(extract(images, sam, tmp_path / "r.npy", grid=4, progress=False))
    b = extract(images, medsam, tmp_path / "r.npy", grid=4, progress=False)  # same file name: recomputed, not reused
    assert not np.array_equal(a, np.asarray(b))
    with pytest.raises(ValueError, match="preprocess='medsan'"):
        SAMEncoder.untrained("tiny", preprocess="medsan")


@pytest.mark.parametrize("on_device", [False, True])
def test_a_too_narrow_image_is_refused_with_the_smallest_short_side_that_works(on_device):
    """Tiny's 256 px input: a 3000 px long side needs a short side of ceil(3000 / 512) = 6 px; 5 rounds to 0."""
    encoder = SAMEncoder.untrained("tiny")
    x, (h, w) = encoder.preprocess(np.zeros((6, 3000), np.uint8), on_device=on_device)
    assert (h, w) == (1, 256)
    with pytest.raises(ValueError, match=r"^image 1: 5x3000 px .* at least 6 px"):
        encoder.regions([np.zeros((40, 40), np.uint8), np.zeros((5, 3000), np.uint8)], grid=4)
    medsam = SAMEncoder.untrained("tiny", preprocess="medsam")  # a square resize has no such limit
    assert medsam.regions([np.zeros((1, 3000), np.uint8)], grid=4).shape == (1, 256, 4, 4)
