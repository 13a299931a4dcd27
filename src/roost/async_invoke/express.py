"""The express lane: dedicated sideline queues for hot functions.

A function whose async rate, over a short sliding window, reaches
``rate_per_s`` gets a lane of its own: ``width`` queues named from its shard
key (``express-<hash>-0``, ...; the same names on every node), and its events
go to the shallower of them instead of to its two ring queues. Its backlog then
no longer sits in front of the functions that share those ring queues.

The lane is reaped, and the function goes back to the ring, once its rate has
stayed below the threshold for ``quiet_s`` and every lane queue is empty
(nothing visible, in flight or delayed). Pollers serve lanes as lease
resources: ``queues()`` lists the open lanes, and the plane also leases every
``express-`` queue that still holds messages in the store (a lane opened on
another node, or a retry sent to a lane after it was reaped), so an event in a
lane is served until its queue is drained, whatever happens to the lane.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.ring import is_shared_queue, ring_hash
from roost.async_invoke.router import shard_key
from roost.loop_guard import LoopGuard
from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueStore

log = logging.getLogger(__name__)

EXPRESS_PREFIX = "express-"
DEFAULT_REAP_INTERVAL_S = 5.0


def _now_ms() -> int:
    return int(time.time() * 1000)


def is_express_queue(queue: str) -> bool:
    """Whether ``queue`` is (or was) an express lane's queue."""
    return queue.startswith(EXPRESS_PREFIX)


def lane_queue_names(key: str, width: int) -> tuple[str, ...]:
    """The queues of ``key``'s lane, the same in every process."""
    return tuple(f"{EXPRESS_PREFIX}{ring_hash(key):016x}-{index}" for index in range(width))


@dataclass(frozen=True)
class ExpressSettings:
    """When a function gets a lane and when it loses it; ``rate_per_s`` 0 disables lanes."""

    rate_per_s: float = 500.0
    window_s: float = 5.0
    quiet_s: float = 60.0
    width: int = 2

    def __post_init__(self) -> None:
        if self.rate_per_s < 0 or self.window_s <= 0 or self.quiet_s < 0 or self.width < 1:
            raise ValueError(f"invalid express lane settings: {self}")


class RateWindow:
    """Events per second over a sliding window, estimated from two fixed buckets.

    The previous bucket counts in proportion to how much of it the sliding
    window still covers: O(1) memory per function, however hot it runs.
    """

    def __init__(self, window_ms: int, now_ms: int) -> None:
        self._window_ms = window_ms
        self._start_ms = now_ms - now_ms % window_ms
        self._current = 0
        self._previous = 0
        self._last_event_ms = now_ms

    def _roll(self, now_ms: int) -> None:
        start_ms = now_ms - now_ms % self._window_ms
        if start_ms == self._start_ms:
            return
        adjacent = start_ms - self._start_ms == self._window_ms
        self._previous = self._current if adjacent else 0
        self._current = 0
        self._start_ms = start_ms

    def add(self, now_ms: int, count: int = 1) -> None:
        """``count`` events happened at ``now_ms``."""
        self._roll(now_ms)
        self._current += count
        self._last_event_ms = now_ms

    def rate_per_s(self, now_ms: int) -> float:
        """The estimated rate over the window ending at ``now_ms``."""
        self._roll(now_ms)
        covered = 1.0 - (now_ms - self._start_ms) / self._window_ms
        return (self._previous * covered + self._current) * 1000 / self._window_ms

    def idle(self, now_ms: int) -> bool:
        """Whether no event fell in the last two windows (the window can be dropped)."""
        return now_ms - self._last_event_ms >= 2 * self._window_ms


@dataclass
class Lane:
    """One open lane: its queues and when its function was last hot."""

    queues: tuple[str, ...]
    hot_at_ms: int


