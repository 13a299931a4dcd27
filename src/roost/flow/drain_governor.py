"""The drain governor: how fast the async pollers may start events, with a handshake.

After a dependency outage the async queues hold a backlog on top of the new
traffic. Draining it at full speed can tip the node over (and the outage comes
back); draining it too slowly delays every customer's recovery. The talk's
answer is a token bucket whose rate is tuned from the system's view, ramped up
gradually, and a handshake: the rate is dialled up one step at a time, and only
while the recovery stays healthy.

A node starts *open*: the rate starts at ``initial_rate_per_s``, by default
the maximum, so a healthy node drains a burst as fast as its slots and tenant
buckets allow (the bucket is there for recoveries, not to cap a healthy node).

Every interval (``interval_s``) the pollers' reports of the last interval
(``IntervalReport``: attempts, system errors and store failures, throttles,
latency, whether starts waited for a token) meet the system's view
(``SystemView``: sync invokes running, async slots in use), and the governor
decides:

- **decrease** (multiplicative, ``decrease_factor``) when the interval was
  unhealthy: the share of attempts that failed for Roost's reasons (system
  errors, store failures, account-level throttles) is above
  ``max_error_rate``, or, while recovering (the rate is below its initial
  level), their mean latency is above ``latency_factor`` times the healthy
  baseline. The cut applies to what the interval actually started when that
  is below the rate (halving a rate far above the node's pace would not slow
  anything). Latency does not count while open: a burst that a healthy node
  works through at full speed raises every attempt's latency (they queue for
  the node's cores), which is load, not distress;
- **decrease** too while the worker host reports critical pressure
  (``flow.backpressure``): when it eases, the rate ramps up from there;
- **hold** while more tokens would only queue (the async slots are nearly all
  in use; ``flow.sync_first`` already narrows them while sync invokes run, so
  sync traffic by itself does not stop a ramp), while the worker host's
  pressure is elevated and the rate is back at its normal level
  (``initial_rate_per_s``: below it, the rate an outage cut keeps ramping back,
  or a busy CPU would pin it at its floor), or when the bucket did not limit
  anything (there is nothing to ramp for, so the rate an outage cut stays cut
  until a backlog needs it);
- **increase** (additive, ``increase_per_s``) otherwise: starts waited for
  tokens and everything stayed healthy.

The rate stays within [``min_rate_per_s``, ``max_rate_per_s``]; the burst is
``burst_s`` seconds of it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from roost.flow.backpressure import PressureState
from roost.flow.token_bucket import TokenBucket
from roost.loop_guard import LoopGuard

log = logging.getLogger(__name__)

# Fewer attempts than this in an interval say nothing about latency.
MIN_LATENCY_SAMPLES = 5
# Weight of a healthy interval's mean latency in the baseline.
BASELINE_SMOOTHING = 0.2


class Decision(enum.StrEnum):
    """What the governor did to the drain rate at the end of an interval."""

    INCREASE = "increase"
    HOLD = "hold"
    DECREASE = "decrease"


@dataclass(frozen=True)
class DrainSettings:
    """Knobs of the drain governor (``ROOST_ASYNC_DRAIN_*``)."""

    enabled: bool = True
    initial_rate_per_s: float = 10000.0
    min_rate_per_s: float = 10.0
    max_rate_per_s: float = 10000.0
    increase_per_s: float = 200.0
    decrease_factor: float = 0.5
    interval_s: float = 1.0
    burst_s: float = 1.0
    max_error_rate: float = 0.1
    latency_factor: float = 3.0
    max_utilisation: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.min_rate_per_s <= self.max_rate_per_s:
            raise ValueError("need 0 < min_rate_per_s <= max_rate_per_s")
        if not 0 < self.decrease_factor < 1:
            raise ValueError(f"decrease_factor must be in (0, 1), not {self.decrease_factor}")
        if self.interval_s <= 0 or self.burst_s <= 0 or self.increase_per_s < 0:
            raise ValueError("interval_s and burst_s must be > 0, increase_per_s >= 0")

    def clamp(self, rate_per_s: float) -> float:
        """``rate_per_s`` within the bounds."""
        return min(self.max_rate_per_s, max(self.min_rate_per_s, rate_per_s))


@dataclass
class IntervalReport:
    """What the pollers saw during one interval (the handshake's report)."""

    attempts: int = 0
    errors: int = 0
    throttles: int = 0
    latency_sum_s: float = 0.0
    waited: int = 0

    @property
    def error_rate(self) -> float:
        """Share of attempts (and failed store calls) that failed for Roost's reasons."""
        return self.errors / self.attempts if self.attempts else 0.0

    @property
    def mean_latency_s(self) -> float | None:
        """Mean attempt latency; None with too few attempts to judge."""
        if self.attempts < MIN_LATENCY_SAMPLES:
            return None
        return self.latency_sum_s / self.attempts


@dataclass(frozen=True)
class Pressure:
    """The system's view: is the node busy with work that must come first?"""

    sync_busy: bool = False
    utilisation: float = 0.0
    host: PressureState = PressureState.NORMAL


class SystemView(Protocol):
    """Where the governor reads the node's pressure."""

    def pressure(self) -> Pressure:
        """The node's pressure now."""


class NoPressure:
    """A ``SystemView`` of a node that is never under pressure (tests)."""

    def pressure(self) -> Pressure:
        """Never busy."""
        return Pressure()


@dataclass
class GovernorFigures:
    """The governor's state for ``/metrics``."""

    rate_per_s: float
    tokens: float
    decisions: dict[Decision, int] = field(default_factory=dict)


class DrainGovernor:
    """The async drain bucket and the handshake that tunes it; ``start``, ``stop``."""

    def __init__(
        self,
        settings: DrainSettings,
        view: SystemView | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._view = view or NoPressure()
        rate = settings.clamp(settings.initial_rate_per_s)
        self.bucket = TokenBucket(rate, max(1.0, rate * settings.burst_s), clock)
        self._report = IntervalReport()
        self._baseline_s: float | None = None
        self.decisions: dict[Decision, int] = {decision: 0 for decision in Decision}
        self._task: asyncio.Task[None] | None = None
        self._guard = LoopGuard("async drain governor tick", log)

    @property
    def rate_per_s(self) -> float:
        """The drain rate now."""
        return self.bucket.rate_per_s

    @property
    def recovering(self) -> bool:
        """Whether an unhealthy interval cut the rate below its initial level."""
        return self.bucket.rate_per_s < self.settings.clamp(self.settings.initial_rate_per_s)

    async def take(self) -> None:
        """Wait for the drain's token to start one event (cancellable: takes nothing)."""
        if not self.settings.enabled:
            return
        if not self.bucket.try_take():
            self._report.waited += 1
            await self.bucket.take()

    def attempted(self, latency_s: float, *, error: bool = False, throttled: bool = False) -> None:
        """An attempt ended after ``latency_s``; ``error``: it failed for Roost's reasons."""
        report = self._report
        report.attempts += 1
        report.latency_sum_s += latency_s
        report.errors += int(error)
        report.throttles += int(throttled)

    def store_failed(self) -> None:
        """A store call of a poller failed: counts as a failed attempt."""
        self._report.attempts += 1
        self._report.errors += 1

    def decide(self, report: IntervalReport, pressure: Pressure) -> Decision:
        """The decision for one interval's ``report`` (pure but for the baseline)."""
        settings = self.settings
        latency = report.mean_latency_s
        slow = (
            self.recovering
            and latency is not None
            and self._baseline_s is not None
            and latency > settings.latency_factor * self._baseline_s
        )
        if report.error_rate > settings.max_error_rate or slow:
            return Decision.DECREASE
        if pressure.host is PressureState.CRITICAL:
            return Decision.DECREASE
        if latency is not None:
            base = self._baseline_s
            self._baseline_s = (
                latency if base is None else base + BASELINE_SMOOTHING * (latency - base)
            )
        if pressure.utilisation >= settings.max_utilisation:
            return Decision.HOLD
        if pressure.host is PressureState.ELEVATED and not self.recovering:
            return Decision.HOLD
        if report.waited == 0:
            return Decision.HOLD
        return Decision.INCREASE

    def tick(self) -> Decision:
        """End the interval: decide on its report, apply the decision, start a new one."""
        report, self._report = self._report, IntervalReport()
        decision = self.decide(report, self._view.pressure())
        rate = self.bucket.rate_per_s
        if decision is Decision.INCREASE:
            rate += self.settings.increase_per_s * self.settings.interval_s
        elif decision is Decision.DECREASE:
            started_per_s = report.attempts / self.settings.interval_s
            rate = min(rate, max(started_per_s, self.settings.min_rate_per_s))
            rate *= self.settings.decrease_factor
        rate = self.settings.clamp(rate)
        if rate != self.bucket.rate_per_s:
            log.log(
                logging.INFO if decision is Decision.DECREASE else logging.DEBUG,
                "async drain rate %s to %.1f/s (errors %d of %d, waited %d)",
                decision.value,
                rate,
                report.errors,
                report.attempts,
                report.waited,
            )
        self.bucket.set_rate(rate, max(1.0, rate * self.settings.burst_s))
        self.decisions[decision] += 1
        return decision

    def figures(self) -> GovernorFigures:
        """Rate, tokens and decisions so far."""
        return GovernorFigures(self.bucket.rate_per_s, self.bucket.available, dict(self.decisions))

    def start(self) -> None:
        """Tick every interval (on the running loop)."""
        if self.settings.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval_s)
            # ``tick`` asks other components; a bug there must not freeze the rate
            # (after an outage, at its floor).
            with self._guard.turn():
                self.tick()


class NodeView:
    """``SystemView`` of a node: sync invokes running (``flow.sync_first``), the
    share of the async plane's slots in use, and the worker host's pressure."""

    def __init__(
        self,
        sync_busy: Callable[[], bool],
        in_use: Callable[[], int],
        limit: Callable[[], int],
        host: Callable[[], PressureState] = lambda: PressureState.NORMAL,
    ) -> None:
        self._sync_busy = sync_busy
        self._in_use = in_use
        self._limit = limit
        self._host = host

    def pressure(self) -> Pressure:
        """Sync busy, async slots in use over those allowed now, host pressure."""
        return Pressure(self._sync_busy(), self._in_use() / max(1, self._limit()), self._host())
