"""DynamoDB stream shards read through ``DynamoDbStream`` and ``ShardReader`` from moto's server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from roost.esm.aws_clients import AwsClients
from roost.esm.buffer import BatchPolicy, RecordBuffer
from roost.esm.connector import SourceRecord, records_payload
from roost.esm.dynamodb import DynamoDbStream
from roost.esm.filtering import EventSourceKind, parse_filter_criteria
from roost.esm.kinesis import IteratorPosition, Shard, ShardReader
from tests.fixtures.moto_server import MOTO_REGION, MotoServer


def create_table(moto_server: MotoServer, view: str = "NEW_AND_OLD_IMAGES") -> tuple[str, str]:
    name = f"table-{uuid.uuid4().hex[:8]}"
    reply = moto_server.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )
    return name, str(reply["TableDescription"]["LatestStreamArn"])


def put_item(moto_server: MotoServer, table: str, item: dict[str, Any]) -> None:
    moto_server.client("dynamodb").put_item(TableName=table, Item=item)


async def read_all(reader: ShardReader, limit: int = 100) -> list[SourceRecord]:
    records: list[SourceRecord] = []
    while True:
        read = await reader.read(limit)
        records.extend(read.records)
        if not read.records:
            return records


def only_shard(stream: DynamoDbStream) -> Shard:
    (shard,) = asyncio.run(stream.list_shards())
    return shard


def test_insert_modify_remove_have_lambdas_exact_dynamodb_shape(
    moto_server: MotoServer, streams_clients: AwsClients
) -> None:
    table, arn = create_table(moto_server)
    put_item(moto_server, table, {"id": {"S": "a"}, "blob": {"B": b"\x00\x01"}, "n": {"N": "1"}})
    put_item(moto_server, table, {"id": {"S": "a"}, "n": {"N": "2"}})
    moto_server.client("dynamodb").delete_item(TableName=table, Key={"id": {"S": "a"}})
    stream = DynamoDbStream(streams_clients, arn)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.trim_horizon())

    records = asyncio.run(read_all(reader))

    old = {"id": {"S": "a"}, "blob": {"B": "AAE="}, "n": {"N": "1"}}
    new = {"id": {"S": "a"}, "n": {"N": "2"}}
    images: list[tuple[str, dict[str, Any]]] = [
        ("INSERT", {"NewImage": old}),
        ("MODIFY", {"NewImage": new, "OldImage": old}),
        ("REMOVE", {"OldImage": new}),
    ]
    expected = []
    for record, (name, image) in zip(records, images, strict=True):
        change = record.event_record["dynamodb"]
        created = change["ApproximateCreationDateTime"]
        assert isinstance(created, float) and created == int(created)
        assert isinstance(change["SizeBytes"], int) and change["SizeBytes"] > 0
        expected.append(
            {
                "eventID": record.event_record["eventID"],
                "eventName": name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": MOTO_REGION,
                "dynamodb": {
                    "ApproximateCreationDateTime": created,
                    "Keys": {"id": {"S": "a"}},
                    **image,
                    "SequenceNumber": record.record_id,
                    "SizeBytes": change["SizeBytes"],
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": arn,
            }
        )
    assert [dict(r.event_record) for r in records] == expected
    numbers = [int(r.record_id) for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert {r.group for r in records} == {'{"id":{"S":"a"}}'}
    # Powertools reads the same event.
    event = DynamoDBStreamEvent(records_payload(records))
    assert [r.dynamodb.new_image.get("n") for r in event.records if r.dynamodb] == [1, 2, None]


def test_latest_reads_only_changes_made_after_the_iterator(
    moto_server: MotoServer, streams_clients: AwsClients
) -> None:
    table, arn = create_table(moto_server, view="KEYS_ONLY")
    put_item(moto_server, table, {"id": {"S": "old"}})
    stream = DynamoDbStream(streams_clients, arn)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.latest())

    async def scenario() -> tuple[list[SourceRecord], list[SourceRecord]]:
        before = await read_all(reader)
        put_item(moto_server, table, {"id": {"S": "new"}})
        return before, await read_all(reader)

    before, after = asyncio.run(scenario())

    assert before == []
    assert [r.event_record["dynamodb"]["Keys"] for r in after] == [{"id": {"S": "new"}}]
    assert "NewImage" not in after[0].event_record["dynamodb"]


def test_after_sequence_number_resumes_from_a_checkpoint(
    moto_server: MotoServer, streams_clients: AwsClients
) -> None:
    table, arn = create_table(moto_server)
    for n in range(5):
        put_item(moto_server, table, {"id": {"S": f"k{n}"}})
    stream = DynamoDbStream(streams_clients, arn)
    shard = only_shard(stream)
    first = asyncio.run(ShardReader(stream, shard, IteratorPosition.trim_horizon()).read(2))
    checkpoint = first.records[-1].record_id

    reader = ShardReader(stream, shard, IteratorPosition.after(checkpoint))
    records = asyncio.run(read_all(reader, limit=2))

    assert [r.event_record["dynamodb"]["Keys"]["id"]["S"] for r in records] == ["k2", "k3", "k4"]


def test_at_timestamp_is_refused_as_aws_refuses_it(
    moto_server: MotoServer, streams_clients: AwsClients
) -> None:
    _, arn = create_table(moto_server)
    stream = DynamoDbStream(streams_clients, arn)
    shard = only_shard(stream)

    with pytest.raises(ValueError, match="AT_TIMESTAMP"):
        ShardReader(stream, shard, IteratorPosition.at_timestamp(0.0))
    with pytest.raises(ValueError, match="AT_TIMESTAMP"):
        asyncio.run(stream.get_shard_iterator(shard.shard_id, IteratorPosition.at_timestamp(0.0)))


def test_shards_are_described_page_by_page(
    moto_server: MotoServer, streams_clients: AwsClients
) -> None:
    _, arn = create_table(moto_server)
    stream = DynamoDbStream(streams_clients, arn, shards_per_page=1)

    (shard,) = asyncio.run(stream.list_shards())

    assert shard.shard_id.startswith("shardId-")
    assert shard.starting_sequence_number is not None and not shard.closed


def test_read_records_are_filtered_on_their_images(
    moto_server: MotoServer, streams_clients: AwsClients
) -> None:
    table, arn = create_table(moto_server)
    put_item(moto_server, table, {"id": {"S": "a"}, "status": {"S": "shipped"}})
    put_item(moto_server, table, {"id": {"S": "b"}, "status": {"S": "open"}})
    stream = DynamoDbStream(streams_clients, arn)
    reader = ShardReader(stream, only_shard(stream), IteratorPosition.trim_horizon())
    criteria = parse_filter_criteria(
        {"Filters": [{"Pattern": '{"dynamodb": {"NewImage": {"status": {"S": ["open"]}}}}'}]},
        EventSourceKind.DYNAMODB,
    )

    buffer = RecordBuffer(BatchPolicy(batch_size=10), criteria)

    dropped = buffer.add(asyncio.run(read_all(reader)))
    kept = buffer.drain()

    assert [r.event_record["dynamodb"]["Keys"]["id"]["S"] for r in kept] == ["b"]
    assert [r.event_record["dynamodb"]["Keys"]["id"]["S"] for r in dropped] == ["a"]
