"""Backbone families and gates: with gating off, each backbone is exactly the plain library model; gates act and learn."""
import pytest
import torch
import torchvision

from slca_min import SLCAClassifier
from slca_min.gates import CBAMGate, SEGate


def same_as_plain(model: SLCAClassifier, reference: torch.nn.Module, x: torch.Tensor) -> None:
    assert list(model.state_dict()) == [f"backbone.{k}" for k in reference.state_dict()]
    reference.load_state_dict({k[len("backbone."):]: v for k, v in model.state_dict().items()})
    torch.testing.assert_close(model.eval()(x), reference.eval()(x))


def test_swin_v2_without_gating_is_torchvisions_swin_v2():
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=3, backbone="swin_v2_t", gate="none")
    same_as_plain(model, torchvision.models.swin_v2_t(num_classes=3), torch.randn(2, 3, 64, 64))


def test_swin_v2_with_slca_gates_its_channels_last_stages():
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, backbone="swin_v2_t", grid=4).eval()
    x, R = torch.randn(2, 3, 64, 64), torch.randn(2, 256, 4, 4)
    logits, maps = model(x, R, return_attention=True)
    assert [m.shape[1] for m in maps] == [96, 192, 384, 768]
    plain = torchvision.models.swin_v2_t(num_classes=2)
    plain.load_state_dict({k[len("backbone."):]: v for k, v in model.state_dict().items() if k.startswith("backbone.")})
    assert not torch.allclose(logits, plain.eval()(x))
    with torch.no_grad():  # every gate at 1 (sigmoid of a large bias): the plain model again
        for head in model.slca["neck"].excite:
            head.weight.zero_()
            head.bias.fill_(100.0)
    torch.testing.assert_close(model(x, R), plain(x))


def test_timm_backbone_without_gating_is_the_timm_model():
    timm = pytest.importorskip("timm", reason="timm is an optional extra: pip install -e '.[timm]'")
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, backbone="timm:seresnet18" if "seresnet18" in timm.list_models() else "timm:resnet18",
                           gate="none")
    reference = timm.create_model(model.backbone.default_cfg["architecture"], num_classes=2)
    same_as_plain(model, reference, torch.randn(2, 3, 64, 64))
    gated = SLCAClassifier(num_classes=2, backbone="timm:convnext_atto", grid=4)
    logits, maps = gated(torch.randn(2, 3, 64, 64), torch.randn(2, 256, 4, 4), return_attention=True)
    assert logits.shape == (2, 2) and [m.shape[1] for m in maps] == [40, 80, 160, 320]


def test_timm_missing_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now fails
    with pytest.raises(ImportError, match=r'pip install -e "\.\[timm\]"'):
        SLCAClassifier(num_classes=2, backbone="timm:senet154")


@pytest.mark.parametrize("gate", ["se", "cbam"])
def test_controls_see_no_regions_change_outputs_and_learn(gate):
    torch.manual_seed(0)
    model = SLCAClassifier(num_classes=2, gate=gate)
    assert model.slca is None and len(model.gates) == 4
    x = torch.randn(4, 3, 64, 64)
    out = model(x)  # no R needed
    torch.testing.assert_close(model.eval()(x, torch.randn(4, 256, 16, 16)), model(x))  # R is ignored
    plain = torchvision.models.resnet18(num_classes=2)
    plain.load_state_dict({k[len("backbone."):]: v for k, v in model.state_dict().items() if k.startswith("backbone.")})
    assert not torch.allclose(model(x), plain.eval()(x))
    model.train()
    torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 0, 1])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.gates.parameters())
    assert out.shape == (4, 2)


def test_se_is_one_weight_per_channel_and_cbam_varies_in_space():
    torch.manual_seed(0)
    x = torch.rand(1, 32, 8, 8) + 0.1
    se, cbam = SEGate(32), CBAMGate(32)
    ratio = se(x) / x
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))  # constant over space
    ratio = cbam(x) / x
    assert ratio[0, 0].std() > 0  # varies over space


def test_slca_false_is_gate_none():
    torch.manual_seed(0)
    a = SLCAClassifier(num_classes=2, slca=False)
    assert a.gate_type == "none" and a.slca is None and a.gates is None and a.stages == ()
    with pytest.raises(ValueError, match="gate='film'"):
        SLCAClassifier(num_classes=2, gate="film")
