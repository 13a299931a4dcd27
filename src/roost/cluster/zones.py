"""``ZoneHealth``: the talk's availability-zone story for Roost's zones.

Every worker host carries a zone label. A frontend watches the heartbeats of
each zone's hosts and moves the zone through four states:

    HEALTHY -> SUSPECT -> EVACUATED -> OBSERVING -> HEALTHY
                  |                         |
                  +-> HEALTHY               +-> EVACUATED

* **Detection, on strong evidence only.** A host is *missing* once its last
  heartbeat is older than ``missing_after_s``. A zone becomes SUSPECT when at
  least ``unhealthy_fraction`` of its hosts are missing, and is EVACUATED only
  if that still holds ``confirm_s`` later. One slow host never moves a zone,
  and a zone is never evacuated if no other zone would be left healthy: when
  every zone looks down at once, the observer (its link to the store) is the
  likelier fault, the same rule the circuit breakers apply to a fleet.
* **Evacuation.** New environments are placed only in zones whose placement
  weight is above zero, so an evacuated zone gets no invokes; the pollers'
  leases held by its nodes lapse (no renewals) and are taken by the others.
* **Observation and move-back.** When the zone's hosts heartbeat again it is
  OBSERVING for ``observe_s``: its weight ramps from 0 to 1, so load returns to
  it gradually, and a relapse sends it straight back to EVACUATED.
"""

from __future__ import annotations

import enum
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from roost.cluster.worker_registry import WorkerRecord


class ZoneState(enum.StrEnum):
    """Where a zone is in detection, evacuation and observation."""

    HEALTHY = "healthy"
    SUSPECT = "suspect"
    EVACUATED = "evacuated"
    OBSERVING = "observing"


@dataclass(frozen=True)
class ZoneSettings:
    """How zone health is judged (``ROOST_ZONE_*`` knobs)."""

    # A host whose last heartbeat is older than this is missing.
    missing_after_s: float = 3.0
    # A zone with at least this share of its hosts missing is suspect...
    unhealthy_fraction: float = 0.5
    # ...and evacuated if it still is this much later.
    confirm_s: float = 2.0
    # After its hosts are back, the zone's weight ramps up over this long.
    observe_s: float = 10.0
    # Records of hosts missing for this long are forgotten.
    forget_after_s: float = 600.0

    def __post_init__(self) -> None:
        if not 0 < self.unhealthy_fraction <= 1:
            raise ValueError("unhealthy_fraction must be in (0, 1]")
        if min(self.missing_after_s, self.confirm_s, self.observe_s) < 0:
            raise ValueError("zone timings must not be negative")


@dataclass
class _Zone:
    state: ZoneState = ZoneState.HEALTHY
    # When the current state began (seconds of the clock).
    since_s: float = 0.0
    hosts: int = 0
    missing: int = 0


@dataclass(frozen=True)
class ZoneView:
    """One zone as ``/metrics`` and the CLI show it."""

    zone: str
    state: ZoneState
    hosts: int
    missing: int
    weight: float


class ZoneHealth:
    """Zone states from successive views of the worker records."""

    def __init__(
        self, settings: ZoneSettings | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings or ZoneSettings()
        self._clock = clock
        self._zones: dict[str, _Zone] = {}
        # Evacuations and returns since start, for /metrics.
        self.evacuations = 0
        self.returns = 0

    def missing(self, record: WorkerRecord, now_s: float | None = None) -> bool:
        """Whether the host's heartbeat is too old."""
        now_s = self._clock() if now_s is None else now_s
        return now_s - record.heartbeat_ms / 1000 > self.settings.missing_after_s

    def observe(self, records: Iterable[WorkerRecord]) -> None:
        """Take a new view of every host's record and move zones accordingly."""
        now_s = self._clock()
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for record in records:
            counts[record.zone][0] += 1
            counts[record.zone][1] += self.missing(record, now_s)
        for name, (hosts, missing) in counts.items():
            zone = self._zones.setdefault(name, _Zone(since_s=now_s))
            zone.hosts, zone.missing = hosts, missing
        for name in set(self._zones) - set(counts):
            del self._zones[name]  # Every host of it left cleanly.
        for name, zone in sorted(self._zones.items()):
            self._step(name, zone, now_s)

    def _unhealthy(self, zone: _Zone) -> bool:
        return zone.hosts > 0 and zone.missing >= zone.hosts * self.settings.unhealthy_fraction

    def _others_healthy(self, name: str) -> bool:
        return any(
            other != name and not self._unhealthy(zone) and zone.state is not ZoneState.EVACUATED
            for other, zone in self._zones.items()
        )

    def _step(self, name: str, zone: _Zone, now_s: float) -> None:
        bad = self._unhealthy(zone)
        held_s = now_s - zone.since_s
        match zone.state:
            case ZoneState.HEALTHY if bad:
                self._move(zone, ZoneState.SUSPECT, now_s)
            case ZoneState.SUSPECT if not bad:
                self._move(zone, ZoneState.HEALTHY, now_s)
            case ZoneState.SUSPECT if held_s >= self.settings.confirm_s:
                if self._others_healthy(name):
                    self._move(zone, ZoneState.EVACUATED, now_s)
                    self.evacuations += 1
            case ZoneState.EVACUATED if not bad:
                self._move(zone, ZoneState.OBSERVING, now_s)
            case ZoneState.OBSERVING if bad:
                self._move(zone, ZoneState.EVACUATED, now_s)
            case ZoneState.OBSERVING if held_s >= self.settings.observe_s:
                self._move(zone, ZoneState.HEALTHY, now_s)
                self.returns += 1

    @staticmethod
    def _move(zone: _Zone, state: ZoneState, now_s: float) -> None:
        zone.state, zone.since_s = state, now_s

    def state(self, zone: str) -> ZoneState:
        """The zone's state (a zone never seen is healthy)."""
        known = self._zones.get(zone)
        return known.state if known is not None else ZoneState.HEALTHY

    def weight(self, zone: str) -> float:
        """How much new work the zone should get, 0 to 1.

        A suspect zone keeps its full weight: evidence is not yet strong enough.
        """
        known = self._zones.get(zone)
        if known is None:
            return 1.0
        if known.state is ZoneState.EVACUATED:
            return 0.0
        if known.state is ZoneState.OBSERVING:
            elapsed = self._clock() - known.since_s
            ramp = elapsed / self.settings.observe_s if self.settings.observe_s else 1.0
            return min(1.0, max(0.05, ramp))
        return 1.0

    def views(self) -> list[ZoneView]:
        """Every known zone, by name."""
        return [
            ZoneView(name, zone.state, zone.hosts, zone.missing, self.weight(name))
            for name, zone in sorted(self._zones.items())
        ]

    def forgettable(self, record: WorkerRecord) -> bool:
        """Whether a host has been missing so long its record can be deleted."""
        age_s = self._clock() - record.heartbeat_ms / 1000
        return age_s > self.settings.forget_after_s
