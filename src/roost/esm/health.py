"""The health checker: what the autoscaler and the load shedder decide from.

Per mapping, ``MappingHealth`` counts what happened since the autoscaler last
looked (a window): polls (empty, or full: the source had more than asked for,
a backlog), batches, records, and invokes that failed, were throttled or could
not run. Per poller, ``PollerHealth`` measures how late the event loop runs
(a loop that wakes late is a poller running hot) and how many batches are in
flight across every mapping the poller runs.

Plain counters updated on the event loop; nothing here touches a store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from roost.cancellation import cancel_and_wait
from roost.esm.orchestrator import BatchOutcome, BatchVerdict

LAG_PROBE_INTERVAL_S = 0.25
# Weight of the newest lag sample in the moving average.
LAG_SMOOTHING = 0.3


@dataclass
class WindowStats:
    """Counts of one window of a mapping's work."""

    polls: int = 0
    empty_polls: int = 0
    full_polls: int = 0
    batches: int = 0
    records: int = 0
    function_errors: int = 0
    throttles: int = 0
    system_errors: int = 0
    started_at_s: float = 0.0

    @property
    def invokes(self) -> int:
        """Invokes attempted in the window."""
        return self.batches

    @property
    def throttle_rate(self) -> float:
        """Share of invokes throttled (0 without invokes)."""
        return self.throttles / self.batches if self.batches else 0.0

    @property
    def error_rate(self) -> float:
        """Share of invokes that failed for any reason (0 without invokes)."""
        failed = self.function_errors + self.throttles + self.system_errors
        return failed / self.batches if self.batches else 0.0

    @property
    def idle(self) -> bool:
        """Every poll of the window came back empty (at least one poll happened)."""
        return self.polls > 0 and self.empty_polls == self.polls

    @property
    def backlogged(self) -> bool:
        """Most polls found more records than they asked for."""
        return self.polls > 0 and self.full_polls * 2 >= self.polls


class MappingHealth:
    """Counters of one mapping, rolled over by the autoscaler."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._window = WindowStats(started_at_s=clock())
        self.in_flight = 0
        self.last_verdict: BatchVerdict | None = None

    def polled(self, asked: int, got: int) -> None:
        """A read from the source asked for ``asked`` records and got ``got``."""
        self._window.polls += 1
        if got == 0:
            self._window.empty_polls += 1
        elif got >= asked:
            self._window.full_polls += 1

    def invoked(self, size: int, outcome: BatchOutcome) -> None:
        """An invoke of ``size`` records ended with ``outcome``."""
        window = self._window
        window.batches += 1
        window.records += size
        self.last_verdict = outcome.verdict
        if outcome.verdict is BatchVerdict.FUNCTION_ERROR:
            window.function_errors += 1
        elif outcome.verdict is BatchVerdict.THROTTLED:
            window.throttles += 1
        elif outcome.verdict in (BatchVerdict.SYSTEM_ERROR, BatchVerdict.FUNCTION_GONE):
            window.system_errors += 1

    def window(self) -> WindowStats:
        """The current window (live: do not keep it)."""
        return self._window

    def roll(self) -> WindowStats:
        """End the window: return it and start a new one."""
        ended, self._window = self._window, WindowStats(started_at_s=self._clock())
        return ended


class PollerHealth:
    """The poller as a whole: event-loop lag and batches in flight."""

    def __init__(self, hot_lag_s: float = 0.5) -> None:
        self.hot_lag_s = hot_lag_s
        self.lag_s = 0.0
        self._mappings: dict[str, MappingHealth] = {}
        self._task: asyncio.Task[None] | None = None

    def track(self, uuid: str, health: MappingHealth) -> None:
        """Count ``health``'s batches in the poller's total."""
        self._mappings[uuid] = health

    def untrack(self, uuid: str) -> None:
        """The poller no longer runs the mapping."""
        self._mappings.pop(uuid, None)

    @property
    def in_flight(self) -> int:
        """Batches being invoked now, over every mapping of the poller."""
        return sum(health.in_flight for health in self._mappings.values())

    @property
    def running_hot(self) -> bool:
        """The event loop wakes late: work competes for the poller's CPU."""
        return self.lag_s > self.hot_lag_s

    def sample_lag(self, late_s: float) -> None:
        """One measurement of how late a timer fired."""
        self.lag_s = (1 - LAG_SMOOTHING) * self.lag_s + LAG_SMOOTHING * max(0.0, late_s)

    def start(self, interval_s: float = LAG_PROBE_INTERVAL_S) -> None:
        """Probe the loop's lag in the background."""
        self._task = asyncio.get_running_loop().create_task(self._probe(interval_s))

    async def _probe(self, interval_s: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(interval_s)
            self.sample_lag(loop.time() - before - interval_s)

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
