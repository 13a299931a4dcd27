"""Backlog recovery: after an outage, fresh events first while the backlog drains behind.

The talk ("Operational Resilience"): "We also try to convert a FIFO queue into
a LIFO queue wherever possible ... The old message backlog can drain slowly,
but your new messages start to see recovery very fast."

``BacklogRecovery`` watches every async queue the pollers serve. A queue is
*in backlog* when its oldest message is older than ``age_threshold_s``, or
when its depth is far above what the pollers drained from it in the last
interval (``depth_factor`` intervals' worth, at least ``min_depth``); it
leaves the state when both figures fall to half their thresholds (hysteresis,
so a queue near a threshold does not flap). While a queue is in backlog, the
pollers take ``newest_share`` of each receive newest-first (fresh events run
with low latency) and the rest oldest-first (the backlog drains behind: nothing
starves, and ``MaximumEventAgeInSeconds`` still bounds every event's wait).

"Wherever possible": async invokes carry no ordering promise on AWS, so LIFO
is on by default (``ROOST_ASYNC_BACKLOG_LIFO``). A function that wants its
events in arrival order opts out with the tag ``roost:async-order=fifo``; a
queue where a poller saw one of its events in the last ``fifo_pin_s`` is
served oldest-first only (the queues are shared, so the opt-out applies to
the queues that function's events are in).

The per-shard figures (queued events and oldest age per function and
qualifier) are kept by ``BacklogLedger`` (``backlog_ledger.py``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from roost.async_invoke.backlog_ledger import BacklogLedger
from roost.async_invoke.event import AsyncEvent
from roost.frontend.invoke.function_cache import FunctionCache
from roost.loop_guard import LoopGuard
from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueStore, ReceiveOrder

log = logging.getLogger(__name__)

ORDER_TAG = "roost:async-order"
FIFO = "fifo"


def _now_ms() -> int:
    return int(time.time() * 1000)


class BacklogMode(enum.IntEnum):
    """A queue's state, as the ``roost_async_backlog_mode`` gauge shows it."""

    NORMAL = 0
    BACKLOG = 1


@dataclass(frozen=True)
class BacklogSettings:
    """When a queue is in backlog, and how its receives are split then."""

    lifo: bool = True
    age_threshold_s: float = 30.0
    depth_factor: float = 10.0
    min_depth: int = 100
    newest_share: float = 0.5
    interval_s: float = 1.0
    fifo_pin_s: float = 60.0
    # How long a function's order preference is trusted before it is read again.
    order_refresh_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.newest_share <= 1:
            raise ValueError(f"newest_share must be in [0, 1], not {self.newest_share}")
        if self.age_threshold_s <= 0 or self.interval_s <= 0 or self.min_depth < 1:
            raise ValueError(f"invalid backlog settings: {self}")


@dataclass(frozen=True)
class ReceivePart:
    """One receive of a plan: how many messages, taken from which end."""

    order: ReceiveOrder
    count: int


class OrderPreference(Protocol):
    """Whether a function's async events must keep their order (cached; cheap)."""

    async def wants_fifo(self, account_id: str, function_name: str) -> bool:
        """True if the function opted out of LIFO backlog recovery."""


class FunctionCacheOrder:
    """``OrderPreference`` read from the function's tags in the L1 function cache."""

    def __init__(self, cache: FunctionCache) -> None:
        self._cache = cache

    async def wants_fifo(self, account_id: str, function_name: str) -> bool:
        """Whether the function is tagged ``roost:async-order=fifo``."""
        view = await self._cache.get(account_id, function_name)
        return view is not None and view.record.tags.get(ORDER_TAG, "").lower() == FIFO


class NoPreference:
    """Every function allows LIFO."""

    async def wants_fifo(self, account_id: str, function_name: str) -> bool:
        """Never FIFO."""
        return False


@dataclass
class _QueueState:
    mode: BacklogMode = BacklogMode.NORMAL
    received: int = 0  # Messages received in the current interval.
    drained: int = 0  # Messages received in the last closed interval.
    newest_credit: float = 0.0  # Fraction of a newest-first message owed.
    fifo_until_ms: int = 0
    entered: int = 0


