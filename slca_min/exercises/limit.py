"""One call into a student's code, in a thread of its own: the checker waits for it at most so long, and nothing the
code catches (a bare `except:` included) can stretch that wait, since the wait is not in the student's code."""
from __future__ import annotations

import contextvars
import ctypes
import threading
import time

import torch


class StudentTimeout(BaseException):
    """Raised into student code that ran out of time, to stop it (a BaseException: `except Exception` lets it by)."""


def raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` in that thread at its next bytecode (None: take back one not raised yet). It cannot interrupt a
    sleep or a C call, and a bare `except:` can catch it: stopping is best effort, the limit itself is not."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               None if exc is None else ctypes.py_object(exc))


class StudentCall(threading.Thread):
    """fn() with the caller's grad mode and context variables (a notebook's output goes to its cell); `value` or
    `error` (any BaseException: SystemExit too) once it has finished."""

    def __init__(self, fn):
        super().__init__(name="student code", daemon=True)  # a daemon: one left behind never holds up the exit
        self.fn, self.value, self.error = fn, None, None
        self.context, self.grad = contextvars.copy_context(), torch.is_grad_enabled()
        self.lock, self.done, self.finished = threading.Lock(), False, threading.Event()

    def run(self):
        try:
            with torch.set_grad_enabled(self.grad):
                self.value = self.context.run(self.fn)
        except BaseException as e:  # every way out; the checker names it
            self.error = e
        try:
            for _ in range(3):  # a stop sent as the code returned may still be pending: it ends here, not in threading
                try:
                    with self.lock:
                        self.done = True  # no stop is sent after this
                    raise_in(self.ident, None)
                    break
                except BaseException:
                    pass
        except BaseException:  # one more, at the loop's own jump: never into threading's code
            pass
        finally:
            self.finished.set()

    def finish(self, seconds: float, grace: float = 0.25) -> tuple[bool, bool]:
        """Start and wait up to `seconds`: (finished, still running). Code that ran out of time is sent StudentTimeout
        for up to `grace` seconds; the user's Ctrl-C while waiting stops it too, and is raised as before. (An Event,
        not join: an interrupted join marks a running thread as ended.)"""
        self.start()
        try:
            if self.finished.wait(seconds):
                return True, False
        except KeyboardInterrupt:
            self.stop(KeyboardInterrupt, grace)
            raise
        return False, not self.stop(StudentTimeout, grace)

    def stop(self, exc: type[BaseException], grace: float) -> bool:
        """Raise `exc` in the code until it ends, for at most `grace` seconds; True when it ended."""
        deadline = time.monotonic() + grace
        while not self.finished.is_set() and time.monotonic() < deadline:
            with self.lock:
                if not self.done:
                    raise_in(self.ident, exc)
            self.finished.wait(0.01)
        return self.finished.is_set()
