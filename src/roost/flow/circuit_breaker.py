"""Circuit breakers per dependency target, and boards that tell a sick target
from a sick fleet.

A ``CircuitBreaker`` guards one target (a destination ARN, a worker host, an
event source endpoint): ``CLOSED`` lets calls through and counts their outcomes
in a sliding window; enough failures (a failure rate over the window, or a run
of consecutive failures) move it to ``OPEN``, which refuses calls for a
cool-down; then ``HALF_OPEN`` lets one probe through: its success closes the
breaker, its failure opens it again with a doubled cool-down.

A ``BreakerBoard`` holds the breakers of one dependency kind. Its rule, from
the talk's "Operational Resilience": errors concentrated on one target open
that target's breaker, but errors spread across most of the fleet point at
something the targets share (the network, the endpoint, the store), so evicting
each target would turn a shared outage into a total one. When more than
``fleet_fraction`` of the active targets look sick at once the board is
*fleet-degraded*: it opens no breaker (and closes those opened during the
window that led there), and every caller backs off uniformly: one fleet probe
per backoff interval, the interval doubling while probes fail. The first
success of a target the fault had hit ends it.

Pure logic, no I/O, clock injected: callers report outcomes with
``record_success`` / ``record_failure`` and ask ``admit`` before calling.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# The dependency kinds Roost guards, one board each.
DESTINATION_BREAKERS = "destination"
"""Async and stream destinations and dead-letter targets, by ARN."""
HOST_BREAKERS = "worker_host"
"""Worker hosts, by host id: environments that fail to start through Roost's fault."""
SOURCE_BREAKERS = "event_source"
"""Event source endpoints polled by mappings (a queue URL, a stream ARN)."""


