"""An interrupt (Ctrl-C, SIGINT) that always stops the command (docs/outputs.md, "Faults").

Python turns SIGINT into ``KeyboardInterrupt`` at the next bytecode of the main thread. Where
that bytecode runs inside a ctypes callback or a ``__del__`` (llvmlite while numba compiles a
kernel), the exception is reported as "unraisable" and dropped: the run would go on and finish as
if nobody had asked it to stop. Inside ``interruptible()`` an interrupt sticks: once SIGINT has
arrived, a timer raises ``KeyboardInterrupt`` again every ``REPEAT`` seconds until one reaches
the command's handler. The timer stands back while a ``KeyboardInterrupt`` is being handled (an
``except`` or ``finally`` that closes the results file runs undisturbed), and the unraisable
reports of a dropped ``KeyboardInterrupt`` are not printed (the next tick raises it again).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["interruptible", "REPEAT"]

# seconds between the repeated KeyboardInterrupts after a SIGINT
REPEAT = 0.05


def _handling_interrupt() -> bool:
    """True while a KeyboardInterrupt is being handled somewhere on the stack (also as the context of
    another exception raised while handling it)."""
    error = sys.exc_info()[1]
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__context__
    return False


@contextmanager
def interruptible() -> Iterator[dict]:
    """Within the block, a SIGINT raises ``KeyboardInterrupt`` and keeps raising it until it is handled.

    Yields a dict whose ``"interrupted"`` entry turns True at the first SIGINT. Outside the main
    thread, or where SIGINT is ignored (a background job of a shell), nothing changes.
    """
    state = {"interrupted": False}
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield state
        return

    def on_interrupt(signum, frame):
        state["interrupted"] = True
        signal.setitimer(signal.ITIMER_REAL, REPEAT, REPEAT)
        raise KeyboardInterrupt

    def on_tick(signum, frame):
        if not _handling_interrupt():
            raise KeyboardInterrupt

    def unraisable(report):
        if report.exc_type is not None and issubclass(report.exc_type, KeyboardInterrupt):
            return  # dropped where it was raised: the next tick raises it again
        hook(report)

    hook = sys.unraisablehook
    previous = signal.signal(signal.SIGINT, on_interrupt), signal.signal(signal.SIGALRM, on_tick)
    sys.unraisablehook = unraisable
    try:
        yield state
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGALRM, previous[1])
        sys.unraisablehook = hook
