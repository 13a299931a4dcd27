"""``SyncPathInvoker``: an event whose version or alias this node's cache has not
heard of yet is looked up again before it is called gone."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from roost.api.errors import ResourceNotFoundException
from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.invoker import SyncPathInvoker


@dataclass
class Outcome:
    payload: bytes = b'"ok"'
    function_error: str | None = None


@dataclass
class Config:
    version: str = "3"


@dataclass
class Handlers:
    """The sync path's handlers, as the invoker uses them: the cache knows the
    qualifier only once it was reloaded (``known_after_reload``)."""

    known_after_reload: bool
    reloaded: list[tuple[str, str]] = field(default_factory=list)

    async def reload(self, account_id: str, name: str) -> None:
        self.reloaded.append((account_id, name))

    async def resolve(self, ctx: Any, name: str, qualifier: str | None) -> tuple[Any, Config]:
        if not (self.known_after_reload and self.reloaded):
            raise ResourceNotFoundException(f"Function not found: {name}:{qualifier}")
        return object(), Config()

    async def execute(self, *args: Any) -> Outcome:
        return Outcome()


def an_event() -> AsyncEvent:
    now_ms = int(time.time() * 1000)
    return AsyncEvent("rid", "000000000000", "us-east-1", "fn", "live", b"{}", now_ms)


def test_a_qualifier_the_cache_had_not_heard_of_runs_after_a_reload() -> None:
    handlers = Handlers(known_after_reload=True)
    result = asyncio.run(SyncPathInvoker(handlers).invoke(an_event()))  # type: ignore[arg-type]
    assert (result.payload, result.executed_version) == (b'"ok"', "3")
    assert handlers.reloaded == [("000000000000", "fn")]


def test_a_qualifier_still_unknown_after_the_reload_is_gone() -> None:
    handlers = Handlers(known_after_reload=False)
    with pytest.raises(ResourceNotFoundException):
        asyncio.run(SyncPathInvoker(handlers).invoke(an_event()))  # type: ignore[arg-type]
    assert handlers.reloaded == [("000000000000", "fn")]