class BreakerState(enum.Enum):
    """A breaker's state; the value is the ``/metrics`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class InvalidBreakerTransition(Exception):
    """A move between breaker states that the state machine does not allow."""


_MOVES: dict[BreakerState, frozenset[BreakerState]] = {
    BreakerState.CLOSED: frozenset({BreakerState.OPEN}),
    BreakerState.OPEN: frozenset({BreakerState.HALF_OPEN, BreakerState.CLOSED}),
    BreakerState.HALF_OPEN: frozenset({BreakerState.CLOSED, BreakerState.OPEN}),
}


@dataclass(frozen=True)
class BreakerSettings:
    """Knobs of the breakers of one board (see ``docs/resilience.md``)."""

    window_s: float = 30.0
    """Outcomes older than this are forgotten."""
    min_calls: int = 5
    """Calls in the window before the failure rate may trip a breaker."""
    failure_rate: float = 0.5
    """Share of failed calls in the window that trips (and marks a target sick)."""
    consecutive_failures: int = 5
    """A run of failures that trips whatever the window says."""
    cool_down_s: float = 5.0
    """How long a freshly opened breaker refuses calls before a probe."""
    max_cool_down_s: float = 60.0
    """The cool-down doubles with each failed probe, up to this."""
    fleet_fraction: float = 0.5
    """More than this share of active targets sick at once is a fleet-wide fault."""
    min_fleet_targets: int = 2
    """...provided at least this many are sick: one target alone is just sick."""
    active_s: float = 300.0
    """A target counts in the fleet for this long after its last call."""
    fleet_backoff_s: float = 1.0
    """Pause between fleet probes when the fleet-wide fault is first seen."""
    max_fleet_backoff_s: float = 30.0
    """The fleet pause doubles with each failed fleet probe, up to this."""

    def __post_init__(self) -> None:
        # Out-of-range knobs would make a breaker that never trips or never
        # closes; refuse them when the node starts rather than misbehave later.
        checks = (
            (self.window_s > 0, "window_s must be > 0"),
            (self.min_calls >= 1, "min_calls must be >= 1"),
            (0 < self.failure_rate <= 1, "failure_rate must be in (0, 1]"),
            (self.consecutive_failures >= 1, "consecutive_failures must be >= 1"),
            (0 < self.cool_down_s <= self.max_cool_down_s, "need 0 < cool_down_s <= max"),
            (0 <= self.fleet_fraction < 1, "fleet_fraction must be in [0, 1)"),
            (self.min_fleet_targets >= 1, "min_fleet_targets must be >= 1"),
            (self.active_s > 0, "active_s must be > 0"),
            (
                0 < self.fleet_backoff_s <= self.max_fleet_backoff_s,
                "need 0 < fleet_backoff_s <= max_fleet_backoff_s",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"breaker settings: {message}")


@dataclass(frozen=True)
class Admission:
    """Whether a call to a target may go ahead now.

    ``probe``: the call tests a half-open breaker or a fleet-wide fault, so its
    outcome decides what happens next. ``retry_after_s``: when refused, how long
    until asking again is worth it. ``reason``: ``closed``, ``probe``, ``open``
    or ``fleet``.
    """

    allowed: bool
    probe: bool = False
    retry_after_s: float = 0.0
    reason: str = "closed"


class CircuitBreaker:
    """The breaker of one target; ``BreakerBoard`` drives it."""

    def __init__(self, settings: BreakerSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._consecutive = 0
        # The last outcome outlives the window: a target whose last call failed
        # is not known to be well, however long ago that was.
        self._last_ok: bool | None = None
        self._cool_down_s = settings.cool_down_s
        self._opened_at = 0.0
        self._probe_at: float | None = None
        self.last_call_at = clock()

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose cool-down ended reads half-open)."""
        if self._state is BreakerState.OPEN and self._cool_down_left() <= 0:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def opened_at(self) -> float:
        """Clock reading of the last move to ``OPEN``."""
        return self._opened_at

    def _move(self, new: BreakerState) -> None:
        if new not in _MOVES[self._state]:
            raise InvalidBreakerTransition(f"{self._state.name} -> {new.name}")
        self._state = new

    def _cool_down_left(self) -> float:
        return self._opened_at + self._cool_down_s - self._clock()

    def admit(self) -> Admission:
        """May a call go now? In half-open, one probe at a time (a probe whose
        caller never reported is replaced after a cool-down)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Admission(True)
        if state is BreakerState.OPEN:
            return Admission(False, retry_after_s=self._cool_down_left(), reason="open")
        now = self._clock()
        if self._probe_at is not None and now - self._probe_at < self._settings.cool_down_s:
            return Admission(False, retry_after_s=self._settings.cool_down_s, reason="open")
        self._probe_at = now
        return Admission(True, probe=True, reason="probe")

    def record(self, ok: bool) -> None:
        """Count one call's outcome in the window."""
        now = self._clock()
        self.last_call_at = now
        self._outcomes.append((now, ok))
        self._last_ok = ok
        self._consecutive = 0 if ok else self._consecutive + 1
        self._trim(now)

    def _trim(self, now: float) -> None:
        horizon = now - self._settings.window_s
        while self._outcomes and self._outcomes[0][0] < horizon:
            self._outcomes.popleft()

    def failure_rate(self) -> tuple[int, float]:
        """Calls in the window and the share of them that failed."""
        self._trim(self._clock())
        calls = len(self._outcomes)
        if calls == 0:
            return 0, 0.0
        return calls, sum(1 for _, ok in self._outcomes if not ok) / calls

    def looks_sick(self) -> bool:
        """Open or probing, its last call failed, or failing at the tripping rate
        (on any number of calls)."""
        if self.state is not BreakerState.CLOSED or self._last_ok is False:
            return True
        calls, rate = self.failure_rate()
        return calls > 0 and rate >= self._settings.failure_rate

    def should_trip(self) -> bool:
        """Whether the window (or the run of failures) says this target is sick."""
        if self._consecutive >= self._settings.consecutive_failures:
            return True
        calls, rate = self.failure_rate()
        return calls >= self._settings.min_calls and rate >= self._settings.failure_rate

    def trip(self) -> None:
        """Open: from closed with the base cool-down, from half-open with it doubled."""
        if self._state is BreakerState.HALF_OPEN:
            self._cool_down_s = min(self._settings.max_cool_down_s, self._cool_down_s * 2)
        else:
            self._cool_down_s = self._settings.cool_down_s
        self._move(BreakerState.OPEN)
        self._opened_at = self._clock()
        self._probe_at = None

    def close(self) -> None:
        """Close and start counting afresh (a probe succeeded, or a fleet fault ended)."""
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)
        self.clear()

    def clear(self) -> None:
        """Forget the window's outcomes (the failures they show are explained)."""
        self._outcomes.clear()
        self._consecutive = 0
        self._last_ok = None
        self._probe_at = None
        self._cool_down_s = self._settings.cool_down_s


