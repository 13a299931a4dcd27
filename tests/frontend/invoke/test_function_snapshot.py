"""Static stability of the L1 function cache: last known views and the disk snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from roost.frontend.invoke.function_cache import FunctionCache
from roost.frontend.invoke.function_snapshot import FunctionSnapshot
from roost.functions.aliases import Alias, AliasRepository
from roost.functions.attachments import AttachmentRepository
from roost.functions.repository import FunctionRepository
from roost.store.errors import StoreUnavailable
from roost.store.faults import FaultMode, FaultSwitch, FaultTarget, FaultyConfigStore
from roost.store.memory.config import MemoryConfigStore
from tests.frontend.invoke.test_function_cache import active
from tests.functions.test_repository import ACCOUNT


def _cache(store: FaultyConfigStore, snapshot: FunctionSnapshot | None = None) -> FunctionCache:
    return FunctionCache(
        FunctionRepository(store),
        AliasRepository(store),
        AttachmentRepository(store),
        snapshot=snapshot,
    )


def test_a_known_function_is_served_while_the_store_is_down() -> None:
    async def scenario() -> None:
        # Given a function the cache has read once
        switch = FaultSwitch()
        store = FaultyConfigStore(MemoryConfigStore(), switch)
        await FunctionRepository(store).create(active("f"))
        cache = _cache(store)
        assert await cache.get(ACCOUNT, "f") is not None
        assert await cache.reserved_in_account(ACCOUNT) == 0

        # When the store fails and the control plane invalidates the function
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.FAIL)
        cache.invalidate(ACCOUNT, "f")

        # Then the last known view is served, and an unknown function fails
        view = await cache.get(ACCOUNT, "f")
        assert view is not None and view.record.name == "f"
        assert await cache.reserved_in_account(ACCOUNT) == 0
        with pytest.raises(StoreUnavailable):
            await cache.get(ACCOUNT, "never-seen")

    asyncio.run(scenario())


def test_a_restart_during_an_outage_serves_the_snapshot(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Given a node that served a function with an alias, then stopped
        switch = FaultSwitch()
        store = FaultyConfigStore(MemoryConfigStore(), switch)
        await FunctionRepository(store).create(active("f"))
        aliases = AliasRepository(store)
        await store.commit([aliases.put(ACCOUNT, Alias("live", "f", "$LATEST"), create=True)])
        before = _cache(store, FunctionSnapshot(tmp_path / "snap.json", save_delay_s=0))
        served = await before.get(ACCOUNT, "f")
        await before.flush()

        # When it starts again while the store is down
        switch.set(FaultTarget.CONFIG_STORE, FaultMode.FAIL)
        after = _cache(store, FunctionSnapshot(tmp_path / "snap.json"))

        # Then it serves the same view from the snapshot
        assert await after.get(ACCOUNT, "f") == served
        assert served is not None and "live" in served.aliases

    asyncio.run(scenario())


def test_the_store_wins_over_the_snapshot_once_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Given a snapshot of a function that was deleted since
        switch = FaultSwitch()
        store = FaultyConfigStore(MemoryConfigStore(), switch)
        functions = FunctionRepository(store)
        created = await functions.create(active("f"))
        snapshot = FunctionSnapshot(tmp_path / "snap.json", save_delay_s=0)
        cache = _cache(store, snapshot)
        await cache.get(ACCOUNT, "f")
        await cache.flush()
        await functions.delete(created)

        # When a new cache reads it with the store up
        restarted = _cache(store, FunctionSnapshot(tmp_path / "snap.json", save_delay_s=0))

        # Then the store's answer (gone) wins, and the snapshot forgets it
        assert await restarted.get(ACCOUNT, "f") is None
        await restarted.flush()
        assert FunctionSnapshot(tmp_path / "snap.json").load().views == {}

    asyncio.run(scenario())


def test_an_unreadable_snapshot_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    path.write_text("{not json")
    assert FunctionSnapshot(path).load().views == {}
