"""The autoscaler: how many batches of one mapping run at once.

AWS's documented SQS behaviour, which this follows: when messages are
available Lambda processes five batches at a time; while messages remain it
adds up to 300 concurrent batches per minute, up to 1,000; when traffic is low
it scales back to five, and can go down to two (not with a maximum
concurrency set). Function errors and throttles make it back off.
``ScalingConfig.MaximumConcurrency`` is a hard ceiling, and so is
``ProvisionedPollerConfig.MaximumPollers``; ``MinimumPollers`` is a floor.

In Roost one "batch" is one batch loop of the mapping's poller: it reads,
invokes and commits one batch at a time, so the target is also the most
invokes the mapping can have running. ``decide`` is pure (one call per
scaling interval, from the window's ``WindowStats``) so it is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.esm.health import WindowStats
from roost.esm.mapping import MappingSettings

INITIAL_BATCHES = 5
IDLE_FLOOR_BATCHES = 2
MAX_BATCHES = 1000
SCALE_UP_STEP = 300
SCALE_INTERVAL_S = 60.0
# At least this share of a window's invokes failing makes the mapping back off.
BACK_OFF_ERROR_RATE = 0.5


@dataclass(frozen=True)
class ScalingSettings:
    """The node's scaling knobs (every mapping shares them)."""

    interval_s: float = SCALE_INTERVAL_S
    initial: int = INITIAL_BATCHES
    step: int = SCALE_UP_STEP
    idle_floor: int = IDLE_FLOOR_BATCHES
    max_batches: int = MAX_BATCHES


@dataclass(frozen=True)
class ScalingLimits:
    """One mapping's bounds: never below ``floor`` nor above ``ceiling``."""

    floor: int
    initial: int
    ceiling: int

    @classmethod
    def of(cls, settings: MappingSettings, scaling: ScalingSettings) -> ScalingLimits:
        """The bounds a mapping's ScalingConfig and ProvisionedPollerConfig set."""
        provisioned = settings.provisioned_poller_config or {}
        maximum = settings.maximum_concurrency
        if provisioned:
            floor = int(provisioned.get("MinimumPollers") or 1)
            ceiling = int(provisioned.get("MaximumPollers") or scaling.max_batches)
            initial = max(floor, min(scaling.initial, ceiling))
        else:
            ceiling = scaling.max_batches
            initial = scaling.initial
            # AWS drops to two batches when quiet, but not under a maximum concurrency.
            floor = scaling.idle_floor if maximum is None else initial
        if maximum is not None:
            ceiling = min(ceiling, maximum)
        ceiling = max(1, ceiling)
        initial = max(1, min(initial, ceiling))
        return cls(floor=max(1, min(floor, ceiling)), initial=initial, ceiling=ceiling)

    def clamp(self, target: int) -> int:
        """``target`` within the bounds."""
        return max(self.floor, min(self.ceiling, target))


class Autoscaler:
    """Holds a mapping's target concurrency and moves it once per scaling interval."""

    def __init__(self, limits: ScalingLimits, scaling: ScalingSettings) -> None:
        self.limits = limits
        self.scaling = scaling
        self.target = limits.initial

    def reconfigure(self, limits: ScalingLimits) -> None:
        """New bounds (the mapping was updated): the target moves into them at once."""
        self.limits = limits
        self.target = limits.clamp(self.target)

    def records_seen(self) -> int:
        """Records arrived: at least the initial batches run from now on (no waiting for
        the next interval after a quiet spell)."""
        self.target = self.limits.clamp(max(self.target, self.limits.initial))
        return self.target

    def decide(self, window: WindowStats) -> int:
        """The target for the next interval, from what the last one saw."""
        limits = self.limits
        if window.batches and window.error_rate >= BACK_OFF_ERROR_RATE:
            target = self.target // 2
        elif window.backlogged:
            target = self.target + self.scaling.step
        elif window.idle:
            # Back to the initial batches first, then one fewer per quiet interval.
            target = limits.initial if self.target > limits.initial else self.target - 1
        else:
            target = self.target
        self.target = limits.clamp(target)
        return self.target
