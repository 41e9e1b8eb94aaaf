"""Ctrl-C (SIGINT) and SIGTERM: cancel the Spark job, let the job clean up, say what is left.

While a job runs, :func:`trapped` replaces the handlers (PySpark's own SIGINT handler among
them): the first signal cancels every Spark job and raises :class:`Stop` in the main thread. Stop is
a ``BaseException``, like ``KeyboardInterrupt``, so no ``except Exception`` below (botocore, py4j,
our own error mapping) can take it for an ordinary failure; the job's clean-up turns it into
:class:`~ddbpipe.errors.Interrupted`, whose message says what was cleaned and what remains.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager, suppress
from typing import Any, Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the signals received inside trapped(), first first


class Stop(BaseException):
    """A signal asked the run to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def check() -> None:
    """Raise :class:`Stop` when a signal came: a failure seen after it (a JVM that went down with
    the same Ctrl-C, a cancelled job) is its consequence, not the cause to report."""
    if _received:
        raise Stop(_received[0])


def _quietly(cancel: Callable[[], None]) -> None:
    with suppress(Exception):  # the JVM may be going down with the same Ctrl-C
        cancel()


@contextmanager
def trapped(cancel: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM call ``cancel`` and raise :class:`Stop`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        _received.append(signum)
        # The main thread may be inside a py4j call on its own connection: cancel from another
        # thread (its own connection), and do not wait for it.
        threading.Thread(target=_quietly, args=(cancel,), name="ddbpipe-cancel",
                         daemon=True).start()
        raise Stop(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    _received.clear()
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
