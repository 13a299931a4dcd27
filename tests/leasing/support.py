"""Leasing test doubles: a store that can be made unavailable, a recording listener."""

from __future__ import annotations

from collections.abc import Sequence

from roost.store.errors import StoreUnavailable
from roost.store.ports import CommitResult, ConfigStore, Item, Write


class FlakyStore:
    """Wraps a ``ConfigStore``; while ``down`` every call raises ``StoreUnavailable``."""

    def __init__(self, inner: ConfigStore) -> None:
        self.inner = inner
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("injected outage")

    async def get(self, key: str) -> Item | None:
        self._check()
        return await self.inner.get(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[Item]:
        self._check()
        return await self.inner.list(prefix, start_after=start_after, limit=limit)

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        self._check()
        return await self.inner.commit(writes)

    async def close(self) -> None:
        """The wrapped store belongs to the test fixture, which closes it."""


class Recorder:
    """A ``LeaseListener`` that tracks what its poller would be working on."""

    def __init__(self) -> None:
        self.working: set[str] = set()
        self.events: list[tuple[str, str]] = []

    async def on_acquired(self, resource: str) -> None:
        assert resource not in self.working, f"acquired {resource} twice"
        self.working.add(resource)
        self.events.append(("acquired", resource))

    async def on_lost(self, resource: str) -> None:
        assert resource in self.working, f"lost {resource} it never had"
        self.working.discard(resource)
        self.events.append(("lost", resource))
