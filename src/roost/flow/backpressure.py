"""Backpressure: the worker host reports its pressure, and pollers take on less.

The fourth of the talk's stability layers ("react when overloaded. You don't
have to suffer. Slow down polling or shed low priority"). ``HostPressure`` is
sampled on the worker host every ``interval_s`` from three inputs, each a
share in 0..1 (``PressureReading``):

- ``cpu``: the host's CPU utilisation since the last sample (the cgroup's
  ``cpu.stat`` against its ``cpu.max`` quota when the node runs in one, else
  ``/proc/stat`` over every core);
- ``memory``: memory of the environments serving invokes over the host's
  memory budget;
- ``slots``: environments serving invokes over the host's environment cap
  (0 without a cap).

Idle warm environments are not pressure: the host evicts them to make room.
The level is the highest input, except that CPU counts at most
``cpu_ceiling`` (below ``critical_at`` by default): a busy CPU slows work but
does not fail it, and on a shared machine other processes' load must not stop
the pollers outright. Levels map to ``PressureState`` with hysteresis: the
state rises as soon as the level crosses a threshold, and falls only once the
level is ``hysteresis`` below it, so a level hovering at a threshold does not
flap the pollers between speeds.

What the pollers do with it (``docs/resilience.md``, "Backpressure"):
``ELEVATED`` slows polling (``pause_s``) and sheds low-priority work;
``CRITICAL`` receives nothing new from the async queues and polls event
sources at each mapping's minimum, after a longer pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

# Who held work back, as ``/metrics`` labels ``roost_backpressure_deferred_total``.
ASYNC_RECEIVE = "async_receive"
"""An async poller's receive waited (critical) or was delayed (elevated)."""
ASYNC_LOW_PRIORITY = "async_low_priority"
"""An async retry or backlog event put back while the host was elevated."""
ESM_POLL = "esm_poll"
"""An SQS mapping's poll was delayed."""
STREAM_READ = "stream_read"
"""A stream shard's read was delayed."""


class PressureState(enum.Enum):
    """How hard the worker host is pressed; the value is the ``/metrics`` gauge."""

    NORMAL = 0
    ELEVATED = 1
    CRITICAL = 2


@dataclass(frozen=True)
class PressureReading:
    """One sample of the host's inputs, each a share in 0..1."""

    cpu: float = 0.0
    memory: float = 0.0
    slots: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Inputs by name (the ``input`` label of ``/metrics``)."""
        return {"cpu": self.cpu, "memory": self.memory, "slots": self.slots}


@dataclass(frozen=True)
class BackpressureSettings:
    """Knobs of the backpressure layer (``ROOST_BACKPRESSURE_*``)."""

    enabled: bool = True
    interval_s: float = 0.5
    elevated_at: float = 0.8
    critical_at: float = 0.95
    hysteresis: float = 0.1
    cpu: bool = True
    cpu_ceiling: float = 0.9
    elevated_pause_s: float = 0.1
    critical_pause_s: float = 1.0
    shed_delay_s: float = 1.0
    max_sheds: int = 3
    backlog_age_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.elevated_at <= self.critical_at:
            raise ValueError("need 0 <= elevated_at <= critical_at")
        if self.interval_s <= 0 or self.hysteresis < 0:
            raise ValueError("interval_s must be > 0 and hysteresis >= 0")

    def classify(self, level: float) -> PressureState:
        """The state ``level`` asks for, without hysteresis."""
        if level >= self.critical_at:
            return PressureState.CRITICAL
        if level >= self.elevated_at:
            return PressureState.ELEVATED
        return PressureState.NORMAL


class PressureInputs(Protocol):
    """Where ``HostPressure`` reads the host's inputs."""

    def read(self) -> PressureReading:
        """The inputs now (CPU since the previous read); never raises."""


class CpuSampler:
    """CPU utilisation between two calls: the cgroup's quota if it has one, else
    every core of the machine (``/proc/stat``), else the load average."""

    def __init__(self, cgroup: Path = Path("/sys/fs/cgroup")) -> None:
        self._cgroup = cgroup
        self._quota_cores = _cgroup_quota_cores(cgroup)
        self._last: tuple[float, float] | None = None

    def __call__(self) -> float:
        """Busy share since the previous call (0 on the first)."""
        now = self._counters()
        if now is None:
            return load_average_share()  # neither the cgroup nor /proc/stat readable
        last, self._last = self._last, now
        if last is None:
            return 0.0
        busy, total = now[0] - last[0], now[1] - last[1]
        return min(1.0, max(0.0, busy / total)) if total > 0 else 0.0

    def _counters(self) -> tuple[float, float] | None:
        """(busy, capacity) in one unit: cgroup µs against quota, or /proc/stat ticks."""
        if self._quota_cores is not None:
            usage = _cgroup_usage_us(self._cgroup)
            if usage is not None:
                return usage, time.monotonic() * 1e6 * self._quota_cores
        return _proc_stat()


