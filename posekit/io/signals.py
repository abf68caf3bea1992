"""Stopping on SIGTERM and SIGHUP the way Ctrl-C stops: finalize the outputs, then exit.

A process stopped by ``kill`` (SIGTERM), by closing its terminal (SIGHUP) or by Ctrl-C
(SIGINT) raises :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so every
``try/finally`` and ``except KeyboardInterrupt`` that already finalizes files on Ctrl-C (the
pipeline closes its sinks: the MP4 gets its last fragment and index, JSON Lines and CSV end on a
whole line) does the same for the other two. The exit code follows the shell's convention,
128 + the signal number: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).

Only the first signal interrupts. Later ones, while the files are being finalized, are counted
and otherwise ignored so that they cannot cut the finalization short; ``kill -9`` (which no
process can catch) still stops at once, and the fragmented MP4 written by
:class:`posekit.io.VideoSink` keeps everything up to its last fragment.

A signal that was ignored when the context was entered (``nohup`` ignores SIGHUP, a shell's
background job ignores SIGINT) stays ignored.

Usage::

    with stop_on_signals() as stop:
        try:
            posekit.run(...)
        except Interrupted as e:
            sys.exit(e.exit_code)
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: The signals handled by default, and their exit codes (128 + the signal number).
STOP_SIGNALS: tuple[int, ...] = tuple(
    s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                getattr(signal, "SIGHUP", None)) if s is not None)


def exit_code(signum: int) -> int:
    """The shell's exit code for a process stopped by ``signum``: 128 + the signal number
    (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, and so on (``"signal N"`` when unknown)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by the first stop signal.

    Attributes:
        signum: the signal number (``signal.SIGTERM``...).
        exit_code: 128 + ``signum``.
    """

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = int(signum)
        self.exit_code = exit_code(signum)


@dataclass
class StopState:
    """What :func:`stop_on_signals` saw: ``signum`` of the first stop signal (None while none
    came) and ``count`` of all the stop signals received."""

    signum: int | None = None
    count: int = 0

    @property
    def exit_code(self) -> int | None:
        """128 + ``signum``, or None when no signal came."""
        return None if self.signum is None else exit_code(self.signum)


@contextmanager
def stop_on_signals(signals: Iterable[int] = STOP_SIGNALS) -> Iterator[StopState]:
    """Within the block, the first of ``signals`` raises :class:`Interrupted` in the main
    thread; the previous handlers are restored on exit.

    Outside the main thread (where Python cannot install handlers) the block runs unchanged and
    the returned state never changes.

    Yields:
        a :class:`StopState`, updated as signals arrive.
    """
    state = StopState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous: dict[int, object] = {}

    def handler(signum, _frame):
        state.count += 1
        if state.signum is None:
            state.signum = signum
            raise Interrupted(signum)
        _say(f"{signal_name(signum)}: already stopping, finishing the output files "
             "(kill -9 stops at once)")

    try:
        for s in signals:
            old = signal.getsignal(s)
            if old is signal.SIG_IGN:
                continue
            previous[s] = old
            signal.signal(s, handler)
        yield state
    finally:
        for s, old in previous.items():
            try:
                signal.signal(s, old if old is not None else signal.SIG_DFL)
            except (ValueError, OSError, TypeError):  # pragma: no cover - interpreter exit
                pass


def _say(msg: str) -> None:
    """One line on stderr from a signal handler; silent when stderr is gone (SIGHUP)."""
    try:
        os.write(2, (msg + "\n").encode("utf-8", "replace"))
    except OSError:
        pass