class RateExpressLane:
    """An ``ExpressLane`` that opens lanes by rate and reaps them when quiet.

    ``on_new_lane`` runs when a lane opens (the plane nudges the pollers'
    lease keepers so the lane is served at once, not at their next heartbeat).
    """

    def __init__(
        self,
        settings: ExpressSettings,
        gauge: DepthGauge,
        clock_ms: Callable[[], int] = _now_ms,
        on_new_lane: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._gauge = gauge
        self._clock_ms = clock_ms
        self._on_new_lane = on_new_lane
        self._window_ms = max(1, round(settings.window_s * 1000))
        self._rates: dict[str, RateWindow] = {}
        self._lanes: dict[str, Lane] = {}

    def lane_for(self, account_id: str, function_name: str) -> str | None:
        """Count the event; the shallower queue of the function's lane, or None."""
        if self.settings.rate_per_s <= 0:
            return None
        key = shard_key(account_id, function_name)
        now_ms = self._clock_ms()
        window = self._rates.get(key)
        if window is None:
            window = self._rates[key] = RateWindow(self._window_ms, now_ms)
        window.add(now_ms)
        lane = self._lanes.get(key)
        if window.rate_per_s(now_ms) >= self.settings.rate_per_s:
            if lane is None:
                lane = self._open(key, now_ms)
            lane.hot_at_ms = now_ms
        if lane is None:
            return None
        return min(lane.queues, key=self._gauge.depth)

    def _open(self, key: str, now_ms: int) -> Lane:
        lane = Lane(lane_queue_names(key, self.settings.width), now_ms)
        self._lanes[key] = lane
        for queue in lane.queues:
            self._gauge.track(queue)
        log.info("express lane opened for %s: %s", key, ", ".join(lane.queues))
        if self._on_new_lane is not None:
            self._on_new_lane()
        return lane

    def lanes(self) -> dict[str, tuple[str, ...]]:
        """The open lanes: shard key to queues."""
        return {key: lane.queues for key, lane in self._lanes.items()}

    def queues(self) -> list[str]:
        """Every queue of every open lane."""
        return sorted(queue for lane in self._lanes.values() for queue in lane.queues)

    async def reap(self, store: QueueStore) -> list[str]:
        """Close the lanes quiet for ``quiet_s`` whose queues are empty; their keys.

        Also drops the rate windows of functions idle for two windows, so the
        table only holds functions that sent something recently.
        """
        now_ms = self._clock_ms()
        quiet_ms = round(self.settings.quiet_s * 1000)
        reaped: list[str] = []
        for key, lane in list(self._lanes.items()):
            if now_ms - lane.hot_at_ms < quiet_ms:
                continue
            depths = [await store.depth(queue) for queue in lane.queues]
            if any(depth.total for depth in depths) or self._lanes.get(key) is not lane:
                continue  # Still draining (or re-opened meanwhile): try again later.
            del self._lanes[key]
            for queue in lane.queues:
                self._gauge.forget(queue)
            reaped.append(key)
            log.info("express lane of %s reaped", key)
        for key, window in list(self._rates.items()):
            if key not in self._lanes and window.idle(now_ms):
                del self._rates[key]
        return reaped

    async def run(self, store: QueueStore, interval_s: float = DEFAULT_REAP_INTERVAL_S) -> None:
        """Reap every ``interval_s`` until cancelled; store outages and bugs are logged."""
        guard = LoopGuard("express lane reaper", log)
        while True:
            await asyncio.sleep(interval_s)
            with guard.turn():
                try:
                    await self.reap(store)
                except StoreUnavailable:
                    log.warning("express lanes not reaped: the queue store is unavailable")


async def queues_to_poll(
    store: QueueStore, shared: Iterable[str], lane: RateExpressLane
) -> list[str]:
    """The pollers' lease resources: the shared queues, the open lanes, every lane
    queue still holding messages (reaped meanwhile, or opened by another node), and
    every shared queue outside the ring still holding messages (the ring was made
    smaller, ``ROOST_ASYNC_QUEUES`` lowered, or another node's is): no new event is
    routed there, but the ones already in it, retries included, must still run."""
    stored = [q for q in await store.queues() if is_express_queue(q) or is_shared_queue(q)]
    return sorted({*shared, *lane.queues(), *stored})
