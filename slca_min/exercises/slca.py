"""Checkers for exercise 1: SLCA's forward (check_slca) and how its gates meet the backbone (check_integration)."""
from __future__ import annotations

import torch
from torch import nn, relu, sigmoid
from torch.nn.functional import interpolate

from ..slca import SLCA
from .checks import allclose, call, check_shape, compare, fail, passed, tensor

IN_CHANNELS, STAGE_CHANNELS, REDUCTION = 64, (8, 16, 24), 4  # small, and every stage a different width
HIDDEN = IN_CHANNELS // REDUCTION
MAP_AXES = ("batch B", "channel C_k", "row", "column")


def check_slca(student_class: type[nn.Module]) -> str:
    """Build the student's SLCA with the reference's weights and compare shapes, range, locality and values. The
    reference's outputs are computed first, before any student code runs."""
    reference = SLCA(IN_CHANNELS, STAGE_CHANNELS, REDUCTION).double()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for p in reference.parameters():
            nn.init.normal_(p, std=0.3)  # larger than the default init, so that a missing ReLU or sigmoid shows
        R = torch.randn(2, IN_CHANNELS, 4, 6, dtype=torch.float64)  # a 4 x 6 grid: a swapped axis cannot hide
    with torch.no_grad():
        expected = reference(R)
        Z = reference.squeeze(R)
        mistakes = [  # (what the student did, what it gives), checked only once shapes and range are right
            ("no ReLU after the squeeze: Z = ReLU(squeeze(R))", [sigmoid(h(Z)) for h in reference.excite]),
            ("a ReLU between the excite head and the sigmoid: A_k = sigmoid(excite_k(Z)), nothing in between",
             [sigmoid(relu(h(relu(Z)))) for h in reference.excite]),
            ("a sigmoid after the squeeze: the squeeze takes a ReLU, the sigmoid comes after the excite head",
             [sigmoid(h(sigmoid(Z))) for h in reference.excite]),
        ]
    student = call(student_class, in_channels=IN_CHANNELS, stage_channels=STAGE_CHANNELS, reduction=REDUCTION,
                   what=f"{student_class.__name__}(in_channels=64, stage_channels=(8, 16, 24), reduction=4)",
                   hint="keep the skeleton's arguments")
    check_structure(student, reference)
    call(load, student, reference.state_dict(), what="your module, given the reference's weights")
    maps = run(student, R)
    for k, (A, A_ref) in enumerate(zip(maps, expected)):
        check_shape(A, A_ref.shape, MAP_AXES, f"stage {k}'s attention")
        if A.min() <= 0 or A.max() >= 1:
            fail(f"stage {k}'s attention: gates outside (0, 1) (min {float(A.min()):.3g}, max {float(A.max()):.3g}): "
                 "each gate is a sigmoid of the excite head's output")
        if allclose(A.sum(1), torch.ones_like(A.sum(1))):
            fail(f"stage {k}'s attention sums to 1 over the channels: a softmax makes channels compete; SLCA gives "
                 "each channel its own sigmoid")
    check_locality(student, R, maps)
    for k, (A, A_ref) in enumerate(zip(maps, expected)):
        compare(A, A_ref, what=f"stage {k}'s attention", axes=MAP_AXES,
                mistakes=[(message, wrong[k]) for message, wrong in mistakes])
    return passed("SLCA: shared squeeze, one excite head per stage, per-region sigmoid gates, equal to the reference")


def load(student: nn.Module, weights: dict) -> None:
    """The reference's weights in float64 (the module's own .double() and load_state_dict may be student code)."""
    student.double().load_state_dict(weights)


def check_structure(student: nn.Module, reference: SLCA) -> None:
    """The skeleton's layers, with SLCA's shapes: one shared 1x1 squeeze, one 1x1 excite head per stage."""
    squeeze, excite = getattr(student, "squeeze", None), getattr(student, "excite", None)
    if isinstance(squeeze, (nn.ModuleList, list, tuple)):
        fail(f"self.squeeze holds {len(squeeze)} layers, one per stage; the squeeze is shared by all stages: one "
             "nn.Conv2d(in_channels, in_channels // reduction, 1)")
    if not isinstance(squeeze, nn.Conv2d) or not isinstance(excite, nn.ModuleList):
        fail("expected self.squeeze (one nn.Conv2d) and self.excite (an nn.ModuleList of nn.Conv2d, one per stage), "
             "the names the skeleton gives")
    if len(excite) != len(STAGE_CHANNELS):
        fail(f"self.excite has {len(excite)} heads for {len(STAGE_CHANNELS)} stages: one excite head per stage")
    for name, conv, (c_in, c_out) in [("self.squeeze", squeeze, (IN_CHANNELS, HIDDEN))] + \
            [(f"self.excite[{k}]", h, (HIDDEN, c)) for k, (h, c) in enumerate(zip(excite, STAGE_CHANNELS))]:
        if not isinstance(conv, nn.Conv2d):
            fail(f"{name} is a {type(conv).__name__}; use nn.Conv2d with kernel_size=1")
        if conv.kernel_size != (1, 1):
            fail(f"{name} has a {conv.kernel_size[0]}x{conv.kernel_size[1]} kernel: SLCA's convolutions are 1x1, "
                 "which is what keeps each region's gate its own")
        if (conv.in_channels, conv.out_channels) != (c_in, c_out):
            fail(f"{name} maps {conv.in_channels} -> {conv.out_channels} channels; expected {c_in} -> {c_out} "
                 f"(in_channels={IN_CHANNELS}, reduction={REDUCTION}, stage_channels={STAGE_CHANNELS})")
    mine, theirs = set(student.state_dict()), set(reference.state_dict())
    if mine - theirs:
        fail(f"unexpected parameters {sorted(mine - theirs)}: SLCA has only the squeeze and the excite heads")
    if theirs - mine:
        fail(f"missing parameters {sorted(theirs - mine)}: keep each convolution's bias (bias=True, the default)")


