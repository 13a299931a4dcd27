"""Helpers of the destination tests: moto resources, a fake async invoker."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from roost.destinations.aws import AwsClients
from roost.destinations.delivery import DestinationDelivery, RetryPolicy
from tests.fixtures.moto_server import MOTO_CREDENTIALS, MotoServer

FAST_RETRIES = RetryPolicy(attempts=3, initial_delay_s=0.01, max_delay_s=0.02)
_names = itertools.count()


class FakeInvoker:
    """An ``AsyncInvoker`` that keeps what it was asked to queue; can fail a few times."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.failures = failures

    async def enqueue(self, account_id: str, function_arn: str, payload: bytes) -> None:
        self.calls.append((account_id, function_arn, payload))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("queue store unavailable")


class MotoResources:
    """Creates uniquely named queues, topics and buses on the session's moto server."""

    def __init__(self, server: MotoServer) -> None:
        self.sqs = server.client("sqs")
        self.sns = server.client("sns")
        self.events = server.client("events")

    def queue(self) -> tuple[str, str]:
        """A new queue: (URL, ARN)."""
        url = self.sqs.create_queue(QueueName=f"q-{next(_names)}")["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, attributes["Attributes"]["QueueArn"]

    def topic_into(self, queue_arn: str) -> str:
        """A new topic whose messages land, wrapped by SNS, in ``queue_arn``."""
        topic = self.sns.create_topic(Name=f"t-{next(_names)}")["TopicArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        return str(topic)

    def bus_into(self, queue_arn: str) -> str:
        """A new event bus with a rule sending Lambda's destination events to ``queue_arn``."""
        name = f"bus-{next(_names)}"
        bus = self.events.create_event_bus(Name=name)["EventBusArn"]
        self.events.put_rule(
            Name=f"{name}-rule",
            EventBusName=name,
            EventPattern=json.dumps({"source": ["lambda"]}),
        )
        self.events.put_targets(
            Rule=f"{name}-rule", EventBusName=name, Targets=[{"Id": "q", "Arn": queue_arn}]
        )
        return str(bus)

    def receive(self, url: str) -> list[dict[str, Any]]:
        """Every message waiting in the queue (one long poll)."""
        reply = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2, MessageAttributeNames=["All"]
        )
        return list(reply.get("Messages", []))


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoResources:
    """Clients to set up and inspect resources on moto."""
    return MotoResources(moto_server)


@pytest.fixture
def aws_clients(moto_server: MotoServer) -> Iterator[AwsClients]:
    """Roost's clients of the moto endpoint (explicit test credentials, not the environment)."""
    clients = AwsClients(moto_server.endpoint, session=boto3.session.Session(**MOTO_CREDENTIALS))
    yield clients
    clients.close()


@pytest.fixture
def invoker() -> FakeInvoker:
    """A fake async front end."""
    return FakeInvoker()


@pytest.fixture
def delivery(aws_clients: AwsClients, invoker: FakeInvoker) -> DestinationDelivery:
    """Delivery against moto with quick retries."""
    return DestinationDelivery(aws_clients, invoker, policy=FAST_RETRIES)
