"""Backlog shards: a function version or alias with a big backlog gets a queue of its own.

The talk ("Operational Resilience"): "We also sometimes shard your queues if you
have a function, a version, and an alias ... so that you start to see recovery
much faster", and "Think about a customer who has millions of messages and sets
their function concurrency to one ... we try to isolate that customer from the
main queue so it can have its own processing".

A shard is an (account, function, qualifier) (``ShardKey``; an unqualified
invoke is ``$LATEST``'s). ``BacklogLedger`` counts each shard's queued events;
when one shard's count reaches ``depth``, ``BacklogShards`` opens a dedicated
queue for it, named from its key (``backlog-<hash>``: the same name on every
node). From then on:

- **route**: the router sends the shard's new events to that queue instead of
  to the ring (``queue_for``);
- **move**: a poller that receives one of the shard's events from any other
  queue copies it into the shard queue (``send_batch``, durable) and only then
  deletes it from where it was (``move``). A crash in between leaves the event
  in both queues (it runs twice, rarely), never in neither. Each event is moved
  once, instead of being received and put back by its tenant bucket over and
  over in front of the other tenants' events;
- **drain**: pollers lease the shard queue like an express lane, and receive
  from it only as fast as the shard's tenant bucket hands out tokens (the
  poller asks ``key_of`` which tenant a queue belongs to), so the bucket still
  bounds the drain and the shard queue is not churned either;
- **reap**: once the shard queue is empty (nothing visible, in flight or
  delayed) and the ledger counts fewer than ``depth / 2`` of the shard's events
  (hysteresis), the shard closes and its events go to the ring again.

Nodes agree through the store: a ``backlog-`` queue holding messages is served
and treated as open by every node (``adopt``), whose pollers learn its key from
the first event they receive from it. Queues are a finite resource: at most
``max_open`` shards are opened by one node.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from roost.async_invoke.backlog_ledger import UNQUALIFIED, BacklogLedger, ShardKey
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.metrics import AsyncMetrics
from roost.async_invoke.ring import ring_hash
from roost.flow.tenant_buckets import TenantBuckets
from roost.loop_guard import LoopGuard
from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueStore, ReceivedMessage

log = logging.getLogger(__name__)

SHARD_PREFIX = "backlog-"
DEFAULT_REAP_INTERVAL_S = 5.0


def _now_ms() -> int:
    return int(time.time() * 1000)


def is_shard_queue(queue: str) -> bool:
    """Whether ``queue`` is (or was) a backlog shard's queue."""
    return queue.startswith(SHARD_PREFIX)


@functools.lru_cache(maxsize=65536)  # asked for every accepted event
def shard_queue_name(key: ShardKey) -> str:
    """The queue of ``key``'s shard, the same in every process."""
    text = f"{key.account_id}/{key.function_name}:{key.qualifier}"
    return f"{SHARD_PREFIX}{ring_hash(text):016x}"


@dataclass(frozen=True)
class ShardSettings:
    """When a shard gets a queue of its own; ``depth`` 0 turns shards off."""

    depth: int = 1000
    max_open: int = 64
    reap_interval_s: float = DEFAULT_REAP_INTERVAL_S

    def __post_init__(self) -> None:
        if self.depth < 0 or self.max_open < 0 or self.reap_interval_s <= 0:
            raise ValueError(f"invalid backlog shard settings: {self}")

    @property
    def enabled(self) -> bool:
        """Whether shards may open at all."""
        return self.depth > 0 and self.max_open > 0


@dataclass
class _Shard:
    queue: str
    # None for a queue adopted from the store until an event of it is seen.
    key: ShardKey | None
    opened_at_ms: int


@dataclass(frozen=True)
class OpenShard:
    """An open shard as ``/metrics`` shows it."""

    queue: str
    key: ShardKey | None
    opened_at_ms: int


@dataclass(frozen=True)
class Move:
    """A received message to copy into the shard queue ``to``."""

    message: ReceivedMessage
    event: AsyncEvent
    to: str


