"""The async plane's background loops (depth refresh, reapers) outlive their own bugs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable

from roost.async_invoke.backlog_shards import shard_queue_name
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import encode
from roost.store.memory import MemoryQueueStore
from roost.store.ports import QueueDepth
from tests.async_invoke.test_backlog_shards import NOISY, SETTINGS, accept, an_event, build

QUEUE = "q"


class FirstDepthFails(MemoryQueueStore):
    """A real in-memory queue store whose first ``depth`` hits a bug."""

    def __init__(self) -> None:
        super().__init__()
        self.depths = 0

    async def depth(self, queue: str) -> QueueDepth:
        self.depths += 1
        if self.depths == 1:
            raise RuntimeError("bug")
        return await super().depth(queue)


async def running_for(loop: Awaitable[None], seconds: float) -> None:
    task = asyncio.ensure_future(loop)
    await asyncio.sleep(seconds)
    assert not task.done(), "the loop ended"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_the_depth_refresh_goes_on_after_an_unexpected_error() -> None:
    async def scenario() -> None:
        # Given a gauge whose first refresh fails for an unexpected reason
        store = FirstDepthFails()
        gauge = DepthGauge(store, [QUEUE])
        for _ in range(3):
            await store.send(QUEUE, b"{}")

        # When it refreshes in the background for a while
        await running_for(gauge.run(0.01), 0.1)

        # Then it counted the queue's messages after all
        assert gauge.depth(QUEUE) == 3

    asyncio.run(scenario())


def test_the_backlog_shard_reaper_goes_on_after_an_unexpected_error() -> None:
    async def scenario() -> None:
        # Given an open backlog shard whose backlog is gone, and a store that fails once
        store = FirstDepthFails()
        settings = dataclasses.replace(SETTINGS, reap_interval_s=0.01)
        router, shards, ledger, _ = build(store, settings)
        target = shard_queue_name(NOISY)
        events = [an_event(index) for index in range(12)]
        for event in events:
            await store.send(accept(router, ledger, event), encode(event))
        assert shards.queues() == [target]
        for message in await store.receive(target, max_messages=10):
            await store.delete(target, message.receipt)
        for event in events:
            ledger.done(event)

        # When the reaper runs for a while
        await running_for(shards.run(store), 0.1)

        # Then the shard was reaped
        assert shards.queues() == []

    asyncio.run(scenario())
