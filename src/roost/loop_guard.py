"""``LoopGuard``: keeps a node's forever loops alive through their own bugs.

Roost's background loops (directory refresh, heartbeats, the drain governor,
supervisors, reapers) must run for as long as the node does: one that dies
leaves work undone while the node looks healthy, and often while it holds a
lease nobody else may take. Each loop handles the failures it expects (a store
outage) itself; around its body a ``LoopGuard`` catches what nobody expected,
logs it with its traceback and lets the loop go on at its next turn (its own
pause keeps a lasting fault from spinning). Cancellation passes through.

A fault that repeats every turn would print the same traceback twice a second:
the guard logs the traceback when an error is new (different from the last
turn's) and a one-line error while the same one repeats.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


class LoopGuard:
    """Logs and survives unexpected errors of one loop's turns (``with guard.turn():``)."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self.what = what
        self._log = logger
        # Turns that raised unexpectedly since start (for tests and /metrics).
        self.failures = 0
        self._last: tuple[type[BaseException], str] | None = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """One turn of the loop: an ``Exception`` in it is logged, not raised."""
        try:
            yield
        except Exception as error:
            self.failures += 1
            key = (type(error), str(error))
            if key == self._last:
                self._log.error("%s failed again: %r (going on)", self.what, error)
            else:
                self._log.exception("%s failed unexpectedly (going on)", self.what)
            self._last = key
        else:
            self._last = None