class BacklogShards:
    """Opens, routes to, moves into and reaps the shard queues of one node.

    ``on_open`` runs when this node opens a shard (the plane nudges the
    pollers' lease keepers so the queue is served at once).
    """

    def __init__(
        self,
        settings: ShardSettings,
        ledger: BacklogLedger,
        gauge: DepthGauge,
        clock_ms: Callable[[], int] = _now_ms,
        on_open: Callable[[], None] | None = None,
        metrics: AsyncMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._ledger = ledger
        self._gauge = gauge
        self._clock_ms = clock_ms
        self._on_open = on_open
        self._metrics = metrics
        self._shards: dict[str, _Shard] = {}
        self.opened_total = 0
        self.reaped_total = 0
        self.moved: dict[ShardKey, int] = {}

    def queue_for(self, account_id: str, function_name: str, qualifier: str | None) -> str | None:
        """The shard queue a new event goes to (opening it if the shard's backlog
        reached ``depth``), or None for the ring."""
        if not self.settings.enabled and not self._shards:
            return None
        key = ShardKey(account_id, function_name, qualifier or UNQUALIFIED)
        shard = self._shard_of(key)
        return shard.queue if shard is not None else None

    def destination(self, queue: str, event: AsyncEvent) -> str | None:
        """Where a poller should move ``event``, received from ``queue``: its shard's
        queue when that is open and not ``queue`` itself, else None (run it here)."""
        if not self.settings.enabled and not self._shards:
            return None
        key = ShardKey.of(event)
        if is_shard_queue(queue):
            shard = self._shards.get(queue)
            if shard is not None and shard.key is None and shard_queue_name(key) == queue:
                shard.key = key  # Adopted from the store: now its tenant is known.
            return None
        shard = self._shard_of(key)
        return shard.queue if shard is not None else None

    def _shard_of(self, key: ShardKey) -> _Shard | None:
        """The key's open shard, opened now if its backlog is deep enough."""
        name = shard_queue_name(key)
        shard = self._shards.get(name)
        if shard is not None:
            if shard.key is None:
                shard.key = key
            return shard
        if not self.settings.enabled or self._ledger.depth(key) < self.settings.depth:
            return None
        if len(self._shards) >= self.settings.max_open:
            return None  # Full: the shard stays in the ring, its tenant bucket bounds it.
        shard = self._shards[name] = _Shard(name, key, self._clock_ms())
        self.opened_total += 1
        self._gauge.track(name)
        log.info(
            "backlog shard %s/%s:%s opened: queue %s (%d queued)",
            key.account_id,
            key.function_name,
            key.qualifier,
            name,
            self._ledger.depth(key),
        )
        if self._on_open is not None:
            self._on_open()
        return shard

    def key_of(self, queue: str) -> ShardKey | None:
        """The shard whose queue ``queue`` is, when known (for pacing its drain)."""
        shard = self._shards.get(queue)
        return shard.key if shard is not None else None

    def queues(self) -> list[str]:
        """Every open shard's queue."""
        return sorted(self._shards)

    def open_shards(self) -> list[OpenShard]:
        """Every open shard, by queue name."""
        return [
            OpenShard(shard.queue, shard.key, shard.opened_at_ms)
            for _, shard in sorted(self._shards.items())
        ]

    def adopt(self, stored: Iterable[str]) -> None:
        """Treat every shard queue holding messages in the store as open (opened by
        another node, or before a restart): its events keep going there."""
        for queue in stored:
            if is_shard_queue(queue) and queue not in self._shards:
                self._shards[queue] = _Shard(queue, None, self._clock_ms())
                self._gauge.track(queue)
                log.info("backlog shard queue %s adopted from the store", queue)

    async def move(self, store: QueueStore, queue: str, moves: Sequence[Move]) -> list[Move]:
        """Copy each message into its shard queue, durably, then delete it from
        ``queue``; the moves done (a copy that failed leaves its message where it
        was: the caller lets it come back after its visibility timeout)."""
        by_target: dict[str, list[Move]] = {}
        for move in moves:
            by_target.setdefault(move.to, []).append(move)
        done: list[Move] = []
        for target, group in by_target.items():
            try:
                await store.send_batch(target, [move.message.body for move in group])
            except StoreUnavailable:
                log.warning("backlog shard %s: events not moved, the store is unavailable", target)
                continue
            self._gauge.sent(target, len(group))
            for move in group:
                if self._metrics is not None:
                    self._metrics.sent(target)
                key = ShardKey.of(move.event)
                self.moved[key] = self.moved.get(key, 0) + 1
            done += group
        await self._delete_originals(store, queue, done)
        return done

    async def _delete_originals(self, store: QueueStore, queue: str, done: list[Move]) -> None:
        """Delete the moved messages from ``queue``. One that cannot be deleted now
        comes back and is moved again: a duplicate in the shard queue, not a loss."""
        results = await asyncio.gather(
            *(store.delete(queue, move.message.receipt) for move in done), return_exceptions=True
        )
        deleted = sum(1 for result in results if result is True)
        self._gauge.deleted(queue, deleted)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, StoreUnavailable):
                log.error("backlog shard: moved message not deleted", exc_info=result)

    async def reap(self, store: QueueStore) -> list[str]:
        """Close the shards whose queue is empty and whose backlog fell below half of
        ``depth``; their queues."""
        reaped: list[str] = []
        for name, shard in list(self._shards.items()):
            if shard.key is not None and self._ledger.depth(shard.key) * 2 >= self.settings.depth:
                continue  # Still deep: its events keep coming here.
            if (await store.depth(name)).total or self._shards.get(name) is not shard:
                continue  # Still draining (or re-opened meanwhile): try again later.
            del self._shards[name]
            self._gauge.forget(name)
            self.reaped_total += 1
            reaped.append(name)
            log.info("backlog shard queue %s reaped: its events go to the ring again", name)
        return reaped

    async def run(self, store: QueueStore) -> None:
        """Reap every ``reap_interval_s`` until cancelled; store outages and bugs are logged."""
        guard = LoopGuard("backlog shard reaper", log)
        while True:
            await asyncio.sleep(self.settings.reap_interval_s)
            with guard.turn():
                try:
                    await self.reap(store)
                except StoreUnavailable:
                    log.warning("backlog shards not reaped: the queue store is unavailable")