def _cgroup_quota_cores(cgroup: Path) -> float | None:
    """Cores the cgroup (v2) may use, None without a quota."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _cgroup_usage_us(cgroup: Path) -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in (cgroup / "cpu.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "usage_usec":
                return float(value)
    return None


def _proc_stat() -> tuple[float, float] | None:
    """(busy, total) jiffies of every core; idle and iowait are not busy."""
    try:
        with open("/proc/stat") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    total = sum(fields[:8])  # guest time is already counted in user
    return total - fields[3] - (fields[4] if len(fields) > 4 else 0.0), total


def load_average_share() -> float:
    """The 1-minute load average over the cores (a coarse CPU reading)."""
    try:
        return min(1.0, os.getloadavg()[0] / max(1, os.cpu_count() or 1))
    except OSError:
        return 0.0


class HostInputs:
    """``PressureInputs`` of a worker host: a CPU reader and the host's busy
    environments against its memory budget and environment cap."""

    def __init__(
        self,
        busy: Callable[[], tuple[int, int]],
        memory_budget_mb: int,
        max_environments: int | None,
        cpu: Callable[[], float] | None = None,
    ) -> None:
        """``busy`` gives (environments, memory MB) serving invokes now; ``cpu``
        None leaves CPU out."""
        self._busy = busy
        self._budget_mb = memory_budget_mb
        self._cap = max_environments
        self._cpu = cpu

    def read(self) -> PressureReading:
        """The inputs now."""
        environments, memory_mb = self._busy()
        slots = environments / self._cap if self._cap else 0.0
        cpu = self._cpu() if self._cpu is not None else 0.0
        return PressureReading(cpu, memory_mb / max(1, self._budget_mb), min(1.0, slots))


@dataclass(frozen=True)
class PressureFigures:
    """What ``/metrics`` shows of the layer."""

    level: float
    state: PressureState
    reading: PressureReading
    deferred: dict[str, int]
    transitions: dict[PressureState, int]


class HostPressure:
    """The host's pressure state, sampled every interval; ``start``, ``stop``."""

    def __init__(
        self,
        settings: BackpressureSettings,
        inputs: PressureInputs,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._inputs = inputs
        self._clock = clock
        self.state = PressureState.NORMAL
        self.level = 0.0
        self.reading = PressureReading()
        self.deferred: dict[str, int] = {}
        self.transitions: dict[PressureState, int] = {state: 0 for state in PressureState}
        self._below_critical = asyncio.Event()
        self._below_critical.set()
        self._task: asyncio.Task[None] | None = None

    def level_of(self, reading: PressureReading) -> float:
        """The pressure level of ``reading``: its highest input, CPU capped."""
        cpu = min(reading.cpu, self.settings.cpu_ceiling) if self.settings.cpu else 0.0
        return max(cpu, reading.memory, reading.slots)

    def observe(self, reading: PressureReading) -> PressureState:
        """Take one reading: up at once, down only ``hysteresis`` below a threshold."""
        settings = self.settings
        level = self.level_of(reading)
        self.reading, self.level = reading, level
        wanted = settings.classify(level)
        if wanted.value < self.state.value:
            eased = settings.classify(level + settings.hysteresis)
            wanted = eased if eased.value < self.state.value else self.state
        if wanted is not self.state:
            log.log(
                logging.INFO if wanted is not PressureState.NORMAL else logging.DEBUG,
                "host pressure %s -> %s (level %.2f: %s)",
                self.state.name,
                wanted.name,
                level,
                reading,
            )
            self.state = wanted
            self.transitions[wanted] += 1
            if wanted is PressureState.CRITICAL:
                self._below_critical.clear()
            else:
                self._below_critical.set()
        return self.state

    def sample(self) -> PressureState:
        """Read the inputs now and move the state."""
        if not self.settings.enabled:
            return self.state
        return self.observe(self._inputs.read())

    @property
    def critical(self) -> bool:
        """Whether the pollers must take on nothing new."""
        return self.state is PressureState.CRITICAL

    @property
    def elevated(self) -> bool:
        """Elevated or worse: slow down and shed low-priority work."""
        return self.state is not PressureState.NORMAL

    def pause_s(self) -> float:
        """How long a poller waits before its next poll, by state."""
        if self.state is PressureState.CRITICAL:
            return self.settings.critical_pause_s
        if self.state is PressureState.ELEVATED:
            return self.settings.elevated_pause_s
        return 0.0

    async def below_critical(self) -> None:
        """Wait until the state is below critical (cancellable)."""
        await self._below_critical.wait()

    def defer(self, consumer: str, count: int = 1) -> None:
        """``consumer`` held ``count`` polls or events back (for ``/metrics``)."""
        self.deferred[consumer] = self.deferred.get(consumer, 0) + count

    def figures(self) -> PressureFigures:
        """Level, state, inputs and counters now."""
        return PressureFigures(
            self.level, self.state, self.reading, dict(self.deferred), dict(self.transitions)
        )

    def start(self) -> None:
        """Sample every interval on the running loop."""
        if self.settings.enabled and self._task is None:
            self.sample()  # the first CPU reading only sets the baseline
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval_s)
            try:
                self.sample()
            except Exception:
                log.exception("host pressure: sampling failed")
