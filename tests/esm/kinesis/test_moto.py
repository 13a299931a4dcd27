"""Kinesis shards read through ``KinesisStream`` and ``ShardReader`` from moto's server."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from typing import Any

from roost.esm.aws_clients import AwsClients
from roost.esm.buffer import BatchPolicy, RecordBuffer
from roost.esm.connector import SourceRecord, json_size
from roost.esm.filtering import EventSourceKind, parse_filter_criteria
from roost.esm.kinesis import (
    IteratorPosition,
    KinesisStream,
    Shard,
    ShardReader,
    readable_shards,
)
from tests.fixtures.moto_server import MOTO_REGION, MotoServer

ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def create_stream(moto_server: MotoServer, shards: int = 1) -> str:
    client = moto_server.client("kinesis")
    name = f"stream-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=shards)
    return str(
        client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    )


def put(moto_server: MotoServer, arn: str, data: bytes, key: str = "pk") -> dict[str, Any]:
    reply = moto_server.client("kinesis").put_record(StreamARN=arn, Data=data, PartitionKey=key)
    return {"ShardId": reply["ShardId"], "SequenceNumber": reply["SequenceNumber"]}


async def read_all(reader: ShardReader, limit: int = 100) -> list[SourceRecord]:
    records: list[SourceRecord] = []
    while True:
        read = await reader.read(limit)
        records.extend(read.records)
        if not read.records:
            return records


def data_of(records: list[SourceRecord]) -> list[bytes]:
    return [base64.b64decode(r.event_record["kinesis"]["data"]) for r in records]


def only_shard(stream: KinesisStream) -> Shard:
    (shard,) = asyncio.run(stream.list_shards())
    return shard


def test_records_from_trim_horizon_have_lambdas_exact_kinesis_shape(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    before = time.time()
    first = put(moto_server, arn, b'{"n": 1}', key="user-1")
    second = put(moto_server, arn, b"\x00\xffbinary", key="user-2")
    after = time.time()
    stream = KinesisStream(kinesis_clients, arn, ROLE)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.trim_horizon())

    records = asyncio.run(read_all(reader))

    arrivals = [r.event_record["kinesis"]["approximateArrivalTimestamp"] for r in records]
    assert all(isinstance(a, float) and before - 1 <= a <= after + 1 for a in arrivals)
    expected = [
        {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": key,
                "sequenceNumber": put_reply["SequenceNumber"],
                "data": base64.b64encode(data).decode(),
                "approximateArrivalTimestamp": arrival,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{put_reply['ShardId']}:{put_reply['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": ROLE,
            "awsRegion": MOTO_REGION,
            "eventSourceARN": arn,
        }
        for put_reply, key, data, arrival in [
            (first, "user-1", b'{"n": 1}', arrivals[0]),
            (second, "user-2", b"\x00\xffbinary", arrivals[1]),
        ]
    ]
    assert [dict(r.event_record) for r in records] == expected
    assert [r.record_id for r in records] == [first["SequenceNumber"], second["SequenceNumber"]]
    assert [r.group for r in records] == ["user-1", "user-2"]
    assert [r.handle for r in records] == [first["ShardId"]] * 2
    assert [r.size_bytes for r in records] == [json_size(e) for e in expected]


def test_latest_reads_only_records_put_after_the_iterator(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    put(moto_server, arn, b"old-1")
    put(moto_server, arn, b"old-2")
    stream = KinesisStream(kinesis_clients, arn, ROLE)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.latest())

    async def scenario() -> tuple[list[SourceRecord], list[SourceRecord]]:
        before = await read_all(reader)  # The iterator is taken at the first read.
        put(moto_server, arn, b"new-1")
        put(moto_server, arn, b"new-2")
        return before, await read_all(reader)

    before, after = asyncio.run(scenario())
    assert before == []
    assert data_of(after) == [b"new-1", b"new-2"]


def test_at_timestamp_starts_at_the_first_record_that_arrived_after_it(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    put(moto_server, arn, b"before")
    time.sleep(0.1)
    cut = time.time()
    time.sleep(0.1)
    put(moto_server, arn, b"after-1")
    put(moto_server, arn, b"after-2")
    stream = KinesisStream(kinesis_clients, arn, ROLE)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.at_timestamp(cut))

    assert data_of(asyncio.run(read_all(reader))) == [b"after-1", b"after-2"]


def test_the_streams_retention_period_is_read_from_it(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    stream = KinesisStream(kinesis_clients, arn, ROLE)
    assert asyncio.run(stream.retention_s()) == 24 * 3600
    moto_server.client("kinesis").increase_stream_retention_period(
        StreamARN=arn, RetentionPeriodHours=48
    )
    assert asyncio.run(stream.retention_s()) == 48 * 3600


def test_after_sequence_number_resumes_from_a_checkpoint(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    checkpoint = put(moto_server, arn, b"done")["SequenceNumber"]
    for n in range(2, 12):  # Sequence numbers past 9: an integer order, not a text one.
        put(moto_server, arn, f"todo-{n}".encode())
    stream = KinesisStream(kinesis_clients, arn, ROLE)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.after(checkpoint))

    records = asyncio.run(read_all(reader, limit=3))

    assert data_of(records) == [f"todo-{n}".encode() for n in range(2, 12)]
    assert reader.last_sequence_number == records[-1].record_id


def test_shards_are_listed_across_pages(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server, shards=3)
    stream = KinesisStream(kinesis_clients, arn, ROLE, shards_per_page=1)

    shards = asyncio.run(stream.list_shards())

    assert [s.shard_id for s in shards] == [f"shardId-00000000000{n}" for n in range(3)]
    assert not any(s.closed or s.parents for s in shards)


def test_a_split_parent_is_read_to_its_end_and_finishes_before_its_children(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    for n in range(3):
        put(moto_server, arn, f"r{n}".encode())
    stream = KinesisStream(kinesis_clients, arn, ROLE)
    (parent,) = asyncio.run(stream.list_shards())
    reader = ShardReader(stream, parent, IteratorPosition.trim_horizon())
    client = moto_server.client("kinesis")

    async def scenario() -> tuple[list[Shard], list[SourceRecord], bool]:
        first = await reader.read(2)
        client.split_shard(
            StreamARN=arn, ShardToSplit=parent.shard_id, NewStartingHashKey=str(2**127)
        )
        shards = await stream.list_shards()
        reader.update_shard(next(s for s in shards if s.shard_id == parent.shard_id))
        records = list(first.records) + await read_all(reader)
        return shards, records, (await reader.read(10)).finished

    shards, records, finished = asyncio.run(scenario())

    closed, *children = shards
    assert closed.shard_id == parent.shard_id and closed.closed
    assert [c.parent_shard_id for c in children] == [parent.shard_id] * 2
    assert finished and reader.finished
    # moto re-puts a split shard's records into it, so the parent reads them (again).
    assert set(data_of(records)) == {b"r0", b"r1", b"r2"}
    assert readable_shards(shards, set()) == [closed]
    assert readable_shards(shards, {closed.shard_id}) == children


def test_update_shard_count_closes_the_shard_and_lists_children_with_their_parent(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    put(moto_server, arn, b"only")
    moto_server.client("kinesis").update_shard_count(
        StreamARN=arn, TargetShardCount=2, ScalingType="UNIFORM_SCALING"
    )
    stream = KinesisStream(kinesis_clients, arn, ROLE)

    shards = asyncio.run(stream.list_shards())
    parent, *children = shards
    reader = ShardReader(stream, parent, IteratorPosition.trim_horizon())
    records = asyncio.run(read_all(reader))

    assert parent.closed and len(children) == 2
    assert all(c.parent_shard_id == parent.shard_id and not c.closed for c in children)
    assert data_of(records) == [b"only"]
    assert asyncio.run(reader.read(10)).finished


def test_read_records_are_filtered_and_batched_by_the_existing_buffer(
    moto_server: MotoServer, kinesis_clients: AwsClients
) -> None:
    arn = create_stream(moto_server)
    for n in range(6):
        put(moto_server, arn, f'{{"kind": "{"keep" if n % 2 else "drop"}", "n": {n}}}'.encode())
    stream = KinesisStream(kinesis_clients, arn, ROLE)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.trim_horizon())
    criteria = parse_filter_criteria(
        {"Filters": [{"Pattern": '{"data": {"kind": ["keep"]}}'}]}, EventSourceKind.KINESIS
    )
    buffer = RecordBuffer(BatchPolicy(batch_size=2), criteria)

    dropped = buffer.add(asyncio.run(read_all(reader)))
    batch = buffer.take()

    assert len(dropped) == 3
    assert [r.record_id for r in batch] == ["2", "4"]
    assert buffer.pending == 1
