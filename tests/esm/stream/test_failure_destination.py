"""Stream failure records delivered to moto's SQS and SNS; unsupported destinations refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest

from roost.destinations.aws import AwsClients
from roost.destinations.delivery import DestinationDelivery
from roost.destinations.records import Condition, DeadLetterMessage, InvocationResult
from roost.esm.connector import SourceRecord
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE
from roost.esm.mapping import EventSourceMapping, MappingSettings
from roost.esm.sources import EventSource, SourceType
from roost.esm.states import MappingState
from roost.esm.stream.failure_destination import (
    StreamFailureDestination,
    UnsupportedFailureDestinationError,
    on_failure_arn,
)
from roost.esm.stream.failure_record import (
    StreamFailureCondition,
    failure_record,
    kinesis_batch_info,
)
from tests.destinations.conftest import FAST_RETRIES, MotoResources
from tests.fixtures.moto_server import MOTO_CREDENTIALS, MotoServer

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
NOW = dt.datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=dt.UTC)


def mapping(destination: str | None) -> EventSourceMapping:
    config: dict[str, Any] = {"OnFailure": {"Destination": destination} if destination else {}}
    return EventSourceMapping(
        uuid="m-1",
        account_id="123456789012",
        region="us-east-1",
        function_arn=FUNCTION_ARN,
        source=EventSource(SourceType.KINESIS, STREAM_ARN),
        settings=MappingSettings(destination_config=config),
        state=MappingState.ENABLED,
    )


def failed_batch_record() -> dict[str, Any]:
    records = [
        SourceRecord(str(n), {}, 2, "shardId-000000000000", attributes={ARRIVAL_ATTRIBUTE: "1.5"})
        for n in (7, 8, 9)
    ]
    return failure_record(
        kinesis_batch_info("shardId-000000000000", STREAM_ARN, records),
        request_id="req-1",
        function_arn=FUNCTION_ARN,
        condition=StreamFailureCondition.RETRY_ATTEMPTS_EXHAUSTED,
        invoke_count=3,
        response=InvocationResult(function_error="Unhandled", executed_version="$LATEST"),
        now=NOW,
    )


class FlakyDelivery:
    """A ``RecordDelivery`` that records what it was asked and answers as told."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.sent: list[tuple[str, Mapping[str, Any]]] = []

    async def send_record(
        self, destination_arn: str, record: Mapping[str, Any], condition: Condition
    ) -> bool:
        self.sent.append((destination_arn, record))
        return self.answer

    async def send_dead_letter(self, target_arn: str, message: DeadLetterMessage) -> bool:
        raise AssertionError("stream failures never go to a dead-letter target")


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoResources:
    return MotoResources(moto_server)


@pytest.fixture
def aws_clients(moto_server: MotoServer) -> Iterator[AwsClients]:
    clients = AwsClients(moto_server.endpoint, session=boto3.session.Session(**MOTO_CREDENTIALS))
    yield clients
    clients.close()


@pytest.fixture
def destination(aws_clients: AwsClients) -> StreamFailureDestination:
    return StreamFailureDestination(DestinationDelivery(aws_clients, policy=FAST_RETRIES))


def test_record_lands_in_an_sqs_queue_in_awss_shape(
    destination: StreamFailureDestination, moto: MotoResources
) -> None:
    # Given a mapping whose OnFailure destination is a queue
    url, arn = moto.queue()
    record = failed_batch_record()

    # When a failed batch's record is sent
    landed = asyncio.run(destination.send(mapping(arn), record))

    # Then the message body is the record, exactly
    assert landed
    [message] = moto.receive(url)
    assert json.loads(message["Body"]) == record
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["KinesisBatchInfo"] == {
        "shardId": "shardId-000000000000",
        "startSequenceNumber": "7",
        "endSequenceNumber": "9",
        "approximateArrivalOfFirstRecord": "1970-01-01T00:00:01.500Z",
        "approximateArrivalOfLastRecord": "1970-01-01T00:00:01.500Z",
        "batchSize": 3,
        "streamArn": STREAM_ARN,
    }


def test_record_lands_in_an_sns_topic(
    destination: StreamFailureDestination, moto: MotoResources
) -> None:
    url, queue_arn = moto.queue()
    topic = moto.topic_into(queue_arn)
    record = failed_batch_record()

    landed = asyncio.run(destination.send(mapping(topic), record))

    assert landed
    [message] = moto.receive(url)
    assert json.loads(json.loads(message["Body"])["Message"]) == record


def test_a_missing_queue_is_reported_as_not_landed(destination: StreamFailureDestination) -> None:
    # After the delivery's retries, the worker is told to hold the shard and try later.
    gone = "arn:aws:sqs:us-east-1:123456789012:no-such-queue"

    assert asyncio.run(destination.send(mapping(gone), failed_batch_record())) is False


def test_transient_failure_is_reported_so_the_worker_retries() -> None:
    delivery = FlakyDelivery(answer=False)
    arn = "arn:aws:sqs:us-east-1:123456789012:dlq"

    landed = asyncio.run(StreamFailureDestination(delivery).send(mapping(arn), {"x": 1}))

    assert landed is False
    assert delivery.sent == [(arn, {"x": 1})]


def test_mapping_without_destination_has_nothing_to_deliver() -> None:
    delivery = FlakyDelivery()

    landed = asyncio.run(StreamFailureDestination(delivery).send(mapping(None), {"x": 1}))

    assert landed is True
    assert delivery.sent == []
    assert on_failure_arn(mapping(None)) is None


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("arn:aws:s3:::failed-batches", "S3 OnFailure destinations are not supported"),
        ("arn:aws:events:us-east-1:123456789012:event-bus/b", "SQS queue or SNS topic"),
        ("arn:aws:lambda:us-east-1:123456789012:function:g", "SQS queue or SNS topic"),
        ("not-an-arn", "not an ARN"),
    ],
)
def test_unsupported_destinations_are_refused_clearly(arn: str, message: str) -> None:
    delivery = FlakyDelivery()

    with pytest.raises(UnsupportedFailureDestinationError, match=message):
        asyncio.run(StreamFailureDestination(delivery).send(mapping(arn), {"x": 1}))
    assert delivery.sent == []
