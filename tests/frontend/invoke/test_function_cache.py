"""The L1 function cache: loads, invalidation, and loads racing an invalidation."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from roost.frontend.invoke.function_cache import FunctionCache
from roost.functions.aliases import AliasRepository
from roost.functions.attachments import AttachmentKind, AttachmentRepository
from roost.functions.model import State
from roost.functions.repository import FunctionRecord, FunctionRepository
from roost.store.memory.config import MemoryConfigStore
from tests.functions.test_repository import ACCOUNT, latest, version


def active(name: str) -> FunctionRecord:
    return FunctionRecord(account_id=ACCOUNT, latest=latest(name, state=State.ACTIVE))


class PausingStore(MemoryConfigStore):
    """A store whose reads can be held at a gate, to interleave a change."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None

    async def list(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self.gate is not None:
            await self.gate.wait()
        return await super().list(*args, **kwargs)  # type: ignore[arg-type]


def test_a_load_that_raced_a_change_is_not_kept() -> None:
    async def scenario() -> None:
        store = PausingStore()
        functions = FunctionRepository(store)
        cache = FunctionCache(functions, AliasRepository(store))
        created = await functions.create(active("f"))
        store.gate = asyncio.Event()

        # A load (an invoke's miss, or preparing a function) reads the record,
        # then waits; meanwhile a version is published and the cache told.
        loading = asyncio.create_task(cache.get(ACCOUNT, "f"))
        await asyncio.sleep(0.01)
        await functions.save(created, [replace(version("f", 1), state=State.ACTIVE)])
        cache.invalidate(ACCOUNT, "f")
        store.gate.set()
        stale = await loading
        store.gate = None

        fresh = await cache.get(ACCOUNT, "f")
        # The raced load read the record from before the change: not cached.
        assert stale is not None and fresh is not None
        assert stale.record.store_revision == created.store_revision
        assert fresh.record.store_revision != created.store_revision
        assert "1" in fresh.versions

    asyncio.run(scenario())


def test_a_view_is_kept_until_the_function_changes() -> None:
    async def scenario() -> None:
        store = MemoryConfigStore()
        functions = FunctionRepository(store)
        cache = FunctionCache(functions, AliasRepository(store))
        created = await functions.create(active("f"))

        first = await cache.get(ACCOUNT, "f")
        await functions.save(created, [replace(version("f", 1), state=State.ACTIVE)])
        unchanged = await cache.get(ACCOUNT, "f")
        cache.invalidate(ACCOUNT, "f")
        changed = await cache.get(ACCOUNT, "f")

        assert first is unchanged
        assert changed is not None and "1" in changed.versions

    asyncio.run(scenario())


def test_event_invoke_configs_are_read_with_the_function_and_kept_until_it_changes() -> None:
    async def scenario() -> None:
        store = MemoryConfigStore()
        functions = FunctionRepository(store)
        attachments = AttachmentRepository(store)
        cache = FunctionCache(functions, AliasRepository(store), attachments)
        await functions.create(active("f"))
        kind = AttachmentKind.EVENT_INVOKE_CONFIG
        await store.commit([attachments.put(kind, ACCOUNT, "f", "$LATEST", {"A": 1})])

        first = await cache.event_invoke_config(ACCOUNT, "f", "$LATEST")
        await store.commit([attachments.put(kind, ACCOUNT, "f", "live", {"B": 2})])
        before = await cache.event_invoke_config(ACCOUNT, "f", "live")
        cache.invalidate(ACCOUNT, "f")
        after = await cache.event_invoke_config(ACCOUNT, "f", "live")

        assert first == {"A": 1}
        assert before is None  # Not read again until the control plane says so.
        assert after == {"B": 2}
        assert await cache.event_invoke_config(ACCOUNT, "missing", "$LATEST") is None

    asyncio.run(scenario())
