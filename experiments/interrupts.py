"""Ctrl-C and SIGTERM stop a sweep even when their `KeyboardInterrupt` is lost.

Python raises a signal's exception wherever the main thread happens to be. When that is a
finalizer (a ``__del__`` method, a weakref callback, the garbage collector), the exception
cannot propagate: Python prints "Exception ignored in ..." and goes on, and a sweep interrupted
at that moment would run to its end and exit 0. So the handler that ``recloop`` installs
(`handling_signals`) also records the signal, and sweeps ask `check` before starting a run and
while they wait (`wait_first`): a signal whose exception was lost starts no further run and
stops a sweep on a pool at the latest a second later, the same way as one whose exception
arrived; a sweep run in-process (the serial executor) first finishes the run it is in.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

POLL_SECONDS = 1.0
"""How often a waiting sweep looks at the flag: how late a lost interrupt can be honoured."""

_signalled = False


def stop(signum: int, frame: FrameType | None) -> NoReturn:
    """The signal handler: record the signal, then raise `KeyboardInterrupt` as Ctrl-C does."""
    global _signalled
    _signalled = True
    raise KeyboardInterrupt


def check() -> None:
    """Raise `KeyboardInterrupt` if a signal arrived under `handling_signals`, even one whose
    exception was swallowed by a finalizer.
    """
    if _signalled:
        raise KeyboardInterrupt


def wait_first(futures: Iterable[Future[Any]]) -> set[Future[Any]]:
    """The futures that are done, once at least one is, checking for a signal meanwhile."""
    futures = list(futures)
    while True:
        check()
        done, _ = wait(futures, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        if done:
            return done


@contextmanager
def handling_signals() -> Iterator[None]:
    """Within, SIGINT and SIGTERM (a killed job, a closed terminal) stop a sweep like Ctrl-C,
    recorded by `stop`; the previous handlers are restored on the way out. Outside the main
    thread, where handlers cannot be set, nothing changes.
    """
    global _signalled
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _signalled = False
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        _signalled = False
