"""Fault injection beyond the config and mapping stores: the queue store wrapper and the
hooks of destinations, event source clients and worker host placement."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from roost.destinations.delivery import DeliveryStatus, DestinationDelivery
from roost.destinations.records import Condition
from roost.esm.aws_clients import AwsClients as EsmAwsClients
from roost.flow.circuit_breaker import BreakerBoard, BreakerSettings
from roost.frontend.invoke.placement import PlacementService
from roost.store.errors import StoreUnavailable
from roost.store.faults import (
    FaultMode,
    FaultSwitch,
    FaultTarget,
    FaultyQueueStore,
    InjectedFault,
)
from roost.store.memory.queues import MemoryQueueStore
from roost.store.ports import QueueStore
from tests.destinations.conftest import FAST_RETRIES, FakeInvoker
from tests.frontend.invoke.test_placement_breakers import FakeHost

FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:target"


def test_the_queue_wrapper_implements_the_port() -> None:
    assert isinstance(FaultyQueueStore(MemoryQueueStore(), FaultSwitch()), QueueStore)


def test_a_failing_queue_store_persists_nothing_and_recovers() -> None:
    async def scenario() -> None:
        # Given a queue holding one message, behind a switch
        switch = FaultSwitch()
        store = FaultyQueueStore(MemoryQueueStore(), switch)
        await store.send("q", b"before")

        # When the queue store fails
        switch.set(FaultTarget.QUEUE_STORE, FaultMode.FAIL)

        # Then sends fail and leave nothing behind, and reads fail too
        with pytest.raises(StoreUnavailable, match="queue-store"):
            await store.send("q", b"lost")
        with pytest.raises(StoreUnavailable):
            await store.send_batch("q", [b"a", b"b"])
        with pytest.raises(StoreUnavailable):
            await store.receive("q", max_messages=10)
        with pytest.raises(StoreUnavailable):
            await store.depth("q")

        # And once it is back only the message sent before is there
        switch.set(FaultTarget.QUEUE_STORE, FaultMode.OK)
        assert (await store.depth("q")).total == 1
        [message] = await store.receive("q", max_messages=10)
        assert message.body == b"before"
        assert await store.delete("q", message.receipt)
        await store.close()

    asyncio.run(scenario())


def test_a_slow_queue_store_delays_each_call() -> None:
    async def scenario() -> None:
        switch = FaultSwitch()
        store = FaultyQueueStore(MemoryQueueStore(), switch)
        switch.set(FaultTarget.QUEUE_STORE, FaultMode.SLOW, delay_ms=50)
        started = time.monotonic()
        await store.send("q", b"x")
        assert time.monotonic() - started >= 0.045
        assert (await store.depth("q")).total == 1

    asyncio.run(scenario())


def test_hooks_of_other_dependencies_raise_injected_faults() -> None:
    async def scenario() -> None:
        switch = FaultSwitch()
        hook = switch.hook(FaultTarget.EVENT_SOURCES)
        await hook()  # OK: passes.
        switch.set(FaultTarget.EVENT_SOURCES, FaultMode.FAIL)
        with pytest.raises(InjectedFault, match="event-sources"):
            await hook()
        # Other targets are untouched.
        await switch.hook(FaultTarget.DESTINATIONS)()

    asyncio.run(scenario())


def test_a_failing_destination_fails_the_delivery_and_its_recovery_sends() -> None:
    async def scenario() -> None:
        # Given a delivery to a function destination, behind a switch
        switch = FaultSwitch()
        invoker = FakeInvoker()
        delivery = DestinationDelivery(
            None,  # type: ignore[arg-type]  # A function destination needs no AWS client.
            invoker,
            policy=FAST_RETRIES,
            faults=switch.hook(FaultTarget.DESTINATIONS),
        )
        record: dict[str, Any] = {"requestContext": {"functionArn": FUNCTION_ARN}}

        # When destinations fail, the delivery fails without reaching the target
        switch.set(FaultTarget.DESTINATIONS, FaultMode.FAIL)
        status = await delivery.deliver_record(FUNCTION_ARN, record, Condition.SUCCESS)
        assert status is DeliveryStatus.FAILED
        assert invoker.calls == []

        # And once they are back, it is delivered
        switch.clear()
        status = await delivery.deliver_record(FUNCTION_ARN, record, Condition.SUCCESS)
        assert status is DeliveryStatus.SENT
        assert len(invoker.calls) == 1

    asyncio.run(scenario())


def test_a_failing_event_source_fails_calls_before_the_network() -> None:
    async def scenario() -> None:
        switch = FaultSwitch()
        # A closed endpoint: a call that got through would fail differently.
        clients = EsmAwsClients(
            "sqs", "http://127.0.0.1:9", faults=switch.hook(FaultTarget.EVENT_SOURCES)
        )
        switch.set(FaultTarget.EVENT_SOURCES, FaultMode.FAIL)
        try:
            with pytest.raises(InjectedFault):
                await clients.call("us-east-1", "list_queues")
        finally:
            clients.close()

    asyncio.run(scenario())


def test_a_failing_worker_host_counts_against_its_breaker() -> None:
    async def scenario() -> None:
        switch = FaultSwitch()
        host = FakeHost()
        board = BreakerBoard("worker_host", BreakerSettings(consecutive_failures=2))
        placement = PlacementService(
            host,  # type: ignore[arg-type]
            60,
            60,
            breakers=board,
            faults=switch.hook(FaultTarget.WORKER_HOST),
        )
        switch.set(FaultTarget.WORKER_HOST, FaultMode.FAIL)
        with pytest.raises(InjectedFault):
            await placement.place("000000000000", None)  # type: ignore[arg-type]
        assert host.created == []
        switch.clear()
        env = await placement.place("000000000000", None)  # type: ignore[arg-type]
        assert host.created == [env]

    asyncio.run(scenario())
