import os

import numpy as np
import pytest
import torch
from PIL import Image
from segment_anything import SamPredictor

from slca_min import SAMEncoder
from slca_min.sam.checkpoints import build_image_encoder, build_sam
from slca_min.sam.preprocessing import to_rgb

SHAPES = {"square": (256, 256, 3), "non-square": (90, 170, 3), "grey": (61, 37), "rgba": (50, 40, 4), "28px": (28, 28)}


def reference_embedding(encoder: SAMEncoder, image) -> torch.Tensor:
    """The official path: SamPredictor on a real Sam around an encoder with SAM's own attention."""
    reference = SAMEncoder.untrained(encoder.model_type, seed=0, fast_attention=False)
    predictor = SamPredictor(build_sam(reference.image_encoder))
    predictor.set_image(to_rgb(image))  # SamPredictor takes HxWx3 RGB only
    return predictor.get_image_embedding()


@pytest.mark.parametrize("attention", ["sam", "auto", "masked", "folded", "explicit", "flex", "sdpa"])
@pytest.mark.parametrize("name", SHAPES)
def test_embed_equals_sam_predictor(name, attention, rng):
    image = rng.integers(0, 256, SHAPES[name], dtype=np.uint8)
    encoder = SAMEncoder.untrained("tiny", seed=0, attention=attention)
    embedding = encoder.embed([image])
    assert embedding.shape == (1, 256, 16, 16) and embedding.dtype == torch.float32
    torch.testing.assert_close(embedding, reference_embedding(encoder, image), atol=1e-5, rtol=0)


def test_device_preprocessing_is_the_reference_within_one_grey_level(tiny, rng):
    """The GPU path (resize on the device) run on the CPU, against SamPredictor's PIL resize."""
    for shape in ((480, 640, 3), (37, 90), (300, 200, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        (ref, ref_hw), (dev, dev_hw) = tiny.preprocess(image, on_device=False), tiny.preprocess(image, on_device=True)
        assert ref_hw == dev_hw and (ref - dev).abs().max() * 57.12 <= 1.0 + 1e-4  # pixel_std ~57: one grey level
        a, b = tiny(ref[None]), tiny(dev[None])
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.9999


def test_batched_embed_equals_one_by_one(tiny, rng):
    images = [rng.integers(0, 256, s, dtype=np.uint8) for s in SHAPES.values()]
    together = tiny.embed(images, batch_size=3)
    alone = torch.cat([tiny.embed([im]) for im in images])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_pil_images_and_arrays_agree(tiny, rng):
    image = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    torch.testing.assert_close(tiny.embed([Image.fromarray(image)]), tiny.embed([image]))


@pytest.mark.skipif(os.environ.get("SLCA_SLOW") != "1", reason="vit_b at 1024 px: set SLCA_SLOW=1 (about 20 s)")
def test_vit_b_embed_equals_sam_predictor(rng):
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    encoder = SAMEncoder.untrained("vit_b", seed=0)
    torch.testing.assert_close(encoder.embed([image]), reference_embedding(encoder, image), atol=1e-4, rtol=0)


def test_output_is_plain_tensor_usable_in_training(tiny, rng):
    R = tiny.regions([rng.integers(0, 256, (32, 32), dtype=np.uint8)], grid=4)
    assert not R.requires_grad and not R.is_inference()
    layer = torch.nn.Conv2d(256, 2, 1)
    layer(R).sum().backward()  # an inference tensor would raise here
    assert layer.weight.grad is not None


def test_regions_pool_only_the_unpadded_area(tiny, rng):
    image = rng.integers(0, 256, (64, 256), dtype=np.uint8)  # resized to 64x256: the top 4 of 16 token rows
    embedding = tiny.embed([image])
    expected = torch.nn.functional.adaptive_avg_pool2d(embedding[:, :, :4, :], 4)
    torch.testing.assert_close(tiny.regions([image], grid=4), expected)


def test_encoder_is_frozen_and_stays_in_eval(tiny):
    torch.nn.Sequential(tiny).train()
    assert not tiny.image_encoder.training
    assert all(not p.requires_grad for p in tiny.parameters())


def test_untrained_is_deterministic_and_labelled():
    a, b, c = (SAMEncoder.untrained("tiny", seed=s) for s in (0, 0, 1))
    assert torch.equal(a.image_encoder.pos_embed, b.image_encoder.pos_embed)
    assert not torch.equal(a.image_encoder.pos_embed, c.image_encoder.pos_embed)
    assert a.weights == "untrained tiny, seed 0" and not a.trained


def test_smaller_sam_input(rng):
    image = rng.integers(0, 256, (100, 60, 3), dtype=np.uint8)
    encoder = SAMEncoder.untrained("tiny", seed=0, sam_input=128)
    assert encoder.embed([image]).shape == (1, 256, 8, 8)
    assert encoder.regions([image], grid=4).shape == (1, 256, 4, 4)
    with pytest.raises(ValueError, match="multiple of 16"):
        SAMEncoder.untrained("tiny", sam_input=100)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((8, 8), np.float32), "dtype float32; expected uint8"),
    (np.zeros((8, 8, 2), np.uint8), r"shape \(8, 8, 2\)"),
    (np.zeros((0, 8), np.uint8), r"shape \(0, 8"),
])
def test_bad_images_are_named(tiny, bad, message):
    with pytest.raises(ValueError, match=f"image 1: {message}"):
        tiny.embed([np.zeros((8, 8), np.uint8), bad])