def run(student: nn.Module, R: torch.Tensor) -> list[torch.Tensor]:
    """The student's forward on R: a list with one float tensor per stage, or a message saying what came back."""
    with torch.no_grad():
        out = call(student, R, what=f"forward(R) with R of shape {tuple(R.shape)}")
    if not isinstance(out, (list, tuple)):
        fail(f"forward should return a list with one attention map per stage, got {type(out).__name__}")
    if len(out) != len(STAGE_CHANNELS):
        fail(f"forward returned {len(out)} maps for {len(STAGE_CHANNELS)} stages: one per excite head")
    return [tensor(A, f"stage {k}'s attention") for k, A in enumerate(out)]


def check_locality(student: nn.Module, R: torch.Tensor, maps: list[torch.Tensor]) -> None:
    """Changing one region of R changes that region's gates and no other: the 'spatially localized' of SLCA."""
    if all(allclose(A, A[..., :1, :1].expand_as(A)) for A in maps):
        fail("every region got the same gates: R was pooled over the grid first (that is squeeze-and-excitation); "
             "SLCA gives each region its own gates")
    changed = R.clone()
    changed[:, :, 1, 2] += 1.0
    moved = torch.stack([(a - b).abs().amax(dim=(0, 1)) for a, b in zip(run(student, changed), maps)]).amax(0) > 1e-9
    others = int(moved.sum()) - int(moved[1, 2])
    if others:
        fail(f"changing region (row 1, column 2) of R changed the gates of {others} other regions: attention leaks "
             "between regions; SLCA works on each region alone (1x1 convolutions, no pooling or mixing over the grid)")
    if not moved[1, 2]:
        fail("changing region (row 1, column 2) of R did not change its gates: the gates must depend on R")


def check_integration(student_fn) -> str:
    """integrate(F_k, A_k): A_k (B, C, g, g) resized bilinearly to F_k's H x W, then F_k * A_k. The reference and the
    mistakes come first, from the `interpolate` held at import: an answer that replaces F.interpolate cannot move
    them."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        F_k = torch.randn(2, 3, 7, 10, dtype=torch.float64)  # H != W and neither a multiple of g
        A_k = torch.rand(2, 3, 4, 5, dtype=torch.float64)

    def resized(**how):
        return interpolate(A_k, size=(7, 10), **how)
    bilinear = resized(mode="bilinear", align_corners=False)
    mistakes = [
        ("A_k was resized with nearest-neighbour; use mode='bilinear', align_corners=False, as SLCAClassifier does",
         F_k * resized(mode="nearest")),
        ("align_corners=True; the library (like torchvision) resizes with align_corners=False",
         F_k * resized(mode="bilinear", align_corners=True)),
        ("A_k was added to F_k; SLCA's gate multiplies: F_k * A_k", F_k + bilinear),
        ("F_k * (1 + A_k) is the 'residual' integration, a control in the study; the paper's reading is F_k * A_k",
         F_k * (1 + bilinear)),
        ("F_k * 2 A_k is the 'rescaled' integration, a control in the study; the paper's reading is F_k * A_k",
         F_k * 2 * bilinear)]
    out = tensor(call(student_fn, F_k.clone(), A_k.clone(),
                      what=f"integrate(F_k of shape {tuple(F_k.shape)}, A_k of shape {tuple(A_k.shape)})",
                      hint="A_k must first be resized to F_k's (H, W) = (7, 10), rows first: "
                           "F.interpolate(A_k, size=F_k.shape[-2:], ...)"), "integrate's output")
    check_shape(out, F_k.shape, ("batch B", "channel C", "row", "column"), "integrate's output")
    compare(out, F_k * bilinear, what="integrate", axes=("batch B", "channel C", "row", "column"), mistakes=mistakes)
    return passed("integrate: A_k resized bilinearly to F_k's size, then multiplied")
