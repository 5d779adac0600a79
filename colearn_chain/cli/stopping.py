"""SIGINT and SIGTERM as a request to stop ``run`` between two rounds, not a crash inside one."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by the first SIGINT/SIGTERM; the experiment asks it before each round."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + (self.signal or 0)


@contextmanager
def stop_between_rounds(announce: Callable[[str], None]) -> Iterator[StopRequest]:
    """While inside, the first SIGINT/SIGTERM asks to stop after the round in progress; a second stops at once.

    ``announce`` tells the user what will happen. Outside the main thread (where Python cannot
    handle signals) the request is never set and signals keep their usual effect.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if request.signal is not None:
            raise KeyboardInterrupt  # asked twice: stop now, inside the round
        request.signal = signum
        announce(f"{signal.Signals(signum).name}: stopping after this round (send it again to stop at once)")

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
