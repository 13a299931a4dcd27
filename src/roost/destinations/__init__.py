"""Destinations of asynchronous invokes: AWS-shaped records, dead-letter messages, delivery.

``records`` builds what is sent, ``targets`` parses destination ARNs,
``aws`` holds the boto3 clients of the configured AWS endpoint, ``delivery``
sends with retries behind per-target circuit breakers, ``outbox`` parks what
could not be sent now, and ``sink`` decides what goes where for one outcome.
"""

from __future__ import annotations

from roost.destinations.aws import AwsClients
from roost.destinations.delivery import (
    AsyncInvoker,
    DeliveryStatus,
    DestinationDelivery,
    RecordDelivery,
    RetryPolicy,
)
from roost.destinations.outbox import DeliveryNotParked, OutboxSettings, ParkingDelivery
from roost.destinations.records import (
    AsyncEvent,
    Condition,
    DeadLetterMessage,
    InvocationResult,
    dead_letter_message,
    invocation_record,
)
from roost.destinations.sink import DestinationSink

__all__ = [
    "AsyncEvent",
    "AsyncInvoker",
    "AwsClients",
    "Condition",
    "DeadLetterMessage",
    "DeliveryNotParked",
    "DeliveryStatus",
    "DestinationDelivery",
    "DestinationSink",
    "InvocationResult",
    "OutboxSettings",
    "ParkingDelivery",
    "RecordDelivery",
    "RetryPolicy",
    "dead_letter_message",
    "invocation_record",
]
