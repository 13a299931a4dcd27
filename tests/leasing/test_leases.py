"""``LeaseTable`` over every config store: conditional acquire, renew, release, expiry.

Time is a ``FakeClock``: expiry is reached by moving the clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from roost.leasing import Lease, LeaseLost, LeaseTable
from roost.store.ports import ConfigStore
from roost.store.sqlite import SqliteConfigStore
from tests.fixtures.stores import FakeClock, RunWithStore

TTL_S = 10.0


def table_of(store: ConfigStore, clock: FakeClock) -> LeaseTable:
    return LeaseTable(store, "lease/test/", clock=clock)


def test_acquire_free_resource(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)

        lease = await table.acquire("queue-1", "a", TTL_S)

        assert lease is not None
        assert lease.owner == "a"
        assert lease.acquired_at_ms == table.now_ms()
        assert lease.expires_at_ms == table.now_ms() + 10_000
        assert lease.renew_count == 0
        assert await table.get("queue-1") == lease
        assert (await store.get("lease/test/queue-1")) is not None

    run_with_store(scenario)


def test_racing_acquires_only_one_wins(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        table = table_of(store, FakeClock())

        results = await asyncio.gather(
            *(table.acquire("queue-1", f"owner-{n}", TTL_S) for n in range(8))
        )

        winners = [lease for lease in results if lease is not None]
        assert len(winners) == 1
        assert (await table.get("queue-1")) == winners[0]

    run_with_store(scenario)


def test_racing_takeovers_of_an_expired_lease_only_one_wins(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        await table.acquire("queue-1", "old", TTL_S)
        clock.advance(TTL_S)

        results = await asyncio.gather(
            *(table.acquire("queue-1", f"owner-{n}", TTL_S) for n in range(8))
        )

        winners = [lease for lease in results if lease is not None]
        assert len(winners) == 1
        assert winners[0].owner != "old"

    run_with_store(scenario)


def test_held_lease_is_refused_to_others_until_it_expires(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        first = await table.acquire("queue-1", "a", TTL_S)
        assert first is not None

        clock.advance(TTL_S - 0.001)
        assert await table.acquire("queue-1", "b", TTL_S) is None

        clock.advance(0.001)
        taken = await table.acquire("queue-1", "b", TTL_S)
        assert taken is not None
        assert taken.owner == "b"
        assert taken.acquired_at_ms == table.now_ms()

    run_with_store(scenario)


def test_acquire_by_the_holder_extends_it(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        first = await table.acquire("queue-1", "a", TTL_S)
        clock.advance(5)

        again = await table.acquire("queue-1", "a", TTL_S)

        assert first is not None and again is not None
        assert again.acquired_at_ms == first.acquired_at_ms
        assert again.expires_at_ms == first.expires_at_ms + 5_000

    run_with_store(scenario)


def test_renew_extends_and_counts(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        lease = await table.acquire("queue-1", "a", TTL_S)
        assert lease is not None
        clock.advance(3)

        renewed = await table.renew(lease, TTL_S, progress_at_ms=table.now_ms() - 1)

        assert renewed.expires_at_ms == table.now_ms() + 10_000
        assert renewed.renew_count == 1
        assert renewed.progress_at_ms == table.now_ms() - 1
        assert renewed.revision != lease.revision
        assert await table.get("queue-1") == renewed

    run_with_store(scenario)


def test_renew_by_a_non_owner_is_refused(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        held = await table.acquire("queue-1", "a", TTL_S)
        assert held is not None
        # b presents a lease in its own name with the current revision.
        forged = Lease("queue-1", "b", held.expires_at_ms, held.revision, held.acquired_at_ms)

        with pytest.raises(LeaseLost) as refused:
            await table.renew(forged, TTL_S)

        assert refused.value.holder == "a"
        assert await table.get("queue-1") == held

    run_with_store(scenario)


def test_renew_after_a_takeover_is_refused(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        stale = await table.acquire("queue-1", "a", TTL_S)
        assert stale is not None
        clock.advance(TTL_S + 1)
        taken = await table.acquire("queue-1", "b", TTL_S)

        with pytest.raises(LeaseLost):
            await table.renew(stale, TTL_S)

        assert await table.get("queue-1") == taken

    run_with_store(scenario)


def test_an_expired_lease_nobody_took_can_still_be_renewed(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        lease = await table.acquire("queue-1", "a", TTL_S)
        assert lease is not None
        clock.advance(TTL_S * 2)

        renewed = await table.renew(lease, TTL_S)

        assert not renewed.is_expired(table.now_ms())
        assert renewed.acquired_at_ms == lease.acquired_at_ms

    run_with_store(scenario)


def test_release_frees_the_resource_at_once(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        table = table_of(store, FakeClock())
        lease = await table.acquire("queue-1", "a", TTL_S)
        assert lease is not None

        assert await table.release(lease)

        assert await table.get("queue-1") is None
        assert await table.acquire("queue-1", "b", TTL_S) is not None
        assert not await table.release(lease), "a's lease is b's now"
        assert (await table.get("queue-1") or lease).owner == "b"

    run_with_store(scenario)


def test_revoke_refuses_the_next_renewal_and_frees_after_the_grace(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = table_of(store, clock)
        lease = await table.acquire("queue-1", "a", TTL_S)
        assert lease is not None

        assert await table.revoke(lease, grace_s=2)
        assert not await table.revoke(lease, grace_s=2), "the revision changed"

        with pytest.raises(LeaseLost):
            await table.renew(lease, TTL_S)
        assert await table.acquire("queue-1", "b", TTL_S) is None
        assert await table.acquire("queue-1", "a", TTL_S) is None
        clock.advance(2)
        assert await table.acquire("queue-1", "b", TTL_S) is not None

    run_with_store(scenario)


def test_list_by_prefix_and_scopes(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        table = table_of(store, FakeClock())
        work = table.scoped("work")
        members = table.scoped("members")
        for resource in ("sqs/b", "sqs/a", "kinesis/a"):
            await work.acquire(resource, "a", TTL_S)
        await members.acquire("a", "a", TTL_S)

        assert [lease.resource for lease in await work.list()] == ["kinesis/a", "sqs/a", "sqs/b"]
        assert [lease.resource for lease in await work.list("sqs/")] == ["sqs/a", "sqs/b"]
        assert [lease.resource for lease in await members.list()] == ["a"]
        assert work.key("sqs/a") == "lease/test/work/sqs/a"

    run_with_store(scenario)


def test_list_pages_through_many_leases(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        table = table_of(store, FakeClock())
        names = [f"q{n:04d}" for n in range(1_203)]
        for name in names:
            await table.acquire(name, "a", TTL_S)

        assert [lease.resource for lease in await table.list()] == names

    run_with_store(scenario)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        LeaseTable(object(), "")  # type: ignore[arg-type]
    table = LeaseTable(object(), "lease/")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        table.key("")

    async def zero_ttl() -> None:
        await table.acquire("q", "a", 0)

    with pytest.raises(ValueError):
        asyncio.run(zero_ttl())


def test_two_connections_to_one_database_race_for_a_lease(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "config.sqlite3"
        stores = [await SqliteConfigStore.open(path) for _ in range(2)]
        try:
            clock = FakeClock()
            tables = [table_of(store, clock) for store in stores]

            results = await asyncio.gather(
                *(tables[n % 2].acquire("queue-1", f"owner-{n}", TTL_S) for n in range(6))
            )

            assert len([lease for lease in results if lease is not None]) == 1
        finally:
            for store in stores:
                await store.close()

    asyncio.run(scenario())