class BacklogRecovery:
    """Decides per queue when it is in backlog, and how pollers then receive."""

    def __init__(
        self,
        settings: BacklogSettings,
        ledger: BacklogLedger,
        preference: OrderPreference | None = None,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self._preference = preference or NoPreference()
        self._clock_ms = clock_ms
        self._queues: dict[str, _QueueState] = {}
        self._fifo: dict[tuple[str, str], tuple[bool, int]] = {}

    def _state(self, queue: str) -> _QueueState:
        state = self._queues.get(queue)
        if state is None:
            state = self._queues[queue] = _QueueState()
        return state

    def mode(self, queue: str) -> BacklogMode:
        """The queue's state now."""
        return self._state(queue).mode

    def modes(self) -> dict[str, BacklogMode]:
        """Every watched queue's state, by name."""
        return {queue: state.mode for queue, state in sorted(self._queues.items())}

    def lifo(self, queue: str) -> bool:
        """Whether receives from ``queue`` take a share newest-first now."""
        state = self._state(queue)
        return (
            self.settings.lifo
            and state.mode is BacklogMode.BACKLOG
            and state.fifo_until_ms <= self._clock_ms()
        )

    def observe(self, queue: str, depth: int, oldest_age_s: float | None) -> BacklogMode:
        """Close the queue's interval with its figures now; its (new) state."""
        state = self._state(queue)
        state.drained, state.received = state.received, 0
        settings = self.settings
        age_s = oldest_age_s or 0.0
        depth_limit = max(settings.min_depth, settings.depth_factor * state.drained)
        if state.mode is BacklogMode.NORMAL:
            if age_s >= settings.age_threshold_s or depth >= depth_limit:
                state.mode = BacklogMode.BACKLOG
                state.entered += 1
                log.info("async queue %s in backlog (depth %d, oldest %.1fs)", queue, depth, age_s)
        elif age_s < settings.age_threshold_s / 2 and depth < depth_limit / 2:
            state.mode = BacklogMode.NORMAL
            state.newest_credit = 0.0
            log.info("async queue %s recovered from its backlog", queue)
        return state.mode

    def plan(self, queue: str, count: int) -> list[ReceivePart]:
        """How to receive ``count`` messages from ``queue``: oldest-first only,
        or, in backlog, ``newest_share`` of them newest-first (a share of a
        message carries over, so one-message receives alternate)."""
        if count < 1 or not self.lifo(queue):
            return [ReceivePart(ReceiveOrder.OLDEST_FIRST, max(1, count))]
        state = self._state(queue)
        owed = state.newest_credit + count * self.settings.newest_share
        newest = min(count, math.floor(owed))
        state.newest_credit = owed - newest
        parts = [
            ReceivePart(ReceiveOrder.NEWEST_FIRST, newest),
            ReceivePart(ReceiveOrder.OLDEST_FIRST, count - newest),
        ]
        return [part for part in parts if part.count > 0]

    def received(self, queue: str, count: int) -> None:
        """A poller received ``count`` messages from ``queue`` (the drain rate)."""
        self._state(queue).received += count

    async def seen(self, queue: str, event: AsyncEvent) -> None:
        """A poller received ``event`` from ``queue``: count it in its shard, and
        pin the queue to FIFO if its function opted out of LIFO."""
        self.ledger.add(event)
        if not self.settings.lifo:
            return
        if await self._wants_fifo(event.account_id, event.function_name):
            state = self._state(queue)
            state.fifo_until_ms = self._clock_ms() + round(self.settings.fifo_pin_s * 1000)

    async def _wants_fifo(self, account_id: str, function_name: str) -> bool:
        key = (account_id, function_name)
        now_ms = self._clock_ms()
        cached = self._fifo.get(key)
        if cached is not None and cached[1] > now_ms:
            return cached[0]
        try:
            fifo = await self._preference.wants_fifo(account_id, function_name)
        except Exception:
            # Unreadable (store down, cache cold): keep the last answer, else LIFO.
            log.warning("order preference of %s/%s unavailable", account_id, function_name)
            fifo = cached[0] if cached is not None else False
        self._fifo[key] = (fifo, now_ms + round(self.settings.order_refresh_s * 1000))
        return fifo

    async def refresh(
        self, store: QueueStore, queues: list[str], depth: Callable[[str], int]
    ) -> None:
        """Observe every queue: ``depth`` (the in-memory estimate) and its oldest age."""
        for queue in queues:
            self.observe(queue, depth(queue), await store.oldest_age_s(queue))
        for queue in set(self._queues) - set(queues):
            if self._queues[queue].mode is BacklogMode.NORMAL:
                del self._queues[queue]  # A reaped lane: nothing to remember.

    async def run(
        self,
        store: QueueStore,
        queues: Callable[[], Awaitable[list[str]]],
        depth: Callable[[str], int],
    ) -> None:
        """Refresh every ``interval_s`` until cancelled; store outages and bugs are logged."""
        guard = LoopGuard("async backlog observer", log)
        while True:
            await asyncio.sleep(self.settings.interval_s)
            with guard.turn():
                try:
                    await self.refresh(store, await queues(), depth)
                except StoreUnavailable:
                    log.warning("async backlogs not observed: the queue store is unavailable")
