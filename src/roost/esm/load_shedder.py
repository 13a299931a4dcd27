"""The load shedder: a poller running hot takes on less, before it tips over.

The autoscaler says how many batches a mapping wants; the load shedder says
how many the poller can afford right now. It reads ``PollerHealth``: when the
event loop runs late (CPU starved) it halves every mapping's concurrency, and
a batch loop only starts reading a new batch while the poller's batches in
flight stay under its budget, so records are not pulled out of the source
(and hidden there) just to wait in memory. Shedding is the fourth layer of the
talk's stability controls: backpressure, by slowing polling down.

The worker host's pressure (``flow.backpressure``) counts too: while it is
critical every mapping runs at its minimum concurrency (the autoscaler's
floor): batches beyond a mapping's minimum are the low-priority work an ESM
poller sheds. ``pressure`` also paces each poll (``PollGuard``).
"""

from __future__ import annotations

from roost.esm.health import PollerHealth
from roost.flow.backpressure import HostPressure

MAX_IN_FLIGHT_BATCHES = 1000


class LoadShedder:
    """Caps concurrency by the poller's health; one per poller."""

    def __init__(
        self,
        health: PollerHealth,
        max_in_flight: int = MAX_IN_FLIGHT_BATCHES,
        pressure: HostPressure | None = None,
    ) -> None:
        self._health = health
        self.max_in_flight = max_in_flight
        self.pressure = pressure
        self.shed_count = 0

    def limit(self, target: int, floor: int = 1) -> int:
        """The concurrency a mapping may use now, given the autoscaler's ``target``
        and the mapping's minimum ``floor``."""
        if self.pressure is not None and self.pressure.critical and target > floor:
            return max(1, floor)
        if self._health.running_hot and target > 1:
            self.shed_count += 1
            return max(1, target // 2)
        return target

    def admit(self) -> bool:
        """Whether a batch loop may read a new batch now (else it waits a moment)."""
        return self._health.in_flight < self.max_in_flight
