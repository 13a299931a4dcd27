"""``PollGuard``: what a mapping's reader asks before each poll of its event source.

Two layers meet here. Backpressure (``flow.backpressure``): while the worker
host is elevated or critical, each poll waits ``HostPressure.pause_s`` first,
so the source is polled less often. Circuit breakers (``flow.circuit_breaker``,
board ``event_source``, keyed by the endpoint: queue ARN, stream ARN, or
``kafka://`` bootstrap servers): every poll's outcome is reported, and an open
breaker makes the reader pause that endpoint until its half-open probe, while
a fleet-wide fault (every mapping's endpoint failing: the AWS endpoint down)
backs every reader off uniformly without opening anyone's breaker.
"""

from __future__ import annotations

import asyncio

from roost.flow.backpressure import ESM_POLL, HostPressure
from roost.flow.circuit_breaker import BreakerBoard

# Shortest pause when a breaker refuses (its retry-after may round to 0).
MIN_REFUSED_WAIT_S = 0.05


class PollGuard:
    """Paces and guards the polls of one mapping's endpoint (one per reader)."""

    def __init__(
        self,
        endpoint: str,
        breakers: BreakerBoard | None = None,
        pressure: HostPressure | None = None,
        consumer: str = ESM_POLL,
        max_wait_s: float = 1.0,
    ) -> None:
        """``max_wait_s``: the longest single pause while refused (the reader asks
        again after it, so it can report progress and notice ``stop``)."""
        self.endpoint = endpoint
        self._breakers = breakers
        self._pressure = pressure
        self._consumer = consumer
        self._max_wait_s = max_wait_s

    async def admit(self) -> bool:
        """Wait out the host's pause; True to poll now, False (after a short wait)
        while the endpoint's breaker or the fleet's backoff refuses."""
        pressure = self._pressure
        if pressure is not None:
            pause_s = pressure.pause_s()
            if pause_s > 0:
                pressure.defer(self._consumer)
                await asyncio.sleep(pause_s)
        if self._breakers is None:
            return True
        admission = self._breakers.admit(self.endpoint)
        if admission.allowed:
            return True
        await asyncio.sleep(max(MIN_REFUSED_WAIT_S, min(admission.retry_after_s, self._max_wait_s)))
        return False

    def succeeded(self) -> None:
        """A poll reached the endpoint (empty or throttled polls count)."""
        if self._breakers is not None:
            self._breakers.record_success(self.endpoint)

    def failed(self) -> None:
        """A poll failed (the endpoint, the queue or the network)."""
        if self._breakers is not None:
            self._breakers.record_failure(self.endpoint)
