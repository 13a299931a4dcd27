"""``SqsConnector``: the ``SourceConnector`` of an SQS queue (standard or FIFO).

- ``open``: ``GetQueueUrl`` from the ARN's name and account, then the queue's
  ``VisibilityTimeout`` (how long a received message stays hidden: the error
  handler retries throttled invokes only within it);
- ``poll``: ``ReceiveMessage`` long poll (``WaitTimeSeconds`` up to 20, at most
  10 messages) with every system and message attribute, turned into Lambda's
  SQS records;
- ``commit``: ``DeleteMessageBatch`` (10 per call); a receipt that expired
  meanwhile fails its entry, and the message runs again;
- ``release``: ``ChangeMessageVisibilityBatch``, so messages read but never
  invoked (a stopping poller) come back at once instead of after the timeout.

Failed messages are not released: as on AWS they come back when the queue's
visibility timeout runs out, and its redrive policy counts the receive.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from roost.esm.connector import SourceRecord, json_size, records_payload
from roost.esm.mapping import EventSourceMapping
from roost.esm.sqs.client import SqsClients
from roost.esm.sqs.records import lambda_record, queue_name_and_owner

MAX_MESSAGES_PER_RECEIVE = 10
MAX_WAIT_S = 20
ENTRIES_PER_BATCH_CALL = 10
DEFAULT_VISIBILITY_TIMEOUT_S = 30

log = logging.getLogger(__name__)


def _sender_fault(entry: Any) -> bool:
    """Whether SQS blames the request for a failed batch entry (not worth a retry)."""
    return str(entry.get("SenderFault", "")).lower() == "true"


class SqsConnector:
    """Reads one SQS queue for one mapping."""

    max_records_per_poll = MAX_MESSAGES_PER_RECEIVE

    def __init__(
        self,
        clients: SqsClients,
        queue_arn: str,
        fifo: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self.queue_arn = queue_arn
        self.region, self.owner, self.name = queue_name_and_owner(queue_arn)
        self._fifo = fifo
        self._clock = clock
        self.queue_url: str | None = None
        self.visibility_timeout_s = DEFAULT_VISIBILITY_TIMEOUT_S

    @property
    def ordered(self) -> bool:
        """FIFO queues keep each message group in order."""
        return self._fifo

    async def open(self) -> None:
        """Resolve the queue URL and read its visibility timeout."""
        reply = await self._clients.call(
            self.region, "get_queue_url", QueueName=self.name, QueueOwnerAWSAccountId=self.owner
        )
        self.queue_url = str(reply["QueueUrl"])
        attributes = await self._clients.call(
            self.region,
            "get_queue_attributes",
            QueueUrl=self.queue_url,
            AttributeNames=["VisibilityTimeout"],
        )
        timeout = attributes.get("Attributes", {}).get("VisibilityTimeout")
        if timeout is not None:
            self.visibility_timeout_s = int(timeout)

    def _url(self) -> str:
        if self.queue_url is None:
            raise RuntimeError("the connector is not open")
        return self.queue_url

    async def poll(self, max_records: int, wait_s: float) -> list[SourceRecord]:
        """One ``ReceiveMessage``: up to ``max_records`` (at most 10) messages."""
        received_at = self._clock()
        reply = await self._clients.receive(
            self.region,
            QueueUrl=self._url(),
            MaxNumberOfMessages=max(1, min(MAX_MESSAGES_PER_RECEIVE, max_records)),
            WaitTimeSeconds=max(0, min(MAX_WAIT_S, math.ceil(wait_s))),
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        visible_until = received_at + self.visibility_timeout_s
        return [
            self._record(message, received_at, visible_until)
            for message in reply.get("Messages") or []
        ]

    def _record(self, message: Any, received_at: float, visible_until: float) -> SourceRecord:
        event_record = lambda_record(message, self.queue_arn, self.region)
        return SourceRecord(
            record_id=event_record["messageId"],
            event_record=event_record,
            size_bytes=json_size(event_record),
            handle=event_record["receiptHandle"],
            group=event_record["attributes"].get("MessageGroupId"),
            visible_until_s=visible_until,
            received_at_s=received_at,
        )

    def payload(self, records: Sequence[SourceRecord]) -> dict[str, Any]:
        """``{"Records": [...]}``."""
        return records_payload(records)

    async def commit(self, records: Sequence[SourceRecord]) -> None:
        """Delete the messages. Entries SQS failed on its side are tried once more;
        those that still fail, or that SQS refused (a receipt that expired: the
        message was received again meanwhile), are logged: they run again."""
        for start in range(0, len(records), ENTRIES_PER_BATCH_CALL):
            chunk = records[start : start + ENTRIES_PER_BATCH_CALL]
            failed = await self._delete(chunk)
            again = [record for record, entry in failed if not _sender_fault(entry)]
            if again:
                refused = [(r, e) for r, e in failed if _sender_fault(e)]
                failed = refused + await self._delete(again)
            if failed:
                codes = sorted({str(entry.get("Code")) for _, entry in failed})
                log.warning(
                    "%s: %d of %d messages not deleted (%s); they will be received and run again",
                    self.queue_arn,
                    len(failed),
                    len(chunk),
                    ", ".join(codes),
                )

    async def _delete(self, chunk: Sequence[SourceRecord]) -> list[tuple[SourceRecord, Any]]:
        """One DeleteMessageBatch; the records whose entries failed, with their entries."""
        reply = await self._clients.call(
            self.region,
            "delete_message_batch",
            QueueUrl=self._url(),
            Entries=[{"Id": str(i), "ReceiptHandle": r.handle} for i, r in enumerate(chunk)],
        )
        return [(chunk[int(entry["Id"])], entry) for entry in reply.get("Failed") or []]

    async def release(self, records: Sequence[SourceRecord], delay_s: float) -> None:
        """Make the messages visible again in ``delay_s`` (whole seconds)."""
        for start in range(0, len(records), ENTRIES_PER_BATCH_CALL):
            chunk = records[start : start + ENTRIES_PER_BATCH_CALL]
            await self._clients.call(
                self.region,
                "change_message_visibility_batch",
                QueueUrl=self._url(),
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r.handle, "VisibilityTimeout": int(delay_s)}
                    for i, r in enumerate(chunk)
                ],
            )

    async def backlog(self) -> int | None:
        """``ApproximateNumberOfMessages``."""
        reply = await self._clients.call(
            self.region,
            "get_queue_attributes",
            QueueUrl=self._url(),
            AttributeNames=["ApproximateNumberOfMessages"],
        )
        value = reply.get("Attributes", {}).get("ApproximateNumberOfMessages")
        return int(value) if value is not None else None

    async def close(self) -> None:
        """Nothing held per connector (the clients are shared)."""


class SqsConnectorFactory:
    """``ConnectorFactory`` of SQS mappings over shared ``SqsClients``."""

    def __init__(self, clients: SqsClients) -> None:
        self._clients = clients

    def connector(self, mapping: EventSourceMapping) -> SqsConnector:
        """A connector of the mapping's queue."""
        arn = mapping.source.arn
        if arn is None:
            raise ValueError(f"mapping {mapping.uuid} has no queue ARN")
        return SqsConnector(self._clients, arn, mapping.source.fifo)