class BreakerBoard:
    """The breakers of one dependency kind, with the fleet-wide rule.

    Not thread-safe: use it from one event loop (every caller in Roost does).
    """

    def __init__(
        self,
        kind: str,
        settings: BreakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self.opens_total = 0
        self._fleet_degraded = False
        self._fleet_backoff_s = self.settings.fleet_backoff_s
        self._next_fleet_probe_at = 0.0
        self._fleet_probe_out = False

    @property
    def fleet_degraded(self) -> bool:
        """Whether a fleet-wide fault is being waited out."""
        return self._fleet_degraded

    def breaker(self, target: str) -> CircuitBreaker:
        """The breaker of ``target`` (created closed on first sight)."""
        breaker = self._breakers.get(target)
        if breaker is None:
            breaker = CircuitBreaker(self.settings, self._clock)
            self._breakers[target] = breaker
        return breaker

    def register(self, targets: Iterable[str]) -> None:
        """Make ``targets`` known (and active) before any call: a fleet of hosts."""
        for target in targets:
            self.breaker(target).last_call_at = self._clock()

    def state(self, target: str) -> BreakerState:
        """The state of ``target``'s breaker (``CLOSED`` if never seen)."""
        breaker = self._breakers.get(target)
        return breaker.state if breaker is not None else BreakerState.CLOSED

    def states(self) -> dict[str, BreakerState]:
        """Every known target's state, for ``/metrics``."""
        return {target: breaker.state for target, breaker in sorted(self._breakers.items())}

    def admit(self, target: str) -> Admission:
        """May a call to ``target`` go now? A target's own open breaker refuses
        first; while fleet-degraded, one fleet probe per backoff interval."""
        own = self.breaker(target).admit()
        if not own.allowed or not self._fleet_degraded:
            return own
        now = self._clock()
        if now < self._next_fleet_probe_at:
            return Admission(False, retry_after_s=self._next_fleet_probe_at - now, reason="fleet")
        self._next_fleet_probe_at = now + self._fleet_backoff_s
        self._fleet_probe_out = True
        return Admission(True, probe=True, reason="fleet")

    def usable(self, targets: Iterable[str]) -> list[str]:
        """The targets worth choosing among (placement): those whose breaker is
        not open; all of them when fleet-degraded or when every one is open,
        since a sick target beats no target."""
        candidates = list(targets)
        if self._fleet_degraded:
            return candidates
        healthy = [t for t in candidates if self.state(t) is not BreakerState.OPEN]
        return healthy or candidates

    def record_success(self, target: str) -> None:
        """A call to ``target`` worked."""
        breaker = self.breaker(target)
        was_sick = breaker.looks_sick()
        breaker.record(True)
        if breaker.state is BreakerState.HALF_OPEN:
            breaker.close()
        if self._fleet_degraded and was_sick:
            self._end_fleet_fault()

    def record_failure(self, target: str) -> None:
        """A call to ``target`` failed in a way that is the target's (or the fleet's) fault."""
        breaker = self.breaker(target)
        breaker.record(False)
        if breaker.state is BreakerState.HALF_OPEN:
            breaker.trip()  # The probe failed: sick on its own, fleet or not.
            self.opens_total += 1
            return
        if self._fleet_wide():
            self._note_fleet_fault()
            return
        if self._fleet_degraded:
            self._end_fleet_fault()  # Most of the fleet is well again; judge targets alone.
        if breaker.state is BreakerState.CLOSED and breaker.should_trip():
            breaker.trip()
            self.opens_total += 1

    def forget(self, target: str) -> None:
        """Drop ``target``'s breaker (a host that left the fleet)."""
        self._breakers.pop(target, None)

    def _fleet_wide(self) -> bool:
        now = self._clock()
        active = [
            b
            for b in self._breakers.values()
            if now - b.last_call_at <= self.settings.active_s or b.state is not BreakerState.CLOSED
        ]
        if not active:
            return False
        sick = sum(1 for b in active if b.looks_sick())
        if sick < self.settings.min_fleet_targets:
            return False
        return sick / len(active) > self.settings.fleet_fraction

    def _note_fleet_fault(self) -> None:
        now = self._clock()
        if not self._fleet_degraded:
            self._fleet_degraded = True
            self._fleet_backoff_s = self.settings.fleet_backoff_s
            self._next_fleet_probe_at = now + self._fleet_backoff_s
            # Breakers the shared fault opened before it was recognised are
            # victims of it, not sick targets: let them back in.
            for breaker in self._breakers.values():
                if breaker.state is not BreakerState.CLOSED and (
                    now - breaker.opened_at <= self.settings.window_s
                ):
                    breaker.close()
            return
        if not self._fleet_probe_out:
            return  # A call begun before the fault was seen: no news.
        # A failed fleet probe: wait longer before the next.
        self._fleet_probe_out = False
        self._fleet_backoff_s = min(self.settings.max_fleet_backoff_s, self._fleet_backoff_s * 2)
        self._next_fleet_probe_at = now + self._fleet_backoff_s

    def _end_fleet_fault(self) -> None:
        self._fleet_degraded = False
        self._fleet_backoff_s = self.settings.fleet_backoff_s
        self._next_fleet_probe_at = 0.0
        self._fleet_probe_out = False
        # The failures in the windows were the shared fault's: judge each target afresh.
        for breaker in self._breakers.values():
            if breaker.state is BreakerState.CLOSED:
                breaker.clear()


class BreakerBoards:
    """The node's boards, one per dependency kind, for wiring and ``/metrics``."""

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings or BreakerSettings()
        self._clock = clock
        self._boards: dict[str, BreakerBoard] = {}

    def board(self, kind: str, settings: BreakerSettings | None = None) -> BreakerBoard:
        """The board of ``kind`` (created on first use, with ``settings`` if given)."""
        board = self._boards.get(kind)
        if board is None:
            board = BreakerBoard(kind, settings or self._settings, self._clock)
            self._boards[kind] = board
        return board

    def all(self) -> list[BreakerBoard]:
        """Every board, by kind."""
        return [self._boards[kind] for kind in sorted(self._boards)]
