"""The exercise checkers pass the reference and name the fault in typical wrong implementations, written here the
way a student would write them (not derived from the checkers' own list of mistakes)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from slca_min import SLCA
from slca_min.exercises import (ExerciseError, check_integration, check_paired_difference, check_region_pooling,
                                check_slca)
from slca_min.sam.encoder import pool_regions
from slca_min.study.stats import paired_difference


class Skeleton(nn.Module):
    """The notebook's skeleton, filled in; subclasses change one thing each."""

    def __init__(self, in_channels=256, stage_channels=(64, 128, 256, 512), reduction=4):
        super().__init__()
        hidden = max(8, in_channels // reduction)
        self.squeeze = nn.Conv2d(in_channels, hidden, kernel_size=1)
        self.excite = nn.ModuleList(nn.Conv2d(hidden, c, kernel_size=1) for c in stage_channels)

    def forward(self, R):
        Z = torch.relu(self.squeeze(R))
        return [torch.sigmoid(head(Z)) for head in self.excite]


class SqueezePerStage(Skeleton):
    def __init__(self, in_channels=256, stage_channels=(64, 128, 256, 512), reduction=4):
        super().__init__(in_channels, stage_channels, reduction)
        self.squeeze = nn.ModuleList(nn.Conv2d(in_channels, in_channels // reduction, 1) for _ in stage_channels)

    def forward(self, R):
        return [torch.sigmoid(h(torch.relu(s(R)))) for s, h in zip(self.squeeze, self.excite)]


class NoSigmoid(Skeleton):
    def forward(self, R):
        return [head(torch.relu(self.squeeze(R))) for head in self.excite]


class Softmax(Skeleton):
    def forward(self, R):
        return [torch.softmax(head(torch.relu(self.squeeze(R))), dim=1) for head in self.excite]


class PooledFirst(Skeleton):  # squeeze-and-excitation: one gate vector per image
    def forward(self, R):
        Z = torch.relu(self.squeeze(R.mean(dim=(2, 3), keepdim=True)))
        return [torch.sigmoid(head(Z)).expand(-1, -1, *R.shape[-2:]) for head in self.excite]


class Smoothed(Skeleton):  # neighbouring regions mixed
    def forward(self, R):
        Z = F.avg_pool2d(torch.relu(self.squeeze(R)), 3, stride=1, padding=1)
        return [torch.sigmoid(head(Z)) for head in self.excite]


class ThreeByThree(Skeleton):
    def __init__(self, in_channels=256, stage_channels=(64, 128, 256, 512), reduction=4):
        super().__init__(in_channels, stage_channels, reduction)
        self.squeeze = nn.Conv2d(in_channels, in_channels // reduction, 3, padding=1)


class NoBias(Skeleton):
    def __init__(self, in_channels=256, stage_channels=(64, 128, 256, 512), reduction=4):
        super().__init__(in_channels, stage_channels, reduction)
        self.squeeze = nn.Conv2d(in_channels, in_channels // reduction, 1, bias=False)


class NoReLU(Skeleton):
    def forward(self, R):
        return [torch.sigmoid(head(self.squeeze(R))) for head in self.excite]


class ChannelsLast(Skeleton):
    def forward(self, R):
        return [A.permute(0, 2, 3, 1) for A in super().forward(R)]


class OneTensor(Skeleton):
    def forward(self, R):
        return torch.cat(super().forward(R), dim=1)


@pytest.mark.parametrize("student, fault", [
    (SqueezePerStage, "shared by all stages"), (NoSigmoid, "outside (0, 1)"), (Softmax, "softmax"),
    (PooledFirst, "same gates"), (Smoothed, "leaks between regions"), (ThreeByThree, "3x3 kernel"),
    (NoBias, "missing parameters"), (NoReLU, "no ReLU after the squeeze"), (ChannelsLast, "wrong order"), (OneTensor, "return a list")])
def test_check_slca_names_the_fault(student, fault):
    with pytest.raises(ExerciseError, match=fault.replace("(", r"\(").replace(")", r"\)")):
        check_slca(student)


def test_the_references_pass(capsys):
    check_slca(SLCA)
    check_slca(Skeleton)
    check_integration(lambda f, a: f * F.interpolate(a, size=f.shape[-2:], mode="bilinear", align_corners=False))
    check_region_pooling(pool_regions)
    check_region_pooling(pool_regions, grid=5)
    check_paired_difference(lambda m, b: [paired_difference(m, b)[k] for k in ("diff_mean", "ci_low", "ci_high")])
    assert capsys.readouterr().out.count("passed:") == 6


@pytest.mark.parametrize("student, fault", [
    (lambda f, a: f * F.interpolate(a, size=f.shape[-2:]), "nearest"),
    (lambda f, a: f * F.interpolate(a, size=f.shape[-2:], mode="bilinear", align_corners=True), "align_corners=True"),
    (lambda f, a: f + F.interpolate(a, size=f.shape[-2:], mode="bilinear"), "added"),
    (lambda f, a: f * (1 + F.interpolate(a, size=f.shape[-2:], mode="bilinear")), "residual"),
    (lambda f, a: f * a, "resized"),
    (lambda f, a: f * F.interpolate(a, size=(f.shape[-1], f.shape[-2]), mode="bilinear"), "rows first")])
def test_check_integration_names_the_fault(student, fault):
    with pytest.raises(ExerciseError, match=fault):
        check_integration(student)


def whole_map(embedding, sizes, grid):
    return F.adaptive_avg_pool2d(embedding, grid)


def floor(embedding, sizes, grid):
    return torch.cat([F.adaptive_avg_pool2d(e[None, :, :h // 16, :w // 16], grid) for e, (h, w) in zip(embedding, sizes)])


def swapped(embedding, sizes, grid):
    return torch.cat([F.adaptive_avg_pool2d(e[None, :, :math.ceil(w / 16), :math.ceil(h / 16)], grid)
                      for e, (h, w) in zip(embedding, sizes)])


def max_pooled(embedding, sizes, grid):
    return torch.cat([F.adaptive_max_pool2d(e[None, :, :math.ceil(h / 16), :math.ceil(w / 16)], grid)
                      for e, (h, w) in zip(embedding, sizes)])


def channels_last(embedding, sizes, grid):
    return pool_regions(embedding, sizes, grid).permute(0, 2, 3, 1)


@pytest.mark.parametrize("student, fault", [(whole_map, "padding"), (floor, "partial patch"),
                                            (swapped, "swapped"), (max_pooled, "max pooling"),
                                            (channels_last, "wrong order")])
def test_check_region_pooling_names_the_fault(student, fault):
    with pytest.raises(ExerciseError, match=fault):
        check_region_pooling(student)


def unpaired(m, b):
    m, b = np.array(m), np.array(b)
    half = 2.571 * math.sqrt(m.var(ddof=1) / len(m) + b.var(ddof=1) / len(b))
    return m.mean() - b.mean(), m.mean() - b.mean() - half, m.mean() - b.mean() + half


def normal_quantile(m, b):
    d = np.array(m) - np.array(b)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def population_std(m, b):
    d = np.array(m) - np.array(b)
    half = 2.571 * np.std(d) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def reversed_sign(m, b):
    d = np.array(b) - np.array(m)
    half = 2.571 * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def no_sqrt_n(m, b):
    d = np.array(m) - np.array(b)
    half = 2.571 * d.std(ddof=1)
    return d.mean(), d.mean() - half, d.mean() + half


@pytest.mark.parametrize("student, fault", [(unpaired, "unpaired"), (normal_quantile, "normal quantile"),
                                            (population_std, "ddof=0"), (reversed_sign, "sign is reversed"),
                                            (no_sqrt_n, "sqrt"), (lambda m, b: 0.03, "three numbers")])
def test_check_paired_difference_names_the_fault(student, fault):
    with pytest.raises(ExerciseError, match=fault):
        check_paired_difference(student)


# Reliability, fifth round (issue 34): student code that never returns, or that changes its input in place.
class ReluInPlace(Skeleton):
    def forward(self, R):
        F.relu(R, inplace=True)  # the student's "cleanup" changes the caller's R
        return super().forward(R)


class Forever(Skeleton):
    def forward(self, R):
        while True:
            try:
                pass
            except Exception:  # a broad except must not swallow the time limit
                pass


def forever(*args):
    import time
    while True:
        time.sleep(0.05)


def test_a_student_who_changes_the_input_in_place_fails():
    with pytest.raises(ExerciseError, match="in place"):
        check_slca(ReluInPlace)

    def integrate_in_place(F_k, A_k):
        F_k *= F.interpolate(A_k, size=F_k.shape[-2:], mode="bilinear", align_corners=False)
        return F_k
    with pytest.raises(ExerciseError, match="argument 1 in place"):
        check_integration(integrate_in_place)


@pytest.mark.parametrize("check, student", [(check_slca, Forever), (check_integration, forever),
                                            (check_region_pooling, forever), (check_paired_difference, forever)])
def test_code_that_never_returns_ends_in_a_message(check, student, monkeypatch):
    import time
    from slca_min.exercises import checks
    monkeypatch.setattr(checks, "TIME_LIMIT", 0.3)
    start = time.monotonic()
    with pytest.raises(ExerciseError, match="did not return within 0.3 s"):
        check(student)
    assert time.monotonic() - start < 3


# Sixth round (issue 43): student code that changes the library, leaves by any door, hides in a bare except or
# answers in another dtype or on another device.
def test_an_answer_that_replaces_interpolate_for_everyone_fails(monkeypatch):
    real = F.interpolate

    def nearest(x, size, **how):
        return real(x, size=size)

    def cheat(f, a):  # nearest-neighbour, and the same for whoever resizes next
        monkeypatch.setattr(F, "interpolate", nearest)
        return f * F.interpolate(a, size=f.shape[-2:], mode="bilinear")
    with pytest.raises(ExerciseError, match="nearest"):
        check_integration(cheat)
    monkeypatch.setattr(F, "interpolate", nearest)  # replaced in a cell before the check
    with pytest.raises(ExerciseError, match="nearest"):
        check_integration(lambda f, a: f * F.interpolate(a, size=f.shape[-2:], mode="bilinear"))


class Leave(BaseException):
    """Not an Exception: what a student's own control flow might raise."""


def exits(f, a):
    import sys
    sys.exit(3)


def numbers_later(m, b):
    yield undefined_name  # noqa: F821 - the generator's body fails only when it is read


class HalfSLCA(Skeleton):
    def forward(self, R):
        return [A.half() for A in super().forward(R)]


class MetaSLCA(Skeleton):
    def forward(self, R):
        return [A.to("meta") for A in super().forward(R)]


def bilinear(f, a):
    return f * F.interpolate(a, size=f.shape[-2:], mode="bilinear", align_corners=False)


@pytest.mark.parametrize("check, student, named", [
    (check_integration, exits, r"sys.exit\(3\)"),
    (check_integration, lambda f, a: (_ for _ in ()).throw(Leave("done")), "raised Leave: done"),
    (check_paired_difference, numbers_later, "raised NameError: name 'undefined_name' is not defined"),
    (check_paired_difference, lambda m, b: torch.zeros(3, device="meta"), "on device meta"),
    (check_integration, lambda f, a: bilinear(f, a).to("meta"), "on device meta"),
    (check_slca, MetaSLCA, "on device meta"),
    (check_integration, lambda f, a: bilinear(f, a).half(), "float16"),
    (check_slca, HalfSLCA, "float16"),
    (check_region_pooling, lambda e, s, g: pool_regions(e, s, g).float(), "float32")])
def test_every_way_out_of_student_code_ends_in_the_message(check, student, named):
    with pytest.raises(ExerciseError, match=named):
        check(student)


def test_a_students_keyboard_interrupt_is_still_a_keyboard_interrupt():
    def interrupted(f, a):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        check_integration(interrupted)


@pytest.mark.parametrize("check, loop", [(check_integration, "sleep"), (check_region_pooling, "compute"),
                                         (check_paired_difference, "swallow")])
def test_the_time_limit_holds_against_a_bare_except(check, loop, monkeypatch):
    import threading
    import time
    from slca_min.exercises import checks
    monkeypatch.setattr(checks, "TIME_LIMIT", 0.3)
    release = threading.Event()  # ends the student's loop once the test is over (or after 3 s, on code that waits)
    threading.Timer(3, release.set).start()

    def stubborn(*args):
        while not release.is_set():
            try:
                if loop == "compute":
                    sum(i * i for i in range(10_000))
                else:
                    time.sleep(0.05 if loop == "sleep" else 10)
            except:  # noqa: E722 - what the test is about
                if loop == "swallow":
                    return 0.0, 0.0, 0.0
    start = time.monotonic()
    try:
        with pytest.raises(ExerciseError, match="did not return within 0.3 s"):
            check(stubborn)
        assert time.monotonic() - start < 2
    finally:
        release.set()
