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

Every failure is also counted, by the loop's kind, in a ``LoopFailures`` tally
(the process's own, ``FAILURES``, unless a guard is given another), which
``/metrics`` shows as ``roost_loop_failures_total``: a log line is easy to miss,
a counter that moves can be alerted on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Iterator

log = logging.getLogger(__name__)


class LoopFailures:
    """Unexpected failures of forever loops since the process started, by loop kind.

    A tally rather than a sum over live guards, so that the count never goes
    down when a loop ends (a poller's queue loop does when its lease moves on).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, kind: str) -> None:
        """One more failure of a loop of ``kind``."""
        with self._lock:
            self._counts[kind] += 1

    def by_kind(self) -> dict[str, int]:
        """Failures so far, by loop kind."""
        with self._lock:
            return dict(self._counts)


# The process's tally: every guard counts here unless given another.
FAILURES = LoopFailures()


class LoopGuard:
    """Logs and survives unexpected errors of one loop's turns (``with guard.turn():``).

    ``what`` names this loop in the log; ``kind`` (default: ``what``) is its
    label in the tally, the same for every loop of a kind (a name without ids).
    """

    def __init__(
        self,
        what: str,
        logger: logging.Logger = log,
        *,
        kind: str | None = None,
        tally: LoopFailures = FAILURES,
    ) -> None:
        self.what = what
        self.kind = kind or what
        self._log = logger
        self._tally = tally
        self._last: tuple[type[BaseException], str] | None = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """One turn of the loop: an ``Exception`` in it is logged, not raised."""
        try:
            yield
        except Exception as error:
            self.failed(error)
        else:
            self.succeeded()

    def succeeded(self) -> None:
        """A turn went well: the next failure is new, whatever it is."""
        self._last = None

    def failed(self, error: BaseException) -> None:
        """Count and log one unexpected failure: its traceback only if it differs
        from the last one (for loops whose failures surface outside ``turn``)."""
        self._tally.record(self.kind)
        key = (type(error), str(error))
        if key == self._last:
            self._log.error("%s failed again: %r (going on)", self.what, error)
        else:
            self._log.error("%s failed unexpectedly (going on)", self.what, exc_info=error)
        self._last = key
