"""What every checker shares: the error a student sees, shape messages that name the axis, and a comparison
that recognises typical mistakes before it falls back to "relative error, largest here"."""
from __future__ import annotations

import _thread
import signal
import threading
from contextlib import contextmanager
from typing import Sequence

import torch


class ExerciseError(AssertionError):
    """A student's code differs from the reference; the message says how, in plain words."""


def fail(message: str) -> None:
    raise ExerciseError(message)


TIME_LIMIT = 5.0  # seconds for one call into the student's code (each check makes at most three)


class StudentTimeout(BaseException):
    """Raised inside the student's code when its time is up (a BaseException, so that `except Exception` in the
    student's code cannot swallow it)."""


@contextmanager
def time_limit(seconds: float, what: str):
    """Stop the block after `seconds` with a clear message. Only the main thread (where a notebook's and pytest's
    code runs) can be interrupted: SIGALRM on Unix, else a timer that interrupts it; elsewhere the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if hasattr(signal, "setitimer"):
        def expire(*_):
            raise StudentTimeout
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        stop = lambda: (signal.setitimer(signal.ITIMER_REAL, 0), signal.signal(signal.SIGALRM, previous))  # noqa: E731
    else:  # Windows: interrupt_main raises KeyboardInterrupt in the main thread
        timer = threading.Timer(seconds, _thread.interrupt_main)
        timer.start()
        stop = timer.cancel
    try:
        yield
    except (StudentTimeout, KeyboardInterrupt) as e:
        if isinstance(e, KeyboardInterrupt) and (hasattr(signal, "setitimer") or timer.is_alive()):
            raise  # the user's own Ctrl-C
        fail(f"{what} did not return within {seconds:g} s (the check's inputs are tiny: it should take well under a "
             "second); look for a loop that never ends, or a wait")
    finally:
        stop()


def call(fn, *args, what: str, hint: str = "", **kwargs):
    """fn(*args, **kwargs), the student's code, on copies of its tensor arguments and for at most TIME_LIMIT
    seconds: an error, a timeout or an argument changed in place becomes an ExerciseError naming `what`, except a
    stub's NotImplementedError (not started yet), which passes through as it is."""
    copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    try:
        with time_limit(TIME_LIMIT, what):
            out = fn(*copies, **kwargs)
    except (NotImplementedError, ExerciseError):  # a stub, or the timeout's own message
        raise
    except Exception as e:
        fail(f"{what} raised {type(e).__name__}: {e}" + (f"; {hint}" if hint else ""))
    for i, (given, original) in enumerate(zip(copies, args)):
        if isinstance(given, torch.Tensor) and not (given.shape == original.shape and torch.equal(given, original)):
            fail(f"{what} changed its argument {i + 1} in place (an operation with inplace=True, `+=`, `*=` or a "
                 "method ending in _ such as relu_): the caller's tensor is changed too; compute a new tensor instead")
    return out


def tensor(value, what: str) -> torch.Tensor:
    """The student's output as a float64 tensor, or a clear error when it is not a tensor."""
    if not isinstance(value, torch.Tensor):
        fail(f"{what}: expected a torch.Tensor, got {type(value).__name__}")
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
    if torch.allclose(student, reference, rtol=rtol, atol=atol):
        return
    for message, wrong in mistakes:
        if wrong.shape == student.shape and torch.allclose(student, wrong, rtol=rtol, atol=atol):
            fail(f"{what}: {message}")
    diff = (student - reference).abs()
    where = [int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)]
    relative = float(diff.max() / reference.abs().max().clamp_min(1e-12))
    place = ", ".join(f"{a} {i}" for a, i in zip(axes, where))
    fail(f"{what}: differs from the reference (relative error {relative:.2g}); largest at {place}: "
         f"yours {float(student[tuple(where)]):.4g}, expected {float(reference[tuple(where)]):.4g}")


def passed(message: str) -> str:
    print(f"passed: {message}")
    return message