def test_checkpoint_round_trip(tmp_path, rng):
    """An official-format checkpoint (a Sam state dict) and an encoder-only one both load, type read from the weights."""
    source = SAMEncoder.untrained("tiny", seed=3)
    image = rng.integers(0, 256, (50, 80, 3), dtype=np.uint8)
    full = tmp_path / "sam_tiny.pth"
    torch.save(build_sam(source.image_encoder).state_dict(), full)
    only = tmp_path / "encoder_only.pth"
    torch.save(source.image_encoder.state_dict(), only)
    for path in (full, only):
        loaded = SAMEncoder.from_checkpoint(path)
        assert loaded.model_type == "tiny" and loaded.weights.startswith(f"{path.name} sha256:") and loaded.trained
        torch.testing.assert_close(loaded.embed([image]), source.embed([image]))


def test_checkpoint_errors(tmp_path):
    path = tmp_path / "sam.pth"
    with pytest.raises(FileNotFoundError, match="download_sam_checkpoint.py"):
        SAMEncoder.from_checkpoint(path)
    torch.save(build_sam(build_image_encoder("tiny")).state_dict(), path)
    with pytest.raises(ValueError, match="holds tiny weights but model_type='vit_b'"):
        SAMEncoder.from_checkpoint(path, model_type="vit_b")
    path.write_bytes(path.read_bytes()[:5000])  # truncated download
    with pytest.raises(ValueError, match="truncated or corrupt"):
        SAMEncoder.from_checkpoint(path)
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a SAM checkpoint"):
        SAMEncoder.from_checkpoint(path)


@pytest.mark.parametrize("H, W", [(14, 14), (6, 9)])
def test_every_way_of_adding_sams_relative_positions_is_sams_attention(H, W):
    """Every kernel "auto" can choose, against SAM's Attention."""
    from segment_anything.modeling.image_encoder import Attention, get_rel_pos

    from slca_min.sam.attention import KERNELS, SDPAAttention

    torch.manual_seed(0)
    sam = Attention(dim=32, num_heads=2, use_rel_pos=True, input_size=(H, W))
    for table in (sam.rel_pos_h, sam.rel_pos_w):
        torch.nn.init.normal_(table)  # SAM initialises them to zero, which would hide a wrong term
    x = torch.randn(3, H, W, 32)
    expected = sam(x)
    q, k, v = sam.qkv(x).reshape(3, H * W, 3, 2, 16).permute(2, 0, 3, 1, 4)  # (B, heads, HW, d) each
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", q.reshape(3, 2, H, W, 16), get_rel_pos(H, H, sam.rel_pos_h))
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", q.reshape(3, 2, H, W, 16), get_rel_pos(W, W, sam.rel_pos_w))
    # the chunked kernels also in chunks that do not divide the batch (2 + 1 images) or the rows (4 at a time)
    uneven = [{}, {"chunk_bytes": 2 * 2 * (H * W) ** 2 * 4}, {"chunk_bytes": 4 * 2 * W * H * W * 4}]
    for name, attend in KERNELS.items():  # the mask, folded, explicit, FlexAttention (eager on the CPU)
        for chunks in uneven if name in ("masked", "explicit") else [{}]:
            out = attend(*(t.detach() for t in (q, k, v, rel_h, rel_w)), scale=sam.scale, **chunks)  # flex: no backward
            torch.testing.assert_close(sam.proj(out.transpose(1, 2).reshape(3, H, W, 32)), expected, atol=1e-5, rtol=0)
    sam.__class__ = SDPAAttention
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the folded path, through the module
        fast = sam(x).float()
    assert torch.nn.functional.cosine_similarity(fast.flatten(1), expected.flatten(1)).min() > 0.999
