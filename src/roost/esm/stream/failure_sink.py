"""``OnFailureSink``: what a lane's given-up records become, the lane's ``FailureSink``.

It builds the ``OnFailure`` record of the batch (``failure_record``, with the
source's ``BatchInfo``) and hands it to ``StreamFailureDestination`` (SQS, SNS).
A Kafka mapping's ``kafka://topic`` destination gets one message per failed
record instead, keyed like the record, with its one-record event as
``payload``, produced to the source's own cluster.
A mapping without a destination discards the batch, as AWS does. A
destination Roost cannot serve (S3; validation refuses it at create and update
time, so only a mapping stored by an older Roost gets here) is logged and the
batch discarded rather than blocking the shard forever.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from roost.destinations.records import InvocationResult, encode_record
from roost.esm.kafka.records import destination_topic, record_key
from roost.esm.kafka.source import KafkaSource
from roost.esm.mapping import EventSourceMapping
from roost.esm.shards import Shard
from roost.esm.stream.batch_retry import GiveUp
from roost.esm.stream.failure_destination import (
    StreamFailureDestination,
    UnsupportedFailureDestinationError,
    on_failure_arn,
)
from roost.esm.stream.failure_record import failure_record
from roost.esm.stream.source import BatchInfo, StreamSource

log = logging.getLogger(__name__)


def _response(give_up: GiveUp) -> InvocationResult | None:
    result = give_up.outcome.result if give_up.outcome is not None else None
    if result is None:
        return None
    return InvocationResult(
        result.status_code, result.payload, result.function_error, result.executed_version
    )


def _record(mapping: EventSourceMapping, info: BatchInfo, give_up: GiveUp) -> dict[str, Any]:
    return failure_record(
        info,
        request_id=None,
        function_arn=mapping.function_arn,
        condition=give_up.condition,
        invoke_count=give_up.invokes,
        response=_response(give_up),
        now=dt.datetime.now(dt.UTC),
    )


class OnFailureSink:
    """Sends given-up stream batches to their mapping's ``OnFailure`` destination."""

    def __init__(self, destination: StreamFailureDestination) -> None:
        self._destination = destination

    async def give_up(
        self, mapping: EventSourceMapping, source: StreamSource, shard: Shard, give_up: GiveUp
    ) -> bool:
        """True once the record landed (or there is nowhere to send it)."""
        destination = on_failure_arn(mapping) or ""
        if destination_topic(destination) is not None and isinstance(source, KafkaSource):
            return await self._to_topic(mapping, source, shard, give_up, destination)
        record = _record(mapping, source.batch_info(shard, give_up.records), give_up)
        try:
            return await self._destination.send(mapping, record)
        except UnsupportedFailureDestinationError as error:
            log.error("mapping %s: %s; batch discarded", mapping.uuid, error)
            return True

    async def _to_topic(
        self,
        mapping: EventSourceMapping,
        source: KafkaSource,
        shard: Shard,
        give_up: GiveUp,
        destination: str,
    ) -> bool:
        topic = destination_topic(destination)
        assert topic is not None
        try:
            for one in give_up.records:
                record = _record(mapping, source.record_batch_info(shard, one), give_up)
                record["payload"] = source.payload(shard, [one])
                await source.send_to_topic(topic, encode_record(record).encode(), record_key(one))
        except Exception as error:
            # Sent again whole on the next try: a destination may see a record twice.
            log.warning("mapping %s: OnFailure topic %s: %s", mapping.uuid, topic, error)
            return False
        return True
