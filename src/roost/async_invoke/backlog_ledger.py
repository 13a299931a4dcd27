"""Per-shard backlog figures: queued events and the oldest one's age, per
(account, function, qualifier).

The talk shards a backlog "into a function, a function version, and then an
alias so that you start to see recovery much faster". The internal queues are
shared by many functions and their bodies are opaque to the store, so the
store cannot count per function cheaply; this ledger does it in memory
instead. It learns of an event when the front end accepts it and again when a
poller receives it (so events left by an earlier run of the node, or accepted
by another node, show up once a poller has seen them), and forgets it when its
fate is settled (success, or given up). A retry's copy keeps its request id,
so an event retried is one entry throughout.

Memory is bounded by ``max_events``: beyond it new events are not tracked (the
figures then under-count, which ``untracked`` says).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.outcome import InvokeResult, OutcomeSink
from roost.async_invoke.retry import Condition

UNQUALIFIED = "$LATEST"
DEFAULT_MAX_EVENTS = 200_000


@dataclass(frozen=True, order=True)
class ShardKey:
    """A backlog shard: a function and the qualifier its events were sent to."""

    account_id: str
    function_name: str
    qualifier: str

    @classmethod
    def of(cls, event: AsyncEvent) -> ShardKey:
        """The shard of ``event`` (an unqualified invoke is ``$LATEST``'s)."""
        return cls(event.account_id, event.function_name, event.qualifier or UNQUALIFIED)


@dataclass(frozen=True)
class ShardFigures:
    """One shard's queued events and the age of its oldest, in seconds."""

    depth: int
    oldest_age_s: float


class BacklogLedger:
    """Outstanding async events per shard, with the oldest first in each."""

    def __init__(self, clock_ms: Callable[[], int], max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self._clock_ms = clock_ms
        self._max_events = max_events
        # Per shard: request id -> received_at_ms, oldest first (O(1) add,
        # remove and peek at the oldest).
        self._shards: dict[ShardKey, OrderedDict[str, int]] = {}
        self._size = 0
        self.untracked = 0

    def add(self, event: AsyncEvent) -> None:
        """``event`` is queued (accepted, or received by a poller); idempotent."""
        key = ShardKey.of(event)
        events = self._shards.get(key)
        if events is not None and event.request_id in events:
            return
        if self._size >= self._max_events:
            self.untracked += 1
            return
        if events is None:
            events = self._shards[key] = OrderedDict()
        events[event.request_id] = event.received_at_ms
        self._size += 1
        # Events learnt from a poller may be older than the shard's head.
        head = next(iter(events.values()))
        if event.received_at_ms < head:
            events.move_to_end(event.request_id, last=False)

    def done(self, event: AsyncEvent) -> None:
        """``event``'s fate is settled: it leaves the backlog."""
        key = ShardKey.of(event)
        events = self._shards.get(key)
        if events is None or events.pop(event.request_id, None) is None:
            return
        self._size -= 1
        if not events:
            del self._shards[key]

    def depth(self, key: ShardKey) -> int:
        """The shard's queued events now (O(1): asked per event by ``BacklogShards``)."""
        events = self._shards.get(key)
        return len(events) if events is not None else 0

    def figures(self) -> dict[ShardKey, ShardFigures]:
        """Every shard with queued events, sorted."""
        now_ms = self._clock_ms()
        return {
            key: ShardFigures(len(events), max(0, now_ms - next(iter(events.values()))) / 1000)
            for key, events in sorted(self._shards.items())
        }


class LedgerSink:
    """An ``OutcomeSink`` that settles each event in the ledger once the sink
    it wraps has taken the outcome (if that raises, the event stays queued)."""

    def __init__(self, inner: OutcomeSink, ledger: BacklogLedger) -> None:
        self._inner = inner
        self._ledger = ledger

    async def succeeded(self, event: AsyncEvent, result: InvokeResult) -> None:
        """Pass the success on, then forget the event."""
        await self._inner.succeeded(event, result)
        self._ledger.done(event)

    async def failed(
        self, event: AsyncEvent, condition: Condition, result: InvokeResult | None
    ) -> None:
        """Pass the failure on, then forget the event."""
        await self._inner.failed(event, condition, result)
        self._ledger.done(event)
