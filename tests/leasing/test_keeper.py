"""``LeaseKeeper`` over every config store: fair shares, hand-over, crashes, outages, stalls.

Keepers are driven by explicit ``tick()`` calls (one heartbeat each) on a shared
``FakeClock``; nothing sleeps, and no test depends on timing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection
from dataclasses import replace

import pytest

from roost.leasing import KeeperConfig, LeaseKeeper, LeaseTable, TickResult
from roost.store.ports import ConfigStore, Item
from tests.fixtures.stores import FakeClock, RunWithStore
from tests.leasing.support import FlakyStore, Recorder

# Heartbeat 3 s, gives up 0.9 s before expiry. Outages are injected (FlakyStore
# fails at once), so the store timeout is generous: a slow fsync on a loaded
# machine must not count as an outage.
CONFIG = KeeperConfig(ttl_s=9.0, store_timeout_s=60.0)
HEARTBEAT_S = CONFIG.heartbeat_interval_s
RESOURCES = {f"queue-{n}" for n in range(8)}


class Group:
    """Keepers of one lease group sharing a store, a clock and a resource set."""

    def __init__(self, store: ConfigStore, resources: Collection[str] = RESOURCES) -> None:
        self.store = store
        self.clock = FakeClock()
        self.resources = set(resources)
        self.keepers: dict[str, LeaseKeeper] = {}
        self.listeners: dict[str, Recorder] = {}

    async def current(self) -> Collection[str]:
        return set(self.resources)

    def join(
        self, owner: str, store: ConfigStore | None = None, config: KeeperConfig = CONFIG
    ) -> LeaseKeeper:
        table = LeaseTable(store or self.store, "lease/async/", clock=self.clock)
        listener = Recorder()
        keeper = LeaseKeeper(table, owner, self.current, listener, config)
        self.keepers[owner] = keeper
        self.listeners[owner] = listener
        return keeper

    async def round(self, *owners: str) -> dict[str, TickResult]:
        """One heartbeat of each named keeper (all by default), in order."""
        return {owner: await self.keepers[owner].tick() for owner in owners or self.keepers}

    async def settle(self, *owners: str, rounds: int = 3) -> None:
        for _ in range(rounds):
            await self.round(*owners)

    def working(self, owner: str) -> set[str]:
        return self.listeners[owner].working

    def shares(self, *owners: str) -> dict[str, int]:
        return {owner: len(self.working(owner)) for owner in owners or self.keepers}

    def assert_nobody_works_twice(self) -> None:
        counts = Counter(r for listener in self.listeners.values() for r in listener.working)
        assert all(count == 1 for count in counts.values()), counts


def test_one_keeper_takes_everything(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        keeper = group.join("a")

        result = await keeper.tick()

        assert sorted(result.acquired) == sorted(RESOURCES)
        assert result.share == 8
        assert group.working("a") == RESOURCES == keeper.held
        assert all(keeper.holds(resource) for resource in RESOURCES)

    run_with_store(scenario)


def test_two_keepers_split_eight_resources_four_four(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        group.join("a")
        group.join("b")

        await group.settle()

        assert group.shares() == {"a": 4, "b": 4}
        assert group.working("a") | group.working("b") == RESOURCES
        group.assert_nobody_works_twice()

    run_with_store(scenario)


def test_a_third_keeper_joins_and_shares_converge(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        group.join("a")
        group.join("b")
        await group.settle()

        group.join("c")
        await group.settle()

        assert sorted(group.shares().values()) == [2, 3, 3]
        assert set().union(*(group.working(owner) for owner in "abc")) == RESOURCES
        group.assert_nobody_works_twice()
        before = {owner: set(group.working(owner)) for owner in "abc"}
        await group.settle()
        assert {owner: group.working(owner) for owner in "abc"} == before, "stable once settled"

    run_with_store(scenario)


def test_resources_added_and_removed_are_followed(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        group.join("a")
        group.join("b")
        await group.settle()

        group.resources -= {"queue-0", "queue-1"}
        group.resources |= {"queue-8", "queue-9", "queue-10", "queue-11"}
        await group.settle()

        assert group.shares() == {"a": 5, "b": 5}
        assert group.working("a") | group.working("b") == group.resources
        group.assert_nobody_works_twice()

    run_with_store(scenario)


def test_a_stopped_keepers_leases_move_at_once(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        a = group.join("a")
        group.join("b")
        await group.settle()

        await a.stop()
        assert group.working("a") == set(), "a stopped its work before releasing"
        result = await group.keepers["b"].tick()  # the clock has not moved

        assert result.share == 8
        assert group.working("b") == RESOURCES
        assert await a.tick() == TickResult(), "a stopped keeper does nothing"

    run_with_store(scenario)


def test_a_crashed_keepers_leases_move_after_expiry(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        group.join("a")
        group.join("b")
        await group.settle()

        # a crashes: no stop(), no more heartbeats.
        group.clock.advance(CONFIG.ttl_s - 0.001)
        await group.round("b")
        assert group.shares("b") == {"b": 4}, "a's leases still run"

        group.clock.advance(0.001)
        result = (await group.round("b"))["b"]

        assert result.share == 8
        assert group.working("b") == RESOURCES

    run_with_store(scenario)


def test_store_outage_keeps_leases_until_expiry(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        flaky = FlakyStore(store)
        group.join("a", flaky)
        group.join("b")
        await group.settle()
        held_by_a = set(group.working("a"))
        events_before = list(group.listeners["a"].events)

        # Given a loses the store right after its last successful heartbeat.
        flaky.down = True
        for _ in range(2):
            group.clock.advance(HEARTBEAT_S)
            result = (await group.round())["a"]
            assert not result.store_available
            # Then it keeps working, and b cannot take a's leases.
            assert group.working("a") == held_by_a
            assert group.shares("b") == {"b": 4}
        assert group.listeners["a"].events == events_before

        # When a lease is within the margin of its expiry, a gives it up.
        group.clock.advance(HEARTBEAT_S - CONFIG.margin_s)
        result = (await group.round("a"))["a"]
        assert sorted(result.lost) == sorted(held_by_a)
        assert group.working("a") == set()

        # Only once a's leases expire does b take them over.
        await group.round("b")
        assert group.shares("b") == {"b": 4}
        group.clock.advance(CONFIG.margin_s)
        await group.round("b")
        assert group.working("b") == RESOURCES

        # a comes back and rejoins.
        flaky.down = False
        await group.settle()
        assert group.shares() == {"a": 4, "b": 4}
        group.assert_nobody_works_twice()

    run_with_store(scenario)


def test_short_outage_moves_no_work(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        flaky = FlakyStore(store)
        group.join("a", flaky)
        group.join("b")
        await group.settle()
        events_before = {owner: list(group.listeners[owner].events) for owner in "ab"}

        flaky.down = True
        group.clock.advance(HEARTBEAT_S * 2)
        await group.round()
        flaky.down = False
        group.clock.advance(HEARTBEAT_S)
        results = await group.round()

        assert results["a"].store_available
        assert {owner: group.listeners[owner].events for owner in "ab"} == events_before
        keeper = group.keepers["a"]
        assert all(keeper.holds(resource) for resource in group.working("a"))

    run_with_store(scenario)


def test_a_stalled_resource_is_given_up_for_another_keeper(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        config = replace(CONFIG, stall_after_s=10.0)
        group = Group(store)
        for owner in "abc":
            group.join(owner, config=config)
        await group.settle()
        owner = max("abc", key=lambda name: len(group.working(name)))
        stuck = sorted(group.working(owner))[0]

        # Every poller reports progress, except the owner's on the stuck resource.
        stalled: list[tuple[str, str]] = []
        for _ in range(8):
            group.clock.advance(HEARTBEAT_S)
            for name, keeper in group.keepers.items():
                for resource in group.working(name) - ({stuck} if name == owner else set()):
                    keeper.progress(resource)
            results = await group.round()
            stalled += [(name, r) for name, result in results.items() for r in result.stalled]

        assert stalled == [(owner, stuck)], "given up once, and progressing since"
        assert ("lost", stuck) in group.listeners[owner].events
        new_owners = [name for name in "abc" if stuck in group.working(name)]
        assert len(new_owners) == 1 and new_owners[0] != owner, "re-assigned to another keeper"
        group.assert_nobody_works_twice()

    run_with_store(scenario)


def test_anti_entropy_revokes_a_stalled_holder_that_still_heartbeats(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        # a heartbeats but has no stall check of its own (say, an older build):
        # b's sweep must catch it, and a learns at its next heartbeat.
        a = group.join("a")
        b = group.join("b", config=replace(CONFIG, stall_after_s=10.0))
        group.resources = {"queue-0", "queue-1"}
        await group.settle()
        assert group.shares() == {"a": 1, "b": 1}
        stuck = next(iter(group.working("a")))

        revoked: list[str] = []
        for _ in range(6):
            group.clock.advance(HEARTBEAT_S)
            for resource in group.working("b"):
                b.progress(resource)
            await a.tick()
            revoked += (await b.tick()).revoked
            if revoked:
                break
        assert revoked == [stuck]
        assert group.working("a") == {stuck}, "a has not heard yet"

        lost = (await a.tick()).lost
        assert lost == [stuck]
        assert group.working("a") == set()
        group.clock.advance(HEARTBEAT_S + CONFIG.margin_s)
        await group.round()
        group.assert_nobody_works_twice()
        assert set().union(group.working("a"), group.working("b")) == group.resources

    run_with_store(scenario)


class Failing(Recorder):
    async def on_acquired(self, resource: str) -> None:
        await super().on_acquired(resource)
        raise RuntimeError("poller failed to start")


def test_a_failing_listener_does_not_stop_the_keeper(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        listener = Failing()

        async def resources() -> Collection[str]:
            return RESOURCES

        keeper = LeaseKeeper(LeaseTable(store, clock=clock), "a", resources, listener, CONFIG)

        result = await keeper.tick()

        assert len(result.acquired) == 8
        assert keeper.held == RESOURCES

    run_with_store(scenario)


class HungStore(FlakyStore):
    """A store whose reads never answer while ``hung`` is set."""

    def __init__(self, inner: ConfigStore) -> None:
        super().__init__(inner)
        self.hung = asyncio.Event()
        self.released = asyncio.Event()

    async def get(self, key: str) -> Item | None:
        if self.hung.is_set():
            await self.released.wait()
        return await super().get(key)


def test_a_hung_store_counts_as_unavailable(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        hung = HungStore(store)
        keeper = group.join("a", hung)
        await keeper.tick()
        # The store stops answering: any timeout will do, as reads never return.
        keeper.config = replace(CONFIG, store_timeout_s=0.01)
        hung.hung.set()

        group.clock.advance(HEARTBEAT_S)
        result = await keeper.tick()

        assert not result.store_available
        assert keeper.held == RESOURCES
        hung.released.set()

    run_with_store(scenario)


def test_start_and_stop_run_the_heartbeat_in_the_background(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        keeper = group.join("a")

        await keeper.start()
        for _ in range(500):  # the first heartbeat runs at once; wait for it, bounded
            if group.working("a") == RESOURCES:
                break
            await asyncio.sleep(0.01)
        assert group.working("a") == RESOURCES
        await keeper.stop()
        await keeper.stop()

        assert group.working("a") == set()
        table = LeaseTable(store, "lease/async/", clock=group.clock)
        assert await table.list() == [], "work and membership released"
        with pytest.raises(RuntimeError):
            await keeper.start()

    run_with_store(scenario)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        KeeperConfig(ttl_s=0)
    with pytest.raises(ValueError):
        KeeperConfig(ttl_s=3, heartbeat_s=3)
    with pytest.raises(ValueError):
        KeeperConfig(ttl_s=9, stall_after_s=2)
    config = KeeperConfig(ttl_s=9)
    assert (config.heartbeat_interval_s, config.margin_s, config.timeout_s) == (3, 0.9, 1.5)


def test_keepers_ticking_concurrently_never_share_a_resource(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        group = Group(store)
        for owner in "abcd":
            group.join(owner)

        for _ in range(4):
            await asyncio.gather(*(keeper.tick() for keeper in group.keepers.values()))
            group.assert_nobody_works_twice()

        assert sorted(group.shares().values()) == [2, 2, 2, 2]

    run_with_store(scenario)
