"""Feature levels: each one is the hidden state segment_anything's own encoder computes, pooled like the neck."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slca_min import SAMEncoder, extract
from slca_min.sam.checkpoints import build_image_encoder
from slca_min.sam.levels import LEVELS, NECK, check_levels, level_blocks, select_levels, split_channels

SHAPES = [(256, 256, 3), (90, 170, 3), (61, 37)]


def reference_states(encoder: SAMEncoder, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every level from segment_anything's ImageEncoderViT (SAM's own attention, same weights), by forward hooks."""
    reference = build_image_encoder(encoder.model_type)
    reference.load_state_dict(SAMEncoder.untrained(encoder.model_type, seed=0).image_encoder.state_dict())
    states = {}
    reference.blocks[0].register_forward_pre_hook(lambda m, args: states.update(patch=args[0]))  # patch + position
    for level, block in zip(("early", "middle", "late"), (2, 5, 8) if encoder.model_type == "vit_b" else (1, 2, 3)):
        reference.blocks[block].register_forward_hook(lambda m, args, out, level=level: states.update({level: out}))
    with torch.no_grad():
        states["neck"] = reference(x).permute(0, 2, 3, 1)  # the neck's output, channels-last like the others
    return {level: state.permute(0, 3, 1, 2) for level, state in states.items()}  # (B, C, 16, 16)


def pooled(state: torch.Tensor, size: tuple[int, int], grid: int) -> torch.Tensor:
    h, w = size
    return F.adaptive_avg_pool2d(state[:, :, :math.ceil(h / 16), :math.ceil(w / 16)], grid)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_level_equals_the_hidden_state_of_segment_anythings_encoder(tiny, rng, shape):
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    x, size = tiny.preprocess(image)
    states = reference_states(tiny, x[None])
    R = tiny.regions([image], grid=4, levels=LEVELS)
    widths = split_channels(R.shape[1], LEVELS)
    assert widths == [64, 64, 64, 64, 256] and R.shape == (1, 512, 4, 4)
    for level, part in zip(LEVELS, R.split(widths, dim=1)):
        torch.testing.assert_close(part, pooled(states[level], size, 4), atol=1e-5, rtol=0, msg=level)


@pytest.mark.skipif(os.environ.get("SLCA_SLOW") != "1", reason="vit_b at 1024 px: set SLCA_SLOW=1 (about 40 s)")
def test_vit_b_levels_equal_the_hidden_states_of_segment_anythings_encoder(rng):
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    encoder = SAMEncoder.untrained("vit_b", seed=0)
    x, size = encoder.preprocess(image)
    states, R = reference_states(encoder, x[None]), encoder.regions([image], grid=16, levels=LEVELS)
    for level, part in zip(LEVELS, R.split(split_channels(R.shape[1], LEVELS), dim=1)):
        torch.testing.assert_close(part, pooled(states[level], size, 16), atol=1e-4, rtol=0, msg=level)


def test_levels_are_the_first_three_global_blocks_of_every_sam_encoder():
    for model_type, blocks in {"vit_b": (2, 5, 8), "vit_l": (5, 11, 17), "vit_h": (7, 15, 23), "tiny": (1, 2, 3)}.items():
        with torch.device("meta"):  # shapes only: ViT-H's weights are never allocated
            encoder = build_image_encoder(model_type)
        assert tuple(level_blocks(encoder).values()) == blocks, model_type


def test_neck_alone_is_exactly_the_regions_of_the_embedding(tiny, rng):
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in SHAPES]
    sizes = [tiny.preprocess(image)[1] for image in images]
    today = SAMEncoder.pool_regions(tiny.embed(images, batch_size=3), sizes, 16)
    assert torch.equal(tiny.regions(images, batch_size=3), today)
    assert torch.equal(tiny.regions(images, batch_size=3, levels=NECK), today)
    assert torch.equal(tiny.regions(images, batch_size=3, levels=LEVELS)[:, -256:], today)  # the same pass


def test_levels_are_checked_and_put_in_order():
    assert check_levels(("neck", "patch")) == ("patch", "neck") and check_levels("late,early") == ("early", "late")
    with pytest.raises(ValueError, match="choose from patch, early"):
        check_levels(("neck", "mid"))
    assert split_channels(2, NECK) == [2] and split_channels(768 * 2 + 256, ("early", "late", "neck")) == [768, 768, 256]
    with pytest.raises(ValueError, match="cannot hold"):
        split_channels(100, LEVELS)


def test_select_levels_is_a_view_when_the_levels_are_adjacent():
    R = np.arange(2 * 512).reshape(2, 512, 1, 1)  # tiny widths: 64 x 4, then the neck's 256
    neck = select_levels(R, LEVELS, NECK)
    assert np.shares_memory(neck, R) and (neck[:, :, 0, 0] == R[:, 256:, 0, 0]).all()
    patch_neck = select_levels(R, LEVELS, ("patch", "neck"))
    assert patch_neck.shape == (2, 320, 1, 1) and (patch_neck[:, 64:] == neck).all() and (patch_neck[:, :64] == R[:, :64]).all()
    with pytest.raises(ValueError, match="not patch"):
        select_levels(neck, NECK, ("patch",))


def test_a_cache_with_more_levels_serves_fewer_never_the_other_way(tiny, rng, tmp_path, capsys):
    images = list(rng.integers(0, 256, (6, 32, 32), dtype=np.uint8))
    neck = extract(images, tiny, tmp_path / "neck.npy", grid=4, progress=False)
    both = extract(images, tiny, tmp_path / "patch+neck.npy", grid=4, levels=("patch", "neck"), progress=False)
    assert (tmp_path / "patch+neck.npy").is_file()  # (neck) did not serve (patch, neck): computed
    assert both.shape == (6, 320, 4, 4) and np.array_equal(both[:, 64:], neck)
    (tmp_path / "neck.npy").unlink()
    (tmp_path / "neck.json").unlink()
    capsys.readouterr()
    served = extract(images, tiny, tmp_path / "neck.npy", grid=4, progress=False)
    assert "taken from cache" in capsys.readouterr().out and not (tmp_path / "neck.npy").exists()  # served, not computed
    assert np.array_equal(served, neck)
    other = extract(images[:5], tiny, tmp_path / "five.npy", grid=4, progress=False)  # other images: never served
    assert (tmp_path / "five.npy").is_file() and len(other) == 5


def test_int8_regions_of_every_level_stay_close_to_fp32(rng):
    images = list(rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    fp32 = SAMEncoder.untrained("tiny").regions(images, grid=4, levels=LEVELS)
    int8 = SAMEncoder.untrained("tiny", precision="int8").regions(images, grid=4, levels=LEVELS)
    for a, b in zip(fp32.split([64] * 4 + [256], 1), int8.split([64] * 4 + [256], 1)):
        assert F.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99
