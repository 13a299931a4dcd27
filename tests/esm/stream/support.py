"""An in-memory Kinesis-like stream and a scripted function, for the stream runner's tests.

``MemoryStream`` speaks the ``StreamApi`` port (so the real ``ShardReader`` and
``IteratorStreamSource`` read it) and turns its records into Lambda's Kinesis
shape with the real ``kinesis.records`` code. ``ScriptedFunction`` is a
``BatchInvoker`` that runs a Python handler on the decoded event.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from roost.api.errors import TooManyRequestsException
from roost.async_invoke.outcome import InvokeResult
from roost.esm.connector import SourceRecord
from roost.esm.kinesis.records import KinesisRecordContext, source_record
from roost.esm.kinesis.stream_api import RecordsPage
from roost.esm.mapping import EventSourceMapping, MappingSettings
from roost.esm.orchestrator import InvokeOrchestrator
from roost.esm.shards import IteratorPosition, IteratorType, Shard
from roost.esm.sources import EventSource, SourceType
from roost.esm.states import MappingState
from roost.esm.stream.batch_retry import GiveUp
from roost.esm.stream.iterator_source import IteratorStreamSource
from roost.esm.stream.source import BatchInfo, StreamSource

STREAM_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/s"


@dataclass
class MemoryShard:
    """One shard: its records (sequence number, key, data, arrival) and whether it is closed."""

    shard_id: str
    parent: str | None = None
    adjacent_parent: str | None = None
    records: list[tuple[int, str, bytes, float]] = field(default_factory=list)
    closed: bool = False


class MemoryStream:
    """A ``StreamApi`` over in-memory shards; ``put`` appends, ``split`` reshards."""

    supports_at_timestamp = True

    def __init__(self, shards: int = 1) -> None:
        self.shards = {f"shardId-{i:012d}": MemoryShard(f"shardId-{i:012d}") for i in range(shards)}
        self._next = 100
        self.context = KinesisRecordContext(STREAM_ARN, "us-east-1", "arn:aws:iam::0:role/r")
        self.reads = 0
        self.retention: float | None = None  # What ``retention_s`` says: unknown.

    @property
    def arn(self) -> str:
        return STREAM_ARN

    async def retention_s(self) -> float | None:
        return self.retention

    def put(self, shard_id: str, key: str, data: str, arrival_s: float | None = None) -> str:
        shard = self.shards[shard_id]
        assert not shard.closed
        self._next += 1
        shard.records.append((self._next, key, data.encode(), arrival_s or time.time()))
        return str(self._next)

    def split(self, shard_id: str) -> str:
        """Close ``shard_id`` and open one child that continues it."""
        self.shards[shard_id].closed = True
        child = f"shardId-{len(self.shards):012d}"
        self.shards[child] = MemoryShard(child, parent=shard_id)
        return child

    async def list_shards(self) -> list[Shard]:
        listed = []
        for shard in self.shards.values():
            end = str(shard.records[-1][0] if shard.records else 0) if shard.closed else None
            listed.append(Shard(shard.shard_id, shard.parent, shard.adjacent_parent, "0", end))
        return listed

    async def get_shard_iterator(self, shard_id: str, position: IteratorPosition) -> str:
        records = self.shards[shard_id].records
        if position.type is IteratorType.TRIM_HORIZON:
            index = 0
        elif position.type is IteratorType.LATEST:
            index = len(records)
        elif position.type is IteratorType.AT_TIMESTAMP:
            assert position.timestamp_s is not None
            index = next(
                (i for i, r in enumerate(records) if r[3] >= position.timestamp_s), len(records)
            )
        else:
            assert position.sequence_number is not None
            number = int(position.sequence_number)
            at = position.type is IteratorType.AT_SEQUENCE_NUMBER
            index = next(
                (i for i, r in enumerate(records) if r[0] > number or (at and r[0] == number)),
                len(records),
            )
        return f"{shard_id}|{index}"

    async def get_records(self, shard_id: str, iterator: str, limit: int) -> RecordsPage:
        self.reads += 1
        await asyncio.sleep(0)
        shard = self.shards[shard_id]
        index = int(iterator.split("|")[1])
        chunk = shard.records[index : index + limit]
        records = [self._record(shard_id, r) for r in chunk]
        end = index + len(chunk)
        at_end = end >= len(shard.records)
        next_iterator = None if shard.closed and at_end else f"{shard_id}|{end}"
        behind = 0 if at_end else 1000
        return RecordsPage(records, next_iterator, behind)

    def _record(self, shard_id: str, r: tuple[int, str, bytes, float]) -> SourceRecord:
        wire = {
            "SequenceNumber": str(r[0]),
            "PartitionKey": r[1],
            "Data": r[2],
            "ApproximateArrivalTimestamp": dt.datetime.fromtimestamp(r[3], dt.UTC),
        }
        return source_record(wire, shard_id, self.context, time.monotonic())


def describe(shard_id: str, arn: str, records: Sequence[SourceRecord]) -> BatchInfo:
    return BatchInfo(
        "KinesisBatchInfo",
        {
            "shardId": shard_id,
            "startSequenceNumber": records[0].record_id,
            "endSequenceNumber": records[-1].record_id,
            "batchSize": len(records),
            "streamArn": arn,
        },
    )


def memory_source(stream: MemoryStream) -> IteratorStreamSource:
    async def connect() -> MemoryStream:
        return stream

    # The retention is read again at every refresh: tests change it as they run.
    return IteratorStreamSource(STREAM_ARN, connect, describe, 10_000, retention_refresh_s=0.0)


def stream_mapping(uuid: str = "m1", **settings: Any) -> EventSourceMapping:
    base: dict[str, Any] = {
        "batch_size": 10,
        "starting_position": "TRIM_HORIZON",
        "parallelization_factor": 1,
        "maximum_retry_attempts": -1,
        "maximum_record_age_s": -1,
    }
    base.update(settings)
    return EventSourceMapping(
        uuid=uuid,
        account_id="000000000000",
        region="us-east-1",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        source=EventSource(SourceType.KINESIS, STREAM_ARN),
        settings=MappingSettings(**base),
        state=MappingState.ENABLED,
    )


def data_of(event: dict[str, Any]) -> list[str]:
    """The decoded ``data`` of every record of a Kinesis event, in order."""
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]


Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class ScriptedFunction:
    """A ``BatchInvoker`` running ``handler`` (raise ``Failed`` for a function error)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.events: list[dict[str, Any]] = []

    async def invoke(self, mapping: EventSourceMapping, payload: bytes) -> InvokeResult:
        event = json.loads(payload)
        self.events.append(event)
        try:
            response = await self.handler(event)
        except Failed as error:
            body = json.dumps({"errorType": "Failed", "errorMessage": str(error)}).encode()
            return InvokeResult(200, body, "Unhandled", "$LATEST")
        except Throttled as error:
            raise TooManyRequestsException(str(error)) from error
        # As the Python runtime does, bytes are the response as they are.
        body = response if isinstance(response, bytes) else json.dumps(response).encode()
        return InvokeResult(200, body, None, "$LATEST")


class Failed(Exception):
    """The handler fails (a function error)."""


class Throttled(Exception):
    """The invoke is throttled (the function never runs)."""


class RecordingFailures:
    """A ``FailureSink`` that keeps what it was given (``reachable`` False: refuses)."""

    def __init__(self) -> None:
        self.given_up: list[tuple[str, GiveUp]] = []
        self.reachable = True

    async def give_up(
        self, mapping: EventSourceMapping, source: StreamSource, shard: Shard, give_up: GiveUp
    ) -> bool:
        if not self.reachable:
            return False
        self.given_up.append((shard.shard_id, give_up))
        return True


def orchestrator(function: ScriptedFunction) -> InvokeOrchestrator:
    return InvokeOrchestrator(function)


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def scenario(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Runs an async test body in a fresh event loop (the suite runs no async plugin)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(asyncio.wait_for(test(), 30))

    return run


def merge(stream: MemoryStream, first: str, second: str) -> str:
    """Close ``first`` and ``second`` and open one child that continues both."""
    stream.shards[first].closed = True
    stream.shards[second].closed = True
    child = f"shardId-{len(stream.shards):012d}"
    stream.shards[child] = MemoryShard(child, parent=first, adjacent_parent=second)
    return child
