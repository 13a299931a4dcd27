"""Delivering records and dead-letter messages into moto's SQS, SNS and EventBridge."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging

import boto3
import pytest

from roost.destinations.aws import AwsClients
from roost.destinations.delivery import (
    DETAIL_TYPE_FAILURE,
    DETAIL_TYPE_SUCCESS,
    DestinationDelivery,
    RetryPolicy,
)
from roost.destinations.records import (
    AsyncEvent,
    Condition,
    InvocationResult,
    dead_letter_message,
    invocation_record,
)
from tests.destinations.conftest import FAST_RETRIES, FakeInvoker, MotoResources
from tests.fixtures.moto_server import MOTO_CREDENTIALS
from tests.fixtures.roost_process import free_port

FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:orders:$LATEST"
EVENT = AsyncEvent("9d0e3b52-1c4f-4f7e-8a33-5b6c7d8e9f01", FUNCTION_ARN, b'{"id": 7}', 3)
FAILURE = InvocationResult(
    payload=b'{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}',
    function_error="Unhandled",
    executed_version="$LATEST",
)
NOW = dt.datetime(2026, 11, 27, 14, 0, tzinfo=dt.UTC)
FAILURE_RECORD = invocation_record(EVENT, Condition.RETRIES_EXHAUSTED, FAILURE, now=NOW)
SUCCESS_RECORD = invocation_record(
    EVENT,
    Condition.SUCCESS,
    InvocationResult(payload=b'{"ok": true}', executed_version="1"),
    now=NOW,
)


def test_record_lands_in_an_sqs_queue(delivery: DestinationDelivery, moto: MotoResources) -> None:
    url, arn = moto.queue()

    delivered = asyncio.run(delivery.send_record(arn, FAILURE_RECORD, Condition.RETRIES_EXHAUSTED))

    assert delivered
    [message] = moto.receive(url)
    assert json.loads(message["Body"]) == FAILURE_RECORD


def test_record_lands_in_an_sns_topic(delivery: DestinationDelivery, moto: MotoResources) -> None:
    # Given a topic with an SQS subscription
    url, queue_arn = moto.queue()
    topic = moto.topic_into(queue_arn)

    # When a success record is published to it
    delivered = asyncio.run(delivery.send_record(topic, SUCCESS_RECORD, Condition.SUCCESS))

    # Then the subscriber gets SNS's envelope with the record as its Message
    assert delivered
    [message] = moto.receive(url)
    envelope = json.loads(message["Body"])
    assert envelope["TopicArn"] == topic
    assert json.loads(envelope["Message"]) == SUCCESS_RECORD


@pytest.mark.parametrize(
    ("condition", "record", "detail_type"),
    [
        (Condition.SUCCESS, SUCCESS_RECORD, DETAIL_TYPE_SUCCESS),
        (Condition.RETRIES_EXHAUSTED, FAILURE_RECORD, DETAIL_TYPE_FAILURE),
    ],
)
def test_record_is_routed_by_an_eventbridge_rule(
    delivery: DestinationDelivery,
    moto: MotoResources,
    condition: Condition,
    record: dict[str, object],
    detail_type: str,
) -> None:
    # Given a bus whose rule sends source "lambda" events to a queue (moto routes them)
    url, queue_arn = moto.queue()
    bus = moto.bus_into(queue_arn)

    delivered = asyncio.run(delivery.send_record(bus, record, condition))

    # Then the queue holds the EventBridge event: AWS's source, detail type and resources
    assert delivered
    [message] = moto.receive(url)
    event = json.loads(message["Body"])
    assert event["source"] == "lambda"
    assert event["detail-type"] == detail_type
    assert event["resources"] == [bus, FUNCTION_ARN]
    assert event["detail"] == record


def test_record_goes_to_a_function_through_the_async_invoker(
    delivery: DestinationDelivery, invoker: FakeInvoker
) -> None:
    target = "arn:aws:lambda:us-east-1:000000000000:function:audit:live"

    delivered = asyncio.run(delivery.send_record(target, SUCCESS_RECORD, Condition.SUCCESS))

    assert delivered
    [(account_id, function_arn, payload)] = invoker.calls
    assert (account_id, function_arn) == ("000000000000", target)
    assert json.loads(payload) == SUCCESS_RECORD


def test_a_failing_invoker_is_retried(aws_clients: AwsClients) -> None:
    invoker = FakeInvoker(failures=2)
    delivery = DestinationDelivery(aws_clients, invoker, policy=FAST_RETRIES)
    target = "arn:aws:lambda:us-east-1:000000000000:function:audit"

    assert asyncio.run(delivery.send_record(target, SUCCESS_RECORD, Condition.SUCCESS))
    assert len(invoker.calls) == 3


def test_dead_letter_message_in_sqs_has_the_event_and_attributes(
    delivery: DestinationDelivery, moto: MotoResources
) -> None:
    url, arn = moto.queue()
    message = dead_letter_message(EVENT, Condition.RETRIES_EXHAUSTED, FAILURE)

    assert asyncio.run(delivery.send_dead_letter(arn, message))

    [received] = moto.receive(url)
    assert received["Body"] == '{"id": 7}'
    attributes = {
        name: (value["DataType"], value["StringValue"])
        for name, value in received["MessageAttributes"].items()
    }
    assert attributes == {
        "RequestID": ("String", EVENT.request_id),
        "ErrorCode": ("Number", "200"),
        "ErrorMessage": ("String", "boom"),
    }


def test_dead_letter_message_in_sns_has_the_event_and_attributes(
    delivery: DestinationDelivery, moto: MotoResources
) -> None:
    url, queue_arn = moto.queue()
    topic = moto.topic_into(queue_arn)
    message = dead_letter_message(EVENT, Condition.EVENT_AGE_EXCEEDED, FAILURE)

    assert asyncio.run(delivery.send_dead_letter(topic, message))

    [received] = moto.receive(url)
    envelope = json.loads(received["Body"])
    assert envelope["Message"] == '{"id": 7}'
    assert envelope["MessageAttributes"] == {
        "RequestID": {"Type": "String", "Value": EVENT.request_id},
        "ErrorCode": {"Type": "Number", "Value": "200"},
        "ErrorMessage": {"Type": "String", "Value": "boom"},
    }


def test_dead_letter_target_must_be_a_queue_or_topic(delivery: DestinationDelivery) -> None:
    message = dead_letter_message(EVENT, Condition.RETRIES_EXHAUSTED, FAILURE)
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/default"

    assert not asyncio.run(delivery.send_dead_letter(bus, message))


def test_an_unreachable_endpoint_is_retried_logged_and_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an endpoint nobody listens on
    clients = AwsClients(
        f"http://127.0.0.1:{free_port()}", session=boto3.session.Session(**MOTO_CREDENTIALS)
    )
    delivery = DestinationDelivery(clients, policy=RetryPolicy(attempts=2, initial_delay_s=0.01))
    queue = "arn:aws:sqs:us-east-1:123456789012:nowhere"

    # When a record and a dead-letter message are sent there
    with caplog.at_level(logging.WARNING, logger="roost.destinations.delivery"):
        record_sent = asyncio.run(
            delivery.send_record(queue, FAILURE_RECORD, Condition.RETRIES_EXHAUSTED)
        )
        message = dead_letter_message(EVENT, Condition.RETRIES_EXHAUSTED, FAILURE)
        dead_letter_sent = asyncio.run(delivery.send_dead_letter(queue, message))
    clients.close()

    # Then both report failure, after a retry each, without raising
    assert not record_sent
    assert not dead_letter_sent
    assert sum("retrying" in r.message for r in caplog.records) == 2
    assert sum("giving up after 2 attempts" in r.message for r in caplog.records) == 2


def test_a_missing_queue_is_not_raised(delivery: DestinationDelivery) -> None:
    gone = "arn:aws:sqs:us-east-1:123456789012:never-created"

    assert not asyncio.run(delivery.send_record(gone, FAILURE_RECORD, Condition.RETRIES_EXHAUSTED))


def test_unsupported_and_malformed_destinations_are_not_raised(
    delivery: DestinationDelivery,
) -> None:
    for arn in ("arn:aws:s3:::bucket", "not-an-arn"):
        assert not asyncio.run(
            delivery.send_record(arn, FAILURE_RECORD, Condition.RETRIES_EXHAUSTED)
        )


def test_a_function_destination_without_an_invoker_is_not_raised(aws_clients: AwsClients) -> None:
    delivery = DestinationDelivery(aws_clients, policy=FAST_RETRIES)
    target = "arn:aws:lambda:us-east-1:000000000000:function:audit"

    assert not asyncio.run(delivery.send_record(target, SUCCESS_RECORD, Condition.SUCCESS))


def test_clients_are_made_once_per_service_and_region(aws_clients: AwsClients) -> None:
    first = aws_clients.client("sqs", "us-east-1")

    assert aws_clients.client("sqs", "us-east-1") is first
    assert aws_clients.client("sqs", "eu-west-1") is not first


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(attempts=6, initial_delay_s=0.5, max_delay_s=3.0)

    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
