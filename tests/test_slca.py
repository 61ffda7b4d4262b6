import pytest
import torch
import torchvision

from slca_min import SLCA, SAMEncoder, SLCAClassifier


def test_attention_shapes_and_range():
    maps = SLCA(stage_channels=(64, 128, 256, 512))(torch.randn(2, 256, 16, 16))
    assert [m.shape for m in maps] == [(2, c, 16, 16) for c in (64, 128, 256, 512)]
    assert all(((m > 0) & (m < 1)).all() for m in maps)


def test_attention_is_spatially_localized():
    """Changing one region's descriptor changes that region's attention and no other."""
    torch.manual_seed(0)
    slca = SLCA(stage_channels=(8, 16))
    R = torch.randn(1, 256, 6, 6)
    changed = R.clone()
    changed[0, :, 2, 3] += torch.randn(256)
    for before, after in zip(slca(R), slca(changed)):
        moved = (before - after).abs().amax(dim=1)[0]  # (g, g)
        assert moved[2, 3] > 1e-4
        moved[2, 3] = 0
        assert moved.max() == 0


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_baseline_equals_torchvision(backbone):
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=3, backbone=backbone, slca=False).eval()
    reference = torchvision.models.get_model(backbone, num_classes=3).eval()
    assert model.backbone.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(model.backbone.state_dict())
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(model(x), reference(x))


def test_attention_of_one_equals_torchvision():
    """With every attention forced to 1 (sigmoid saturates), SLCA changes nothing."""
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, backbone="resnet50", stages=(1, 3, 4)).eval()
    assert [head.out_channels for head in model.slca["neck"].excite] == [256, 1024, 2048]
    with torch.no_grad():
        for head in model.slca["neck"].excite:
            head.weight.zero_()
            head.bias.fill_(100.0)
    reference = torchvision.models.resnet50(num_classes=2).eval()
    reference.load_state_dict(model.backbone.state_dict())
    x, R = torch.randn(2, 3, 64, 64), torch.randn(2, 256, 16, 16)
    logits, maps = model(x, R, return_attention=True)
    assert all(torch.all(m == 1) for m in maps)
    torch.testing.assert_close(logits, reference(x))
    assert not torch.allclose(SLCAClassifier(num_classes=2, backbone="resnet50").eval()(x, R), reference(x))


def test_gradients_reach_slca_and_backbone_but_not_encoder():
    encoder = SAMEncoder.untrained("tiny", seed=0)
    model = SLCAClassifier(num_classes=2)
    images = [torch.randint(0, 256, (32, 32), dtype=torch.uint8).numpy() for _ in range(2)]
    R = encoder.regions(images)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 64, 64), R), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.slca.parameters())
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.parameters())


def test_errors():
    with pytest.raises(ValueError, match="backbone='vgg16'"):
        SLCAClassifier(num_classes=2, backbone="vgg16")
    with pytest.raises(ValueError, match="stages"):
        SLCAClassifier(num_classes=2, stages=(0, 5))
    with pytest.raises(ValueError, match="R: region descriptors .* are required"):
        SLCAClassifier(num_classes=2)(torch.randn(1, 3, 32, 32))


def test_grey_input_channels():
    model = SLCAClassifier(num_classes=2, slca=False, in_chans=1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2)


def test_grid_mismatch_is_named():
    with pytest.raises(ValueError, match=r"grid=16"):
        SLCAClassifier(num_classes=2)(torch.randn(2, 3, 32, 32), torch.randn(2, 256, 8, 8))


def test_pretrained_backbone_offline_message(monkeypatch):
    get_model = torchvision.models.get_model

    def offline(name, weights=None):
        if weights is not None:
            raise ConnectionError("no network")
        return get_model(name)

    monkeypatch.setattr("slca_min.backbones.torchvision.models.get_model", offline)
    with pytest.raises(OSError, match="backbone_weights='imagenet': cannot fetch .*--backbone-weights miniature"):
        SLCAClassifier(num_classes=2, pretrained_backbone=True)  # the old argument: the same as backbone_weights="imagenet"


@pytest.mark.parametrize("integrate, bias, scale", [("multiply", 100.0, 1.0), ("residual", -100.0, 1.0),
                                                    ("rescaled", 0.0, 1.0), ("multiply", 0.0, 0.5)])
