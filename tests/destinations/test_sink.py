"""``DestinationSink`` picks OnSuccess, OnFailure and the DLQ from a function's configuration."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from roost.destinations.delivery import DestinationDelivery
from roost.destinations.outbox import DeliveryNotParked
from roost.destinations.records import (
    AsyncEvent,
    Condition,
    DeadLetterMessage,
    InvocationResult,
)
from roost.destinations.sink import DestinationSink
from roost.functions.aliases import Alias, AliasRepository
from roost.functions.attachments import AttachmentKind, AttachmentRepository
from roost.functions.model import CodeLocation, FunctionConfig
from roost.functions.repository import FunctionRecord, FunctionRepository
from roost.store.errors import StoreUnavailable
from roost.store.memory import MemoryConfigStore
from roost.store.ports import ConfigStore
from tests.destinations.conftest import MotoResources
from tests.fixtures.stores import RunWithStore

ACCOUNT = "000000000000"
REGION = "us-east-1"
CODE = CodeLocation(sha256_hex="cd" * 32, code_sha256="zc0=", size_bytes=3)
SUCCESS_QUEUE = "arn:aws:sqs:us-east-1:123456789012:on-success"
FAILURE_TOPIC = "arn:aws:sns:us-east-1:123456789012:on-failure"
DLQ = "arn:aws:sqs:us-east-1:123456789012:dlq"
NOW = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.UTC)
OK = InvocationResult(payload=b'{"ok": 1}', executed_version="$LATEST")
ERROR = InvocationResult(
    payload=b'{"errorMessage": "boom"}', function_error="Unhandled", executed_version="$LATEST"
)


@dataclass
class RecordingDelivery:
    """A ``RecordDelivery`` that remembers what it was asked to send."""

    records: list[tuple[str, Mapping[str, Any], Condition]] = field(default_factory=list)
    dead_letters: list[tuple[str, DeadLetterMessage]] = field(default_factory=list)

    async def send_record(
        self, destination_arn: str, record: Mapping[str, Any], condition: Condition
    ) -> bool:
        self.records.append((destination_arn, record, condition))
        return True

    async def send_dead_letter(self, target_arn: str, message: DeadLetterMessage) -> bool:
        self.dead_letters.append((target_arn, message))
        return True


def config(name: str, version: str = "$LATEST", dlq: str | None = None) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.12",
        role="arn:aws:iam::000000000000:role/lambda-role",
        handler="app.handler",
        code=CODE,
        version=version,
        dead_letter_target_arn=dlq,
    )


async def given_function(
    store: ConfigStore,
    name: str,
    *,
    dlq: str | None = None,
    destinations: Mapping[str, str] | None = None,
    qualifier: str = "$LATEST",
) -> None:
    """A function with an optional DLQ and an event invoke config on ``qualifier``."""
    await FunctionRepository(store).create(
        FunctionRecord(ACCOUNT, config(name, dlq=dlq), last_version=1),
        [config(name, "1", dlq="arn:aws:sqs:us-east-1:123456789012:dlq-of-v1")],
    )
    if destinations is not None:
        document = {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {k: {"Destination": v} for k, v in destinations.items()},
        }
        put = AttachmentRepository.put(
            AttachmentKind.EVENT_INVOKE_CONFIG, ACCOUNT, name, qualifier, document
        )
        await store.commit([put])


def event(name: str, qualifier: str = "$LATEST", count: int = 1) -> AsyncEvent:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{qualifier}"
    return AsyncEvent("req-1", arn, b'{"n": 1}', count)


def sink_of(store: ConfigStore, delivery: Any) -> DestinationSink:
    return DestinationSink(store, delivery, clock=lambda: NOW)


def test_success_goes_to_on_success_only(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        destinations = {"OnSuccess": SUCCESS_QUEUE, "OnFailure": FAILURE_TOPIC}
        await given_function(store, "f", dlq=DLQ, destinations=destinations)
        delivery = RecordingDelivery()

        await sink_of(store, delivery).succeeded(event("f"), OK)

        [(arn, record, condition)] = delivery.records
        assert (arn, condition) == (SUCCESS_QUEUE, Condition.SUCCESS)
        assert record["requestContext"]["condition"] == "Success"
        assert record["timestamp"] == "2026-11-27T14:30:00.000Z"
        assert delivery.dead_letters == []

    run_with_store(scenario)


def test_failure_goes_to_on_failure_and_the_dlq(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        destinations = {"OnSuccess": SUCCESS_QUEUE, "OnFailure": FAILURE_TOPIC}
        await given_function(store, "f", dlq=DLQ, destinations=destinations)
        delivery = RecordingDelivery()

        await sink_of(store, delivery).failed(event("f", count=3), "RetriesExhausted", ERROR)

        [(arn, record, condition)] = delivery.records
        assert (arn, condition) == (FAILURE_TOPIC, Condition.RETRIES_EXHAUSTED)
        assert record["requestContext"]["approximateInvokeCount"] == 3
        assert record["responseContext"]["functionError"] == "Unhandled"
        [(dlq, message)] = delivery.dead_letters
        assert dlq == DLQ
        assert message.body == '{"n": 1}'

    run_with_store(scenario)


def test_failure_with_only_a_dlq(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await given_function(store, "f", dlq=DLQ)
        delivery = RecordingDelivery()

        await sink_of(store, delivery).failed(event("f"), Condition.EVENT_AGE_EXCEEDED, None)

        assert delivery.records == []
        [(dlq, message)] = delivery.dead_letters
        assert dlq == DLQ
        assert message.attributes["ErrorCode"]["StringValue"] == "429"

    run_with_store(scenario)


def test_nothing_configured_sends_nothing(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await given_function(store, "f", destinations={"OnFailure": FAILURE_TOPIC})
        delivery = RecordingDelivery()
        sink = sink_of(store, delivery)

        await sink.succeeded(event("f"), OK)
        await sink.succeeded(event("missing"), OK)
        await sink.failed(event("missing"), Condition.RETRIES_EXHAUSTED, ERROR)

        assert delivery.records == []
        assert delivery.dead_letters == []

    run_with_store(scenario)


def test_the_invoked_qualifier_selects_the_event_invoke_config(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        # Given destinations configured on version 1 only
        await given_function(store, "f", destinations={"OnSuccess": SUCCESS_QUEUE}, qualifier="1")
        delivery = RecordingDelivery()
        sink = sink_of(store, delivery)

        await sink.succeeded(event("f"), OK)
        assert delivery.records == []

        await sink.succeeded(event("f", "1"), InvocationResult(executed_version="1"))
        [(arn, record, _)] = delivery.records
        assert arn == SUCCESS_QUEUE
        assert record["requestContext"]["functionArn"].endswith(":function:f:1")
        assert record["responseContext"]["executedVersion"] == "1"

    run_with_store(scenario)


def test_the_dlq_of_the_version_that_ran(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        # Given $LATEST with one DLQ, version 1 with another, and an alias on version 1
        await given_function(store, "f", dlq=DLQ)
        alias = Alias(name="live", function_name="f", function_version="1")
        await store.commit([AliasRepository(store).put(ACCOUNT, alias, create=True)])
        delivery = RecordingDelivery()
        sink = sink_of(store, delivery)

        # When events through the alias fail, with and without a response
        await sink.failed(
            event("f", "live"), Condition.RETRIES_EXHAUSTED, InvocationResult(executed_version="1")
        )
        await sink.failed(event("f", "live"), Condition.EVENT_AGE_EXCEEDED, None)

        # Then both go to version 1's DLQ
        targets = [arn for arn, _ in delivery.dead_letters]
        assert targets == ["arn:aws:sqs:us-east-1:123456789012:dlq-of-v1"] * 2

    run_with_store(scenario)


def test_a_store_failure_is_logged_not_raised() -> None:
    class BrokenStore(MemoryConfigStore):
        async def get(self, key: str) -> Any:
            raise OSError("disk gone")

    delivery = RecordingDelivery()
    sink = sink_of(BrokenStore(), delivery)

    asyncio.run(sink.failed(event("f"), Condition.RETRIES_EXHAUSTED, ERROR))
    asyncio.run(sink.succeeded(event("f"), OK))

    assert delivery.records == []


def test_on_failure_and_dlq_land_in_moto(
    delivery: DestinationDelivery, moto: MotoResources
) -> None:
    # Given a function whose OnFailure destination and DLQ are two moto queues
    failure_url, failure_arn = moto.queue()
    dlq_url, dlq_arn = moto.queue()
    store = MemoryConfigStore()
    asyncio.run(given_function(store, "g", dlq=dlq_arn, destinations={"OnFailure": failure_arn}))

    # When an event of it exhausts its retries
    sink = sink_of(store, delivery)
    asyncio.run(sink.failed(event("g", count=3), Condition.RETRIES_EXHAUSTED, ERROR))

    # Then the record is in one queue and the event, with attributes, in the other
    [record_message] = moto.receive(failure_url)
    record = json.loads(record_message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"n": 1}
    assert record["responsePayload"] == {"errorMessage": "boom"}
    [dead_letter] = moto.receive(dlq_url)
    assert dead_letter["Body"] == '{"n": 1}'
    assert dead_letter["MessageAttributes"]["RequestID"]["StringValue"] == "req-1"


def test_a_vanished_alias_still_gets_its_on_failure_record(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        # Given an event invoke config on alias "old", which no longer exists
        await given_function(
            store, "f", dlq=DLQ, destinations={"OnFailure": FAILURE_TOPIC}, qualifier="old"
        )
        delivery = RecordingDelivery()

        await sink_of(store, delivery).failed(event("f", "old"), Condition.EVENT_AGE_EXCEEDED, None)

        # Then the record goes out; no version can be named for a DLQ
        assert [arn for arn, _, _ in delivery.records] == [FAILURE_TOPIC]
        assert delivery.dead_letters == []

    run_with_store(scenario)


def test_a_store_outage_raises_so_that_the_poller_keeps_the_event() -> None:
    class OutOfReach(MemoryConfigStore):
        async def get(self, key: str) -> Any:
            raise StoreUnavailable("config store unreachable")

    delivery = RecordingDelivery()
    sink = sink_of(OutOfReach(), delivery)

    # The dead-letter target of the version cannot be read: nothing may be dropped.
    with pytest.raises(StoreUnavailable):
        asyncio.run(sink.failed(event("f"), Condition.RETRIES_EXHAUSTED, ERROR))
    assert delivery.records == []


def test_a_failure_to_park_is_raised_once_both_sends_have_ended(
    run_with_store: RunWithStore,
) -> None:
    # Given an OnFailure record that cannot be parked at once, and a dead-letter
    # message whose send takes a moment and fails to park too
    @dataclass
    class NeitherParks(RecordingDelivery):
        ended: list[str] = field(default_factory=list)

        async def send_record(
            self, destination_arn: str, record: Mapping[str, Any], condition: Condition
        ) -> bool:
            self.ended.append("record")
            raise DeliveryNotParked("store down")

        async def send_dead_letter(self, target_arn: str, message: DeadLetterMessage) -> bool:
            await asyncio.sleep(0.05)
            self.ended.append("dead letter")
            raise DeliveryNotParked("store down")

    async def scenario(store: ConfigStore) -> None:
        await given_function(store, "f", dlq=DLQ, destinations={"OnFailure": FAILURE_TOPIC})
        delivery = NeitherParks()
        loop_errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, c: loop_errors.append(c))

        # Then the event's failure is raised (the poller keeps it) only when both
        # sends ended, and no failure is left unheard in a task of its own
        with pytest.raises(DeliveryNotParked):
            await sink_of(store, delivery).failed(event("f"), Condition.RETRIES_EXHAUSTED, ERROR)
        assert delivery.ended == ["record", "dead letter"]
        await asyncio.sleep(0.1)
        assert loop_errors == []

    run_with_store(scenario)
