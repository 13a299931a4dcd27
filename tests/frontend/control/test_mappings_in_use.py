"""Mappings in transition refuse changes: handlers in process, transitions settled by hand.

Over HTTP the activator settles within milliseconds, so the window in which AWS
answers ``ResourceInUseException`` is held open here with ``auto_settle=False``.
"""

from __future__ import annotations

from typing import Any

import pytest

from roost.api.errors import ResourceInUseException
from roost.esm.lifecycle import MappingActivator
from roost.esm.repository import MappingRepository
from roost.frontend.context import RequestContext
from roost.frontend.control.mappings import EventSourceMappingHandlers
from roost.store.memory import MemoryMappingStore
from tests.frontend.control.support import ACCOUNT_ID, REGION, InProcessPlane, run_in_process

QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:jobs"


class Mappings:
    """The mapping handlers over a memory store, with transitions left open."""

    def __init__(self, plane: InProcessPlane) -> None:
        self.repository = MappingRepository(MemoryMappingStore())
        self.activator = MappingActivator(self.repository, auto_settle=False)
        self._handlers = EventSourceMappingHandlers(plane.cp, self.repository, self.activator)

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        ctx = RequestContext(ACCOUNT_ID, "test", "request", REGION, operation)
        return await self._handlers.routes()[operation](ctx, params)

    async def settle(self, uuid: str) -> None:
        self.activator.auto_settle = True
        await self.activator.settle(uuid)
        self.activator.auto_settle = False


def test_update_while_creating_is_refused() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        mappings = Mappings(plane)
        created = await mappings.call(
            "CreateEventSourceMapping", FunctionName="fn", EventSourceArn=QUEUE
        )
        assert created["State"] == "Creating"

        with pytest.raises(ResourceInUseException, match="Cannot update"):
            await mappings.call("UpdateEventSourceMapping", UUID=created["UUID"], BatchSize=5)

        await mappings.settle(created["UUID"])
        updated = await mappings.call("UpdateEventSourceMapping", UUID=created["UUID"], BatchSize=5)
        assert (updated["State"], updated["BatchSize"]) == ("Updating", 5)

    run_in_process(scenario)


@pytest.mark.parametrize("change", [{"BatchSize": 5}, {"Enabled": False}])
def test_delete_while_updating_is_refused_but_not_while_disabling(change: dict[str, Any]) -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        mappings = Mappings(plane)
        uuid = (
            await mappings.call("CreateEventSourceMapping", FunctionName="fn", EventSourceArn=QUEUE)
        )["UUID"]
        await mappings.settle(uuid)
        state = (await mappings.call("UpdateEventSourceMapping", UUID=uuid, **change))["State"]

        if state == "Updating":
            with pytest.raises(ResourceInUseException, match="Cannot delete"):
                await mappings.call("DeleteEventSourceMapping", UUID=uuid)
        else:
            assert state == "Disabling"
            deleted = await mappings.call("DeleteEventSourceMapping", UUID=uuid)
            assert deleted["State"] == "Deleting"

    run_in_process(scenario)


def test_a_deleting_mapping_refuses_everything_but_reads() -> None:
    async def scenario(plane: InProcessPlane) -> None:
        await plane.deploy("fn")
        mappings = Mappings(plane)
        uuid = (
            await mappings.call("CreateEventSourceMapping", FunctionName="fn", EventSourceArn=QUEUE)
        )["UUID"]
        await mappings.call("DeleteEventSourceMapping", UUID=uuid)

        with pytest.raises(ResourceInUseException):
            await mappings.call("UpdateEventSourceMapping", UUID=uuid, Enabled=False)
        with pytest.raises(ResourceInUseException):
            await mappings.call("DeleteEventSourceMapping", UUID=uuid)
        assert (await mappings.call("GetEventSourceMapping", UUID=uuid))["State"] == "Deleting"
        listed = await mappings.call("ListEventSourceMappings", FunctionName="fn")
        assert [m["State"] for m in listed["EventSourceMappings"]] == ["Deleting"]

        await mappings.settle(uuid)
        assert (await mappings.call("ListEventSourceMappings"))["EventSourceMappings"] == []

    run_in_process(scenario)
