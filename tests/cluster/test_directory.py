"""The worker directory: warm environments first, then free slots weighted by zone health."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from roost.cluster.directory import WorkerDirectory
from roost.cluster.worker_registry import PREFIX, WorkerRecord, WorkerRegistry, version_id
from roost.cluster.zones import ZoneHealth, ZoneSettings, ZoneState
from roost.store.memory import MemoryConfigStore
from roost.store.ports import ConfigStore, Put
from tests.fixtures.stores import RunWithStore

V = version_id("111111111111", "fn", "$LATEST", "r1", True)


def host(
    node: str, zone: str = "a", *, slots: int = 4, busy: int = 0, idle: int = 0, age_s: float = 0
) -> WorkerRecord:
    return WorkerRecord(
        node_id=node,
        zone=zone,
        url=f"http://{node}",
        slots=slots,
        busy=busy,
        memory_free_mb=1024,
        heartbeat_ms=int((time.time() - age_s) * 1000),
        started_ms=0,
        idle={V: idle} if idle else {},
    )


def directory(*records: WorkerRecord, rng: float = 0.5) -> WorkerDirectory:
    found = WorkerDirectory(WorkerRegistry(MemoryConfigStore()), ZoneHealth(), rng=lambda: rng)
    found.update(records)
    return found


def test_a_host_with_a_warm_environment_of_the_version_is_picked() -> None:
    chosen = directory(host("cold"), host("warm", busy=3, idle=1), host("other")).choose(V)

    assert chosen is not None and chosen.node_id == "warm"


def test_a_warm_environment_sent_to_is_not_counted_twice_until_it_is_back() -> None:
    # Given a one-slot host with a warm environment, busy with an invoke we sent
    found = directory(host("warm", slots=1, idle=1), host("cold", slots=1), rng=0.0)
    first = found.choose(V)
    assert first is not None and first.node_id == "warm"
    found.sent(first, V)

    # Then the next invoke goes elsewhere, until the first one is back
    second = found.choose(V)
    assert second is not None and second.node_id == "cold"
    found.finished(first, V)
    again = found.choose(V)
    assert again is not None and again.node_id == "warm"


def test_without_warm_environments_free_slots_decide_in_proportion() -> None:
    found = directory(host("big", slots=9), host("small", slots=1))
    picks: Counter[str] = Counter()
    for n in range(100):
        found._rng = lambda n=n: n / 100  # type: ignore[misc]
        chosen = found.choose(V)
        assert chosen is not None
        picks[chosen.node_id] += 1

    assert picks == {"big": 90, "small": 10}


def test_missing_hosts_and_excluded_hosts_are_skipped() -> None:
    found = directory(host("stale", age_s=60, idle=1), host("live"), host("tried"))

    chosen = found.choose(V, exclude=["tried"])

    assert chosen is not None and chosen.node_id == "live"
    assert [r.node_id for r in found.live] == ["live", "tried"]


def test_when_every_host_looks_missing_at_once_they_are_all_still_used() -> None:
    # Given heartbeats all late together (a store stall delayed every one of them)
    found = directory(host("a1", "a", age_s=60), host("b1", "b", age_s=60, idle=1))

    chosen = found.choose(V)

    # Then the view is doubted, not the hosts: invokes still go out
    assert chosen is not None and chosen.node_id == "b1"
    assert [r.node_id for r in found.live] == ["a1", "b1"]


def test_an_evacuated_zone_gets_nothing() -> None:
    clock = [1000.0]
    zones = ZoneHealth(ZoneSettings(missing_after_s=3, confirm_s=0), lambda: clock[0])
    found = WorkerDirectory(WorkerRegistry(MemoryConfigStore()), zones, rng=lambda: 0.0)

    def beat(node: str, zone: str, at_s: float) -> WorkerRecord:
        return WorkerRecord(node, zone, "", 4, 0, 0, int(at_s * 1000), 0, {V: 1})

    found.update([beat("a1", "a", 1000), beat("b1", "b", 1000)])
    clock[0] = 1010
    records = [beat("a1", "a", 1000), beat("b1", "b", 1010)]
    found.update(records)
    found.update(records)

    assert zones.state("a") is ZoneState.EVACUATED
    assert [r.node_id for r in found.live] == ["b1"]


def test_everyone_full_goes_to_the_least_loaded() -> None:
    found = directory(host("x", slots=2, busy=4), host("y", slots=2, busy=2))

    chosen = found.choose(V)

    assert chosen is not None and chosen.node_id == "y"


def test_refresh_reads_the_registry() -> None:
    async def main() -> None:
        registry = WorkerRegistry(MemoryConfigStore())
        await registry.publish(host("h1", idle=2))
        found = WorkerDirectory(registry, ZoneHealth())

        await found.refresh()

        assert [(r.node_id, r.idle) for r in found.live] == [("h1", {V: 2})]
        await registry.remove("h1")
        await found.refresh()
        assert found.live == []

    asyncio.run(main())


def test_a_zone_that_came_back_empty_gets_a_share_of_new_environments() -> None:
    # Zone a holds every environment; zone b is back and empty
    records = [host("a1", "a", busy=2, idle=2), host("b1", "b")]
    rolls = iter([0.05, 0.0, 0.5])
    found = WorkerDirectory(
        WorkerRegistry(MemoryConfigStore()), ZoneHealth(), rng=lambda: next(rolls)
    )
    found.update(records)

    # A roll under the rebalance share starts one in zone b instead of reusing a warm one
    first = found.choose(V)
    assert first is not None and first.node_id == "b1"
    # Otherwise the warm environment wins
    second = found.choose(V)
    assert second is not None and second.node_id == "a1"


def test_balanced_zones_always_reuse_warm_environments() -> None:
    records = [host("a1", "a", busy=2, idle=1), host("b1", "b", busy=2, idle=0)]
    found = directory(*records, rng=0.0)

    chosen = found.choose(V)

    assert chosen is not None and chosen.node_id == "a1"


def test_a_malformed_worker_record_is_skipped_and_the_good_hosts_still_get_invokes(
    run_with_store: RunWithStore, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(store: ConfigStore) -> None:
        # Given a good host and a record some buggy node wrote without its slots
        registry = WorkerRegistry(store)
        await registry.publish(host("good", idle=1))
        broken = host("broken").to_document()
        del broken["slots"]
        await store.commit([Put(PREFIX + "broken", broken)])
        found = WorkerDirectory(registry, ZoneHealth(), refresh_s=0.01)

        # When the directory refreshes in the background for a while
        found.start()
        try:
            await asyncio.sleep(0.1)
            await registry.publish(host("later"))
            await asyncio.sleep(0.1)
        finally:
            await found.stop()

        # Then invokes go to the good hosts, new ones included, and the bad record
        # was reported once
        assert sorted(r.node_id for r in found.live) == ["good", "later"]
        chosen = found.choose(V)
        assert chosen is not None and chosen.node_id == "good"
        reports = [r for r in caplog.records if "malformed worker record" in r.getMessage()]
        assert len(reports) == 1 and PREFIX + "broken" in reports[0].getMessage()

    run_with_store(scenario)


class FlakyRegistry(WorkerRegistry):
    """A registry whose first listing hits a bug (not a store error)."""

    def __init__(self, store: ConfigStore) -> None:
        super().__init__(store)
        self.lists = 0

    async def list(self) -> list[WorkerRecord]:
        self.lists += 1
        if self.lists == 1:
            raise RuntimeError("bug")
        return await super().list()


def test_the_refresh_loop_goes_on_after_an_unexpected_error() -> None:
    async def main() -> None:
        registry = FlakyRegistry(MemoryConfigStore())
        await registry.publish(host("h1"))
        found = WorkerDirectory(registry, ZoneHealth(), refresh_s=0.01)

        found.start()
        try:
            await asyncio.sleep(0.1)
        finally:
            await found.stop()

        assert registry.lists > 1
        assert [r.node_id for r in found.live] == ["h1"]

    asyncio.run(main())
