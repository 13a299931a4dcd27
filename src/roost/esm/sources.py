"""Event sources a mapping can read, recognised from an ARN or a Kafka cluster.

The source type decides the defaults and the rules a mapping is held to (see
``validation``) and which pollers may lease it. Roost recognises the sources AWS
Lambda polls that have an open or emulated counterpart: SQS queues, Kinesis data
streams (and stream consumers), DynamoDB streams and self-managed Apache Kafka.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roost.api.errors import InvalidParameterValueException

KAFKA_BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"

_ARN = re.compile(r"^arn:aws[a-zA-Z0-9-]*:(?P<service>[a-zA-Z0-9-]+):[^:]*:[^:]*:(?P<resource>.+)$")
_KINESIS_RESOURCE = re.compile(r"^stream/[a-zA-Z0-9_.-]+(?:/consumer/[a-zA-Z0-9_.-]+:\d+)?$")
_DYNAMODB_RESOURCE = re.compile(r"^table/[a-zA-Z0-9_.-]+/stream/.+$")


class SourceType(enum.Enum):
    """What kind of source a mapping reads; the value names its lease group."""

    SQS = "sqs"
    KINESIS = "kinesis"
    DYNAMODB_STREAMS = "dynamodb"
    KAFKA = "kafka"

    @property
    def is_stream(self) -> bool:
        """Kinesis and DynamoDB: shards read in order from a starting position."""
        return self in (SourceType.KINESIS, SourceType.DYNAMODB_STREAMS)

    @property
    def is_positioned(self) -> bool:
        """Sources read from a ``StartingPosition`` (streams and Kafka topics)."""
        return self is not SourceType.SQS


@dataclass(frozen=True)
class EventSource:
    """Where a mapping's records come from.

    ``arn`` is the queue or stream; a self-managed Kafka cluster has none and is
    named by its ``bootstrap_servers`` instead.
    """

    type: SourceType
    arn: str | None = None
    bootstrap_servers: tuple[str, ...] = ()

    @property
    def fifo(self) -> bool:
        """Whether the source is an SQS FIFO queue (its name ends in ``.fifo``)."""
        return self.type is SourceType.SQS and (self.arn or "").endswith(".fifo")

    @property
    def key(self) -> str:
        """The source's identity: two mappings of one function may not share it."""
        if self.arn is not None:
            return self.arn
        return "kafka://" + ",".join(sorted(self.bootstrap_servers))

    def self_managed_wire(self) -> dict[str, Any] | None:
        """``SelfManagedEventSource`` as the API returns it (None for ARN sources)."""
        if self.arn is not None:
            return None
        return {"Endpoints": {KAFKA_BOOTSTRAP_SERVERS: list(self.bootstrap_servers)}}

    def to_document(self) -> dict[str, Any]:
        """JSON form for the store."""
        return {
            "type": self.type.value,
            "arn": self.arn,
            "bootstrap_servers": list(self.bootstrap_servers),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> EventSource:
        """Inverse of ``to_document``."""
        return cls(
            SourceType(document["type"]),
            document.get("arn"),
            tuple(document.get("bootstrap_servers") or ()),
        )


def unrecognized(arn: str) -> InvalidParameterValueException:
    """AWS's error for an ARN of a service Lambda does not poll."""
    return InvalidParameterValueException(
        "Unrecognized event source, must be kinesis, dynamodb stream or sqs. "
        f"Unsupported source arn : {arn}"
    )


def source_of_arn(arn: str) -> EventSource:
    """The source an ``EventSourceArn`` names; ``InvalidParameterValueException`` if none."""
    found = _ARN.match(arn)
    if found is None:
        raise unrecognized(arn)
    service, resource = found["service"], found["resource"]
    if service == "sqs" and "/" not in resource and ":" not in resource:
        return EventSource(SourceType.SQS, arn)
    if service == "kinesis" and _KINESIS_RESOURCE.match(resource):
        return EventSource(SourceType.KINESIS, arn)
    if service == "dynamodb" and _DYNAMODB_RESOURCE.match(resource):
        return EventSource(SourceType.DYNAMODB_STREAMS, arn)
    if service == "dynamodb":
        raise InvalidParameterValueException(
            f"Stream not found: {arn}. Map the table's stream ARN (table/NAME/stream/LABEL), "
            "not the table."
        )
    raise unrecognized(arn)


def source_of_kafka(self_managed: Mapping[str, Any]) -> EventSource:
    """The self-managed Kafka cluster a ``SelfManagedEventSource`` names."""
    endpoints = self_managed.get("Endpoints") or {}
    unknown = sorted(set(endpoints) - {KAFKA_BOOTSTRAP_SERVERS})
    if unknown:
        raise InvalidParameterValueException(
            f"Unsupported endpoint type {unknown[0]} in SelfManagedEventSource.Endpoints: "
            f"only {KAFKA_BOOTSTRAP_SERVERS} is supported."
        )
    servers = tuple(str(s) for s in endpoints.get(KAFKA_BOOTSTRAP_SERVERS) or ())
    if not servers:
        raise InvalidParameterValueException(
            f"SelfManagedEventSource.Endpoints must contain {KAFKA_BOOTSTRAP_SERVERS} "
            "with at least one broker (host:port)."
        )
    if len(servers) > 10:
        raise InvalidParameterValueException(
            f"Number of items in {KAFKA_BOOTSTRAP_SERVERS} cannot be greater than 10"
        )
    return EventSource(SourceType.KAFKA, None, servers)