def test_integration_forms(integrate, bias, scale):
    """F*A, F*(1+A), F*2A: the gates at which each leaves a stage unchanged (A = 1, 0, 1/2); A = 1/2 under F*A halves it."""
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, stages=(4,), integrate=integrate).eval()
    with torch.no_grad():
        model.slca["neck"].excite[0].weight.zero_()
        model.slca["neck"].excite[0].bias.fill_(bias)  # A = sigmoid(bias): 1, 0 or 1/2 everywhere
    reference = torchvision.models.resnet18(num_classes=2).eval()
    reference.load_state_dict(model.backbone.state_dict())
    features = torch.nn.Sequential(*list(reference.children())[:-2])  # up to layer4
    x, R = torch.randn(2, 3, 64, 64), torch.randn(2, 256, 16, 16)
    with torch.no_grad():
        expected = reference.fc(torch.flatten(reference.avgpool(features(x) * scale), 1))
        torch.testing.assert_close(model(x, R), expected)
    with pytest.raises(ValueError, match="integrate='add' is unknown"):
        SLCAClassifier(num_classes=2, integrate="add")


LEVEL_WIDTHS = [64, 64, 64, 64, 256]  # the tiny encoder's five levels


@pytest.mark.parametrize("backbone, stem", [("resnet18", "maxpool"), ("swin_v2_t", "features.0")])
def test_five_levels_gate_the_stem_and_four_stages(backbone, stem):
    from slca_min.sam.levels import LEVELS

    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, backbone=backbone, grid=8, sam_levels=LEVELS, in_channels=LEVEL_WIDTHS).eval()
    assert model.stages == (0, 1, 2, 3, 4) and model.sam_levels == LEVELS and set(model.slca) == set(LEVELS)
    module, seen = dict(model.backbone.named_modules())[stem], {}
    module.register_forward_pre_hook(lambda m, args: seen.update(input=args[0]))
    module.register_forward_hook(lambda m, args, out: seen.update(gated=out))  # runs after the model's gate
    x, R = torch.randn(2, 3, 64, 64), torch.randn(2, 512, 8, 8)
    with torch.no_grad():
        logits, maps = model(x, R, return_attention=True)
        raw = module.forward(seen["input"])  # the stem's own output, no hooks
    assert logits.shape == (2, 2) and len(maps) == 5
    to_nchw = (lambda t: t.permute(0, 3, 1, 2)) if model.channels_last else (lambda t: t)
    A = torch.nn.functional.interpolate(maps[0], size=to_nchw(raw).shape[-2:], mode="bilinear", align_corners=False)
    torch.testing.assert_close(to_nchw(seen["gated"]), to_nchw(raw) * A)  # the stem is gated by the patch level's map
    changed = R.clone()
    changed[:, 256:] += 1  # the neck's channels: the stem's map, from the patch level alone, stays as it was
    with torch.no_grad():
        assert torch.equal(model(x, changed, return_attention=True)[1][0], maps[0])


def test_level_mapping_and_its_errors():
    model = SLCAClassifier(num_classes=2, stages=(4, 1), sam_levels=("neck", "patch"), in_channels=[64, 256])
    assert model.stages == (1, 4) and model.sam_levels == ("patch", "neck") and model.region_levels == ("patch", "neck")
    with pytest.raises(ValueError, match="one level for every gated position"):
        SLCAClassifier(num_classes=2, stages=(1, 2, 3), sam_levels=("patch", "neck"))
    assert SLCAClassifier(num_classes=2, sam_levels=("late", "neck"), in_channels=[64, 256]).stages == (3, 4)  # deepest two
    with pytest.raises(ValueError, match="choose from patch"):
        SLCAClassifier(num_classes=2, sam_levels=("lower",))
    with pytest.raises(ValueError, match="one number per level"):
        SLCAClassifier(num_classes=2, sam_levels=("patch", "early", "middle", "late", "neck"), in_channels=[64, 256])
    with pytest.raises(ValueError, match="the model reads 320"):
        model(torch.randn(1, 3, 32, 32), torch.randn(1, 256, 16, 16))


def test_a_model_file_from_before_levels_still_loads(tmp_path):
    from slca_min.pipeline.model_file import describe_model, load_model
    from slca_min.study.experiments import FitConfig

    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, grid=4).eval()
    d = describe_model(model, config=FitConfig(grid=4), class_names=["a", "b"], encoder=SAMEncoder.untrained("tiny"))
    for key in ("sam_levels", "preprocess"):
        d.pop(key)  # what an older model.pt holds: no levels, one SLCA under "slca."
    old = {k.replace("slca.neck.", "slca.", 1): v for k, v in model.state_dict().items()}
    torch.save({"description": d, "state_dict": old}, tmp_path / "model.pt")
    loaded, description = load_model(tmp_path / "model.pt")
    assert description["sam_levels"] == ["neck"] * 4 and description["preprocess"] == "sam"
    x, R = torch.randn(2, 3, 32, 32), torch.randn(2, 256, 4, 4)
    with torch.no_grad():
        assert torch.equal(loaded(x, R), model(x, R))
