"""DynamoDB Streams mappings end to end against moto: AWS's record shape, order,
bisect with an OnFailure queue, LATEST, and the refused AT_TIMESTAMP."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import create_queue, wait_for
from tests.esm.streams.support import (
    batches,
    deploy_stream_reporter,
    map_stream,
    processed,
    received_json,
)
from tests.esm.streams.support_more import create_table_with_stream, records_of_fate
from tests.fixtures.moto_server import MOTO_REGION, MotoServer
from tests.fixtures.roost_process import RoostProcess


def _image(pk: str, **values: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, **{name: {"S": value} for name, value in values.items()}}


def _records(recorder: Recorder) -> list[dict[str, Any]]:
    """Every record of every successful invoke, in invoke order."""
    return [r for b in batches(recorder) if not b["failed"] for r in b["event"]["Records"]]


def test_changes_reach_the_function_in_order_in_aws_s_shape(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given: a table whose stream already holds an insert, an update and a delete
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    table, stream_arn = create_table_with_stream(moto_server)
    dynamodb = moto_server.client("dynamodb")
    dynamodb.put_item(TableName=table, Item=_image("a", v="1"))
    dynamodb.put_item(TableName=table, Item=_image("b", v="1"))
    dynamodb.put_item(TableName=table, Item=_image("a", v="2"))
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "b"}})

    # When: the stream is mapped from its trim horizon
    uuid_ = map_stream(client, function_name, stream_arn, BatchSize=2)
    wait_for(lambda: len(_records(recorder)) >= 4, 60)

    # Then: every change arrived once, in order, in AWS's DynamoDB record shape
    records = _records(recorder)
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "MODIFY", "REMOVE"]
    assert [r["dynamodb"]["Keys"] for r in records] == [
        _image("a"),
        _image("b"),
        _image("a"),
        _image("b"),
    ]
    insert_a, insert_b, modify_a, remove_b = (r["dynamodb"] for r in records)
    assert insert_a["NewImage"] == _image("a", v="1") and "OldImage" not in insert_a
    assert insert_b["NewImage"] == _image("b", v="1")
    assert modify_a["OldImage"] == _image("a", v="1")
    assert modify_a["NewImage"] == _image("a", v="2")
    assert remove_b["OldImage"] == _image("b", v="1") and "NewImage" not in remove_b
    sequence_numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence_numbers == sorted(sequence_numbers)
    assert len(set(sequence_numbers)) == 4
    for record in records:
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"] == stream_arn
        assert record["awsRegion"] == MOTO_REGION
        assert record["eventVersion"] == "1.1"
        assert record["eventID"]
        assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(record["dynamodb"]["SizeBytes"], int)
        assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int | float)
    assert all(len(b["event"]["Records"]) <= 2 for b in batches(recorder))
    wait_for(lambda: records_of_fate(stream_roost, uuid_, "invoked") == 4, 30)


def test_a_poison_record_is_bisected_out_and_sent_to_on_failure(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given: a function that raises on one item, mapped with bisect and an OnFailure queue
    client = stream_roost.client()
    poison = json.dumps(_image("poison"), sort_keys=True)
    deploy_stream_reporter(client, function_name, recorder, poison=poison)
    table, stream_arn = create_table_with_stream(moto_server)
    dynamodb = moto_server.client("dynamodb")
    keys = ["k0", "k1", "k2", "poison", "k4", "k5", "k6", "k7"]
    for key in keys:
        dynamodb.put_item(TableName=table, Item=_image(key))
    queue_url, queue_arn = create_queue(moto_server)

    # When: the stream is mapped in one batch of everything
    map_stream(
        client,
        function_name,
        stream_arn,
        BatchSize=10,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    healthy = [json.dumps(_image(k), sort_keys=True) for k in keys if k != "poison"]
    wait_for(lambda: set(healthy) <= set(processed(recorder)), 90)
    [failure] = received_json(moto_server, queue_url, 1)

    # Then: every other item was processed, in order, and the poison one is described
    assert [d for d in processed(recorder) if d in healthy] == healthy
    assert poison not in processed(recorder)
    info = failure["DDBStreamBatchInfo"]
    assert info["streamArn"] == stream_arn
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["shardId"]
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"].endswith(f":function:{function_name}")
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert "KinesisBatchInfo" not in failure


def test_latest_skips_the_changes_made_before_the_mapping(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given: a table whose stream holds changes made before any mapping
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    table, stream_arn = create_table_with_stream(moto_server)
    dynamodb = moto_server.client("dynamodb")
    for i in range(5):
        dynamodb.put_item(TableName=table, Item=_image(f"early-{i}"))

    # When: the stream is mapped at LATEST, and items are put until one arrives
    # (the reader takes its LATEST iterator some time after the mapping is Enabled)
    map_stream(client, function_name, stream_arn, StartingPosition="LATEST")
    late = (f"late-{i}" for i in itertools.count())

    def a_late_item_arrived() -> bool:
        dynamodb.put_item(TableName=table, Item=_image(next(late)))
        time.sleep(0.5)
        return any("late-" in d for d in processed(recorder))

    wait_for(a_late_item_arrived, 60)

    # Then: none of the earlier changes reached the function
    assert not [d for d in processed(recorder) if "early-" in d]


def test_at_timestamp_is_refused_for_a_dynamodb_stream(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    _, stream_arn = create_table_with_stream(moto_server)

    with pytest.raises(ClientError) as refused:
        client.create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=function_name,
            StartingPosition="AT_TIMESTAMP",
            StartingPositionTimestamp=dt.datetime.now(dt.UTC),
        )

    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert (
        client.list_event_source_mappings(FunctionName=function_name)["EventSourceMappings"] == []
    )
