"""``OnFailureSink``: what a lane's given-up records become, the lane's ``FailureSink``.

It builds the ``OnFailure`` record of the batch (``failure_record``, with the
source's ``BatchInfo``) and hands it to ``StreamFailureDestination`` (SQS, SNS).
A mapping without a destination discards the batch, as AWS does. A
destination Roost cannot serve (S3; validation refuses it at create and update
time, so only a mapping stored by an older Roost gets here) is logged and the
batch discarded rather than blocking the shard forever.
"""

from __future__ import annotations

import datetime as dt
import logging

from roost.destinations.records import InvocationResult
from roost.esm.mapping import EventSourceMapping
from roost.esm.shards import Shard
from roost.esm.stream.batch_retry import GiveUp
from roost.esm.stream.failure_destination import (
    StreamFailureDestination,
    UnsupportedFailureDestinationError,
)
from roost.esm.stream.failure_record import failure_record
from roost.esm.stream.source import StreamSource

log = logging.getLogger(__name__)


def _response(give_up: GiveUp) -> InvocationResult | None:
    result = give_up.outcome.result if give_up.outcome is not None else None
    if result is None:
        return None
    return InvocationResult(
        result.status_code, result.payload, result.function_error, result.executed_version
    )


class OnFailureSink:
    """Sends given-up stream batches to their mapping's ``OnFailure`` destination."""

    def __init__(self, destination: StreamFailureDestination) -> None:
        self._destination = destination

    async def give_up(
        self, mapping: EventSourceMapping, source: StreamSource, shard: Shard, give_up: GiveUp
    ) -> bool:
        """True once the record landed (or there is nowhere to send it)."""
        record = failure_record(
            source.batch_info(shard, give_up.records),
            request_id=None,
            function_arn=mapping.function_arn,
            condition=give_up.condition,
            invoke_count=give_up.invokes,
            response=_response(give_up),
            now=dt.datetime.now(dt.UTC),
        )
        try:
            return await self._destination.send(mapping, record)
        except UnsupportedFailureDestinationError as error:
            log.error("mapping %s: %s; batch discarded", mapping.uuid, error)
            return True
