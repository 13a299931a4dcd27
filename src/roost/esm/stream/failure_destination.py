"""Sending a stream mapping's failure record to its ``OnFailure`` destination.

A Kinesis or DynamoDB Streams mapping names its destination in
``DestinationConfig.OnFailure.Destination``. AWS takes an SQS queue or an SNS
topic there (and, more recently, an S3 bucket, which gets the whole batch with
the record; Kafka mappings also a Kafka topic). Roost delivers to queues and
topics through ``roost.destinations`` (``SendMessage``/``Publish`` of the
record's JSON, with its retries); an S3 bucket or any other ARN is refused with
``UnsupportedFailureDestinationError``, since writing batches to S3 objects
is not built.

Unlike an async invoke's destination, a stream's failure record must not be
lost: the shard worker keeps the shard where it is while ``send`` returns
False and calls it again, so a destination that is down delays the shard
instead of dropping the record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from roost.destinations.delivery import RecordDelivery
from roost.destinations.records import Condition
from roost.destinations.targets import InvalidTargetError, Target, TargetKind, parse_target
from roost.esm.mapping import EventSourceMapping

log = logging.getLogger(__name__)

SUPPORTED_KINDS = frozenset({TargetKind.SQS, TargetKind.SNS})


class UnsupportedFailureDestinationError(ValueError):
    """The mapping's ``OnFailure`` destination is not a queue or topic Roost can deliver to.

    Retrying does not help: the mapping must be updated.
    """


def on_failure_arn(mapping: EventSourceMapping) -> str | None:
    """``DestinationConfig.OnFailure.Destination``, or None when none is configured."""
    on_failure = (mapping.settings.destination_config or {}).get("OnFailure") or {}
    arn = on_failure.get("Destination") if isinstance(on_failure, Mapping) else None
    return str(arn) if arn else None


def failure_target(mapping: EventSourceMapping) -> Target | None:
    """The parsed ``OnFailure`` destination (None: none configured).

    Raises ``UnsupportedFailureDestinationError`` for an S3 bucket, any other
    service, or an ARN that does not parse.
    """
    arn = on_failure_arn(mapping)
    if arn is None:
        return None
    try:
        target = parse_target(arn)
    except InvalidTargetError as error:
        raise UnsupportedFailureDestinationError(str(error)) from None
    if target.kind is TargetKind.S3:
        raise UnsupportedFailureDestinationError(
            f"S3 OnFailure destinations are not supported by Roost yet: {arn}"
        )
    if target.kind not in SUPPORTED_KINDS:
        raise UnsupportedFailureDestinationError(
            f"a stream OnFailure destination must be an SQS queue or SNS topic: {arn}"
        )
    return target


class StreamFailureDestination:
    """Delivers stream failure records to SQS queues and SNS topics.

    ``delivery`` (a ``DestinationDelivery``) retries transient errors with its
    ``RetryPolicy`` before giving up; only cancellation propagates out of it.
    """

    def __init__(self, delivery: RecordDelivery) -> None:
        self._delivery = delivery

    async def send(self, mapping: EventSourceMapping, record: Mapping[str, Any]) -> bool:
        """Deliver ``record`` to ``mapping``'s ``OnFailure`` destination; whether it landed.

        True also when the mapping has no destination: there is nothing to
        hold the shard for (AWS discards the batch then, too). False after the
        delivery's retries failed: call again later. Raises
        ``UnsupportedFailureDestinationError`` for a destination it cannot serve.
        """
        target = failure_target(mapping)
        if target is None:
            log.info("mapping %s has no OnFailure destination; batch discarded", mapping.uuid)
            return True
        # The condition only picks an EventBridge detail type, and buses are
        # refused above; any failure condition will do.
        return await self._delivery.send_record(target.arn, record, Condition.RETRIES_EXHAUSTED)
