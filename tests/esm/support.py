"""Helpers of the ESM unit tests: records, mappings and a fake connector."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from roost.esm.connector import SourceRecord, json_size, records_payload
from roost.esm.mapping import EventSourceMapping, MappingSettings
from roost.esm.sources import EventSource, SourceType
from roost.esm.states import MappingState

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:q"


def record(
    record_id: str, body: str = "{}", group: str | None = None, visible_until_s: float | None = None
) -> SourceRecord:
    event = {"messageId": record_id, "body": body, "attributes": {}}
    return SourceRecord(
        record_id, event, json_size(event), f"rh-{record_id}", group, visible_until_s
    )


def mapping(uuid: str = "m1", **settings: Any) -> EventSourceMapping:
    return EventSourceMapping(
        uuid=uuid,
        account_id="000000000000",
        region="us-east-1",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        source=EventSource(SourceType.SQS, QUEUE_ARN),
        settings=MappingSettings(**settings),
        state=MappingState.ENABLED,
    )


class FakeConnector:
    """An in-memory queue: ``poll`` hands out what ``feed`` put in."""

    max_records_per_poll = 10

    def __init__(self, ordered: bool = False) -> None:
        self.ordered = ordered
        self.waiting: list[SourceRecord] = []
        self.committed: list[str] = []
        self.released: list[str] = []
        self.opened = False

    def feed(self, records: Sequence[SourceRecord]) -> None:
        self.waiting.extend(records)

    async def open(self) -> None:
        self.opened = True

    async def poll(self, max_records: int, wait_s: float) -> list[SourceRecord]:
        if not self.waiting:
            await asyncio.sleep(min(wait_s, 0.01))  # a short "long poll"
        taken, self.waiting = self.waiting[:max_records], self.waiting[max_records:]
        return taken

    def payload(self, records: Sequence[SourceRecord]) -> dict[str, Any]:
        return records_payload(records)

    async def commit(self, records: Sequence[SourceRecord]) -> None:
        self.committed.extend(r.record_id for r in records)

    async def release(self, records: Sequence[SourceRecord], delay_s: float) -> None:
        self.released.extend(r.record_id for r in records)

    async def backlog(self) -> int | None:
        return len(self.waiting)

    async def close(self) -> None:
        self.opened = False
