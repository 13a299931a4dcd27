"""The ESM plane's own lifecycle: its reconciler starts and stops with the node."""

from __future__ import annotations

import asyncio

from roost.esm.mapping import EventSourceMapping
from roost.esm.orchestrator import InvokeResult
from roost.esm.plane import EsmPlane, EsmSettings
from roost.esm.repository import MappingRepository
from roost.store.memory.config import MemoryConfigStore
from roost.store.memory.mappings import MemoryMappingStore


class NoFunctions:
    """A ``BatchInvoker`` for a plane with no mappings to run."""

    async def invoke(self, mapping: EventSourceMapping, payload: bytes) -> InvokeResult:
        raise AssertionError("nothing should be invoked")


def test_a_plane_woken_as_it_stops_still_stops() -> None:
    # A mapping change nudging the reconciler in the very loop pass the node's
    # stop cancels it used to be swallowed by asyncio.wait_for (Python 3.11):
    # the reconciler went on, and the node never finished stopping.
    async def main() -> None:
        settings = EsmSettings(reconcile_interval_s=60.0)
        plane = EsmPlane(
            settings,
            MappingRepository(MemoryMappingStore()),
            MemoryConfigStore(),
            NoFunctions(),
            {},
        )
        await plane.start()
        for _ in range(20):
            await asyncio.sleep(0)  # the first pass is done; it waits to be woken
        plane.nudge()
        stopping = asyncio.create_task(plane.stop())
        done, _ = await asyncio.wait({stopping}, timeout=10.0)

        assert stopping in done, "the plane did not stop"

    asyncio.run(main())