async def shard_queues_to_poll(store: QueueStore, shards: BacklogShards) -> list[str]:
    """The shard queues the pollers lease: the open ones, and every shard queue still
    holding messages in the store (adopted: opened by another node, or before a
    restart, or sent a straggler after it was reaped)."""
    shards.adopt(await store.queues())
    return shards.queues()


# Longest a paced poller sleeps at once (it reports progress between sleeps).
PACE_SLICE_S = 1.0
# Shortest pause, so a bucket that says "now" but has no whole token does not spin.
PACE_MIN_S = 0.005


async def paced_batch(
    shards: BacklogShards,
    tenants: TenantBuckets | None,
    queue: str,
    batch: int,
    progress: Callable[[], None],
) -> int:
    """How many messages to receive from ``queue`` next: ``batch``, or for a shard
    queue of a known tenant, the whole tokens its bucket holds (at most ``batch``),
    once it holds one. Waiting here rather than putting received events back
    keeps a concurrency-1 shard from cycling its whole queue through receives."""
    key = shards.key_of(queue)
    if key is None or tenants is None:
        return batch
    while True:
        tokens, wait_s = tenants.headroom(key.account_id, key.function_name)
        if tokens >= 1:
            # A tenant not sized yet on this node (none of its events admitted here
            # since start-up: a shard queue adopted from the store) has inf tokens.
            return max(1, int(min(batch, tokens)))
        await asyncio.sleep(min(max(wait_s, PACE_MIN_S), PACE_SLICE_S))
        progress()
