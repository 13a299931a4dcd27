"""``WorkerDirectory``: a frontend's view of the worker hosts, and where an invoke goes.

The directory reads every worker record each ``refresh_s`` (one store read
for all invokes in between: the data plane never reads the store per invoke),
feeds the zones' health and keeps the hosts that are neither missing nor in an
evacuated zone (all of them, when every host looks missing at once: static
stability). For an invoke of one function version it picks:

1. a host that advertised a warm idle environment of that version, the one
   with the most (an invoke there skips init); else
2. a host with free slots, at random in proportion to its free slots times its
   zone's weight, so an observed zone takes load back gradually and two
   frontends do not pile onto the same "least loaded" host between beats.

Move-back: a zone that came back holds no environments, and warm ones
elsewhere would take every invoke. While a zone holds under half its share,
``rebalance_share`` of the invokes that could go warm start an environment
there instead; the surplus elsewhere idles out.

Between heartbeats the directory corrects what the records said with what it
sent itself: an invoke sent takes a warm environment and a slot, one finished
gives them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from roost.cancellation import cancel_and_wait
from roost.cluster.worker_registry import WorkerRecord, WorkerRegistry
from roost.cluster.zones import ZoneHealth
from roost.loop_guard import LoopGuard
from roost.store.errors import StoreError

log = logging.getLogger(__name__)


class WorkerDirectory:
    """Live worker hosts, refreshed from the registry, and the choice of one per invoke."""

    def __init__(
        self,
        registry: WorkerRegistry,
        zones: ZoneHealth,
        *,
        refresh_s: float = 0.5,
        rng: Callable[[], float] = random.random,
        rebalance_share: float = 0.1,
    ) -> None:
        self._registry = registry
        self.zones = zones
        self._refresh_s = refresh_s
        self._rng = rng
        # Share of warm-routable invokes sent to a zone that is behind instead.
        self._rebalance_share = rebalance_share
        self._live: dict[str, WorkerRecord] = {}
        # Zones holding under half their share of environments (move-back).
        self._behind: set[str] = set()
        # Invokes this frontend has running on each host, and per (host, version).
        self._sent: dict[str, int] = defaultdict(int)
        self._warm_taken: dict[tuple[str, str], int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None
        self.refresh_failures = 0
        self._guard = LoopGuard("worker directory refresh", log)
        # When ``refresh_soon`` last read the registry (monotonic seconds).
        self._last_refresh = -math.inf

    @property
    def live(self) -> list[WorkerRecord]:
        """The hosts invokes may go to now."""
        return list(self._live.values())

    def is_live(self, node_id: str) -> bool:
        """Whether invokes may go to ``node_id``'s host now (heartbeating, zone not evacuated)."""
        return node_id in self._live

    def update(self, records: Iterable[WorkerRecord]) -> None:
        """Take a new set of records (what ``refresh`` read)."""
        records = list(records)
        self.zones.observe(records)
        fresh = [record for record in records if not self.zones.missing(record)]
        # Every host missing at once (a stalled store delays every heartbeat, or
        # this node's reads lag): as for zones, the observer is the likelier
        # fault. Keep sending to them; a host really gone refuses the connection
        # and the next one is tried, where no host at all would fail every invoke.
        usable = fresh or records
        self._live = {
            record.node_id: record for record in usable if self.zones.weight(record.zone) > 0
        }
        # A fresh record already counts what we sent before it was written.
        self._warm_taken.clear()
        # Shares change only with the records: judged here, not per invoke.
        self._behind = self._zones_behind(list(self._live.values()))

    async def refresh(self) -> None:
        """Read the registry once; forget hosts missing for long."""
        records = await self._registry.list()
        self.update(records)
        for record in records:
            if self.zones.forgettable(record):
                with contextlib.suppress(StoreError):
                    await self._registry.remove(record.node_id)

    async def refresh_soon(self) -> None:
        """Refresh now, unless a refresh ran in the last ``refresh_s`` (store errors ignored).

        For a caller that found no host: one read of the store, shared by
        every caller that finds none in the same interval.
        """
        now = time.monotonic()
        if now - self._last_refresh < self._refresh_s:
            return
        self._last_refresh = now
        with contextlib.suppress(StoreError):
            await self.refresh()

    def choose(self, version: str, exclude: Iterable[str] = ()) -> WorkerRecord | None:
        """The host an invoke of ``version`` should go to (None: no live host)."""
        excluded = set(exclude)
        candidates = [r for r in self._live.values() if r.node_id not in excluded]
        warm = [
            (r.idle.get(version, 0) - self._warm_taken[(r.node_id, version)], r) for r in candidates
        ]
        warm = [(count, r) for count, r in warm if count > 0]
        if warm:
            behind = [r for r in candidates if r.zone in self._behind]
            if behind and self._rng() < self._rebalance_share:
                # Move-back: now and then start an environment in a zone that
                # holds far less than its share, rather than reuse a warm one.
                return self._by_free_slots(behind)
            return max(warm, key=lambda pair: (pair[0], -pair[1].load))[1]
        return self._by_free_slots(candidates)

    def _zones_behind(self, records: list[WorkerRecord]) -> set[str]:
        """Zones holding under half their share of environments (slots times weight).

        After a zone comes back its hosts are empty while warm environments
        elsewhere would keep every invoke: without this, load would only
        return as those age out.
        """
        slots: dict[str, float] = defaultdict(float)
        held: dict[str, int] = defaultdict(int)
        for record in records:
            slots[record.zone] += record.slots * self.zones.weight(record.zone)
            held[record.zone] += record.busy + sum(record.idle.values())
        total_slots, total_held = sum(slots.values()), sum(held.values())
        if len(slots) < 2 or total_slots <= 0 or total_held <= 0:
            return set()
        return {
            zone
            for zone, capacity in slots.items()
            if capacity > 0 and held[zone] / total_held < 0.5 * capacity / total_slots
        }

    def _by_free_slots(self, candidates: list[WorkerRecord]) -> WorkerRecord | None:
        if not candidates:
            return None
        weights = [
            max(0, r.slots - r.busy - self._sent[r.node_id]) * self.zones.weight(r.zone)
            for r in candidates
        ]
        total = sum(weights)
        if total <= 0:
            # Everyone is full: the least loaded host decides (and may throttle).
            return min(candidates, key=lambda r: (r.busy + self._sent[r.node_id]) / r.slots)
        roll = self._rng() * total
        for record, weight in zip(candidates, weights, strict=True):
            if roll < weight:
                return record
            roll -= weight
        return candidates[-1]

    def sent(self, record: WorkerRecord, version: str) -> None:
        """An invoke of ``version`` went to ``record``'s host."""
        self._sent[record.node_id] += 1
        if record.idle.get(version, 0) > self._warm_taken[(record.node_id, version)]:
            self._warm_taken[(record.node_id, version)] += 1

    def finished(self, record: WorkerRecord, version: str) -> None:
        """That invoke ended: its environment is idle there again."""
        self._sent[record.node_id] -= 1
        if self._warm_taken[(record.node_id, version)] > 0:
            self._warm_taken[(record.node_id, version)] -= 1

    def start(self) -> None:
        """Refresh every ``refresh_s`` until stopped."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            # A bug must not end refreshing: the view would freeze on every frontend.
            with self._guard.turn():
                try:
                    await self.refresh()
                except StoreError as error:
                    # Keep serving from the last view: static stability.
                    self.refresh_failures += 1
                    log.warning("worker directory refresh failed: %s", error)
            await asyncio.sleep(self._refresh_s)

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            await cancel_and_wait(self._task)
