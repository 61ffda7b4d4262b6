"""What every checker shares: the error a student sees, shape messages that name the axis, and a comparison
that recognises typical mistakes before it falls back to "relative error, largest here"."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Sequence

import torch

from .limit import StudentCall

# held at import: student code may replace torch's own (the reference is computed before it runs, too)
allclose, equal, unravel_index = torch.allclose, torch.equal, torch.unravel_index


class ExerciseError(AssertionError):
    """A student's code differs from the reference; the message says how, in plain words."""


def fail(message: str) -> None:
    raise ExerciseError(message)


TIME_LIMIT = 5.0  # seconds for one call into the student's code (each check makes at most three)


def call(fn, *args, what: str, hint: str = "", **kwargs):
    """fn(*args, **kwargs), the student's code, on copies of its tensor arguments, in a thread of its own and for at
    most TIME_LIMIT seconds; an iterator it returns (a generator's body is student code too) is read there as well.
    Every way out becomes an ExerciseError naming `what` (an exception, SystemExit, a timeout, an argument changed
    in place), except a stub's NotImplementedError (not started yet) and KeyboardInterrupt, which pass through."""
    copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    student = StudentCall(lambda: settled(fn(*copies, **kwargs)))
    finished, running = student.finish(TIME_LIMIT)
    if not finished:
        fail(f"{what} did not return within {TIME_LIMIT:g} s (the check's inputs are tiny: it should take well under a "
             "second); look for a loop that never ends, or a wait" + (
                 ". It is still running in the background, catching the checker's attempts to stop it (an `except:` "
                 "that catches everything): restart the kernel to end it" if running else ""))
    error = student.error
    if isinstance(error, (NotImplementedError, ExerciseError, KeyboardInterrupt)):  # a stub, a message, a Ctrl-C
        raise error
    if isinstance(error, SystemExit):
        raise ExerciseError(f"{what} called sys.exit({'' if error.code is None else repr(error.code)}), which ends "
                            "the whole program; a function returns its result (or raises an exception)") from error
    if error is not None:
        raise ExerciseError(f"{what} raised {type(error).__name__}: {error}" + (f"; {hint}" if hint else "")) from error
    for i, (given, original) in enumerate(zip(copies, args)):
        if isinstance(given, torch.Tensor) and not (given.shape == original.shape and equal(given, original)):
            fail(f"{what} changed its argument {i + 1} in place (an operation with inplace=True, `+=`, `*=` or a "
                 "method ending in _ such as relu_): the caller's tensor is changed too; compute a new tensor instead")
    return student.value


def settled(out):
    """An iterator's items as a list (read under the time limit: a generator's body runs only when it is read)."""
    return list(out) if isinstance(out, Iterator) else out


def on_cpu(value: torch.Tensor, what: str) -> None:
    """The checker's inputs are on the CPU; a result elsewhere (meta, a GPU) is named for it."""
    if value.device.type != "cpu":
        fail(f"{what} is on device {value.device}; the checker's inputs are on the CPU: return the result where the "
             "inputs are (no .to(...), .cuda() or device=)")


def tensor(value, what: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The student's output as a float64 tensor, or a clear error when it is not a tensor, not on the CPU or not of
    the inputs' dtype (a float16 answer would otherwise read as wrong gates or a relative error)."""
    if not isinstance(value, torch.Tensor):
        fail(f"{what}: expected a torch.Tensor, got {type(value).__name__}")
    on_cpu(value, what)
    if value.dtype != dtype:
        name = str(dtype).removeprefix("torch.")
        fail(f"{what} is {str(value.dtype).removeprefix('torch.')}; the inputs are {name}: keep the inputs' dtype "
             "(no .half(), .float() or dtype=; a new tensor takes it from an input, e.g. torch.zeros_like)")
    return value.detach().double()


def check_shape(value: torch.Tensor, expected: Sequence[int], axes: Sequence[str], what: str) -> None:
    """Same shape as expected, or a message naming the first axis that differs (and a likely transpose)."""
    got, expected = tuple(value.shape), tuple(expected)
    if got == expected:
        return
    named = ", ".join(f"{a}={n}" for a, n in zip(axes, expected))
    if len(got) != len(expected):
        fail(f"{what}: shape {got} has {len(got)} axes; expected {expected} ({named})")
    if sorted(got) == sorted(expected):
        fail(f"{what}: shape {got} holds the right sizes in the wrong order; expected {expected} ({named}): "
             "a transpose or permute is missing or wrong")
    axis = next(i for i, (g, e) in enumerate(zip(got, expected)) if g != e)
    fail(f"{what}: shape {got}; axis {axis} ({axes[axis]}) should be {expected[axis]}, not {got[axis]} "
         f"(expected {expected}: {named})")


def compare(student: torch.Tensor, reference: torch.Tensor, *, what: str, axes: Sequence[str],
            mistakes: Sequence[tuple[str, torch.Tensor]] = (), rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Pass when student equals reference within tolerance. Otherwise name the first known mistake that the
    student's output matches exactly, or report the relative error and where it is largest."""
    if allclose(student, reference, rtol=rtol, atol=atol):
        return
    for message, wrong in mistakes:
        if wrong.shape == student.shape and allclose(student, wrong, rtol=rtol, atol=atol):
            fail(f"{what}: {message}")
    diff = (student - reference).abs()
    where = [int(i) for i in unravel_index(diff.argmax(), diff.shape)]
    relative = float(diff.max() / reference.abs().max().clamp_min(1e-12))
    place = ", ".join(f"{a} {i}" for a, i in zip(axes, where))
    fail(f"{what}: differs from the reference (relative error {relative:.2g}); largest at {place}: "
         f"yours {float(student[tuple(where)]):.4g}, expected {float(reference[tuple(where)]):.4g}")


def passed(message: str) -> str:
    print(f"passed: {message}")
    return message
