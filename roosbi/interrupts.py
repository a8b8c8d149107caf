"""Ctrl-C (SIGINT) at safe points only, around work that runs in ROOT's C++.

Python raises ``KeyboardInterrupt`` at whatever bytecode runs when SIGINT arrives. Inside cppyy
that can be in the middle of a C++ call or an attribute lookup (``ROOT.X`` goes through
``hasattr``), and cppyy then crashes while it builds its error (``SetDetailedException`` in
``meta_getattro``) or an extension module fails to import half-way. In a
:func:`deferred_interrupts` block SIGINT only records the interrupt; :func:`checkpoint` raises the
``KeyboardInterrupt`` at points where nothing is half done, and so does the end of the block.
:func:`interruptible` lets pure Python or torch code inside such a block stop at once.

Handlers are only changed in the main thread (the only one Python delivers signals to); anywhere
else the functions here do nothing, and neither do they when SIGINT is ignored or handled outside
Python.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class _State:
    depth = 0  # nesting of deferred_interrupts blocks that installed the recording handler
    previous = None  # the handler to restore when the outermost block ends
    pending = False  # an interrupt arrived and was not raised yet
    logged = False


_state = _State()


def _record(signum, frame) -> None:
    """SIGINT handler of a deferred block: note the interrupt, raise nothing."""
    _state.pending = True
    if not _state.logged:
        _state.logged = True
        log.warning("interrupt received, stopping at the next safe point")


def _can_defer() -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False
    # None: a handler installed outside Python, which signal.signal could not restore.
    return signal.getsignal(signal.SIGINT) not in (None, signal.SIG_IGN)


class DeferredInterrupts:
    """What :func:`deferred_interrupts` yields: ends the block's duty to raise."""

    def __init__(self) -> None:
        self.raise_at_exit = True

    def done(self) -> None:
        """The work is complete: an interrupt that arrives from now on is logged, not raised.

        Call it right after the last step that must not be undone (moving results into place),
        so that the block does not report, by raising, that a finished job was interrupted.
        """
        self.raise_at_exit = False


@contextmanager
def deferred_interrupts() -> Iterator[DeferredInterrupts]:
    """Hold SIGINT back until :func:`checkpoint` or the end of the block.

    Blocks nest; the outermost one installs the recording handler and restores the previous one
    at its end. An interrupt that arrived in the block and was not raised at a checkpoint is
    raised when the outermost block ends normally (an exception already on its way out wins).

    Examples
    --------
    >>> with deferred_interrupts():
    ...     for point in points:  # doctest: +SKIP
    ...         checkpoint()
    ...         nll_values.append(nll.getVal())
    """
    guard = DeferredInterrupts()
    if _state.depth == 0:
        if not _can_defer():
            yield guard
            return
        # Reset first: a SIGINT that reached the process just before is handled by whichever
        # handler is installed when Python gets to it, which may already be _record.
        _state.pending = _state.logged = False
        _state.previous = signal.signal(signal.SIGINT, _record)
    _state.depth += 1
    raised = True
    try:
        yield guard
        raised = False
    finally:
        _state.depth -= 1
        if _state.depth == 0:
            signal.signal(signal.SIGINT, _state.previous)
            pending, _state.pending, _state.logged = _state.pending, False, False
            if pending and not raised:
                if guard.raise_at_exit:
                    raise KeyboardInterrupt
                log.warning("interrupt received after the work was complete; not stopping it")


def checkpoint() -> None:
    """Raise the ``KeyboardInterrupt`` a deferred block held back, if any; else do nothing (cheap)."""
    if _state.pending:
        _state.pending = False
        raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Inside a deferred block: let Ctrl-C interrupt at once (for pure Python or torch code).

    An interrupt that was held back before is raised on entry. Outside a deferred block (or in
    another thread) this does nothing.
    """
    if _state.depth == 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    checkpoint()
    signal.signal(signal.SIGINT, _state.previous)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, _record)
