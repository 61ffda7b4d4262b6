"""plot_attention draws maps a student can compare: one colour scale per stage shared by every model (a flat map
looks flat), a colour bar per stage, and each map also at the grid its stage multiplies."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from slca_min.study.viz import attention_scales, plot_attention  # noqa: E402

GRIDS = [(16, 16), (8, 8), (4, 4), (2, 2)]


@pytest.fixture
def two_models(rng):
    """Two models' maps on the same 2 images: one strong (0 to 1), one flat (0.492 to 0.495, the oracle's stage 4)."""
    strong = [torch.rand(2, c, 16, 16, generator=torch.Generator().manual_seed(c)) for c in (4, 8, 8, 16)]
    flat = [0.492 + 0.003 * torch.rand(2, c, 16, 16) for c in (4, 8, 8, 16)]
    images = [rng.integers(0, 256, (32, 32), dtype=np.uint8) for _ in range(2)]
    masks = np.zeros((2, 32, 32), bool)
    masks[:, 10:20, 10:20] = True
    return images, strong, flat, masks


def panels(fig, kind: str, stage: int) -> list:
    return [ax for ax in fig.axes if ax.get_label().startswith(f"stage {stage} {kind}")]


def test_every_model_shares_one_colour_scale_per_stage(two_models):
    images, strong, flat, masks = two_models
    scales = attention_scales([strong, flat])
    figures = [plot_attention(images, maps, title=name, masks=masks, grids=GRIDS, scales=scales)
               for name, maps in (("strong", strong), ("flat", flat))]
    for k, stage in enumerate((1, 2, 3, 4)):
        clims = {ax.images[-1].get_clim() for fig in figures for kind in ("overlay", "at its grid")
                 for ax in panels(fig, kind, stage)}
        assert clims == {scales[k]}, stage  # both models, both images, both panels: one scale
        lo, hi = scales[k]
        assert lo <= min(m.mean(1).min().item() for m in (strong[k], flat[k]))
        assert hi >= max(m.mean(1).max().item() for m in (strong[k], flat[k]))
        assert hi - lo > 0.1  # the flat model (0.003 wide) is drawn on the strong one's scale, not stretched to its own
    # models stacked as rows of one figure: the rows share the scale without being told
    fig = plot_attention([images[0]] * 2, [torch.stack([s[0], f[0]]) for s, f in zip(strong, flat)], title="t",
                         captions=["strong model\ntrained on 10 images", "flat model\ntrained on 10 images"])
    assert len({ax.images[-1].get_clim() for ax in panels(fig, "overlay", 4)}) == 1


def test_a_colour_bar_per_stage_and_each_map_at_its_stages_grid(two_models):
    images, strong, _, masks = two_models
    bands = masks.copy()
    bands[:, 12:18, 12:18] = False  # a band along the lesion's edge, as lesion_border draws it
    fig = plot_attention(images, strong, title="t", masks=masks, bands=bands, grids=GRIDS, stages=(1, 2, 3, 4))
    bars = [ax for ax in fig.axes if ax.get_label().endswith("colour bar")]
    assert [ax.get_label() for ax in bars] == [f"stage {k} colour bar" for k in (1, 2, 3, 4)]
    assert all(ax.get_xlabel().endswith("gate value") for ax in bars)
    for stage, grid in zip((1, 2, 3, 4), GRIDS):
        assert [ax.images[0].get_array().shape for ax in panels(fig, "at its grid", stage)] == [grid, grid]
        assert all(ax.images[0].get_interpolation() == "nearest" for ax in panels(fig, "at its grid", stage))
        assert [ax.images[-1].get_array().shape for ax in panels(fig, "overlay", stage)] == [(32, 32)] * 2
    image = next(ax for ax in fig.axes if ax.get_label() == "image, row 0")
    assert len(image.collections) == 2  # the margin band (filled) and the lesion's outline
    assert "0 blocks it, 1 passes it" in " ".join(fig._suptitle.get_text().split())  # the gate's meaning, said once in words
    fig = plot_attention(images, strong, title="t")  # without grids: one panel per stage, still a colour bar each
    assert not panels(fig, "at its grid", 1) and len([ax for ax in fig.axes if ax.get_label().endswith("colour bar")]) == 4


def test_a_flat_stage_gets_a_scale_that_says_so():
    (lo, hi), = attention_scales([[torch.full((2, 8, 4, 4), 0.5)]])
    assert lo < 0.5 < hi and hi - lo == pytest.approx(1e-3)
