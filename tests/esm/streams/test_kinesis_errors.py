"""Kinesis mappings end to end against moto: bisect, partial batch responses, retries,
OnFailure records in AWS's shape, and what ``/metrics`` shows of them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import FailOnce, create_queue, wait_for
from tests.esm.streams.support import (
    batches,
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    metric_samples,
    processed,
    put_records,
    received_json,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess

SHARD = "shardId-000000000000"


def iso_moment(text: str) -> dt.datetime:
    """An AWS timestamp such as ``2019-11-14T00:38:06.021Z``."""
    assert text.endswith("Z")
    return dt.datetime.fromisoformat(text.removesuffix("Z") + "+00:00")


def test_bisect_isolates_the_poison_record_and_sends_it_to_on_failure(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a batch of 8 records, the fourth of them poison, and an OnFailure queue
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder, poison="3")
    arn = create_kinesis_stream(moto_server)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    items = [str(i) for i in range(8)]
    sequence_numbers = put_records(moto_server, arn, items)
    url, queue_arn = create_queue(moto_server)

    # When a bisecting mapping without retries runs it
    uuid = map_stream(
        client,
        function_name,
        arn,
        BatchSize=8,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )

    # Then every good record ran once, in order, in invokes that succeeded
    good = [i for i in items if i != "3"]
    wait_for(lambda: len(processed(recorder)) >= len(good), 60)
    assert processed(recorder) == good
    assert batches(recorder)[0]["data"] == items

    # And the OnFailure queue got one record describing the poison record alone
    [record] = received_json(moto_server, url, 1)
    context = record["requestContext"]
    assert context["condition"] == "RetryAttemptsExhausted"
    assert context["approximateInvokeCount"] >= 1
    assert context["functionArn"].endswith(f":function:{function_name}")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["version"] == "1.0"
    assert iso_moment(record["timestamp"]) >= before
    info = record["KinesisBatchInfo"]
    poison = sequence_numbers[3]
    assert info["shardId"] == SHARD
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison
    assert info["batchSize"] == 1
    assert info["streamArn"] == arn
    first = iso_moment(info["approximateArrivalOfFirstRecord"])
    assert first == iso_moment(info["approximateArrivalOfLastRecord"])
    assert before <= first <= iso_moment(record["timestamp"])

    # And /metrics counts the given-up record and shows the shard's iterator age
    wait_for(
        lambda: metric_samples(stream_roost, "roost_esm_records_total", uuid).get("given_up") == 1,
        30,
    )
    ages = metric_samples(stream_roost, "roost_esm_iterator_age_seconds", uuid)
    assert SHARD in ages
    assert ages[SHARD] >= 0


def test_a_partial_batch_response_retries_from_the_lowest_failed_record(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a function reporting records 5 and 3 as failed the first time it sees them
    client = stream_roost.client()
    fail_once = FailOnce({"3", "5"})
    try:
        deploy_stream_reporter(
            client,
            function_name,
            recorder,
            MODE="partial",
            FAIL_ONCE="3,5",
            FAIL_PORT=str(fail_once.port),
        )
        arn = create_kinesis_stream(moto_server)
        items = [str(i) for i in range(8)]
        put_records(moto_server, arn, items)

        # When a mapping with ReportBatchItemFailures runs a batch of 8
        map_stream(
            client,
            function_name,
            arn,
            BatchSize=8,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )

        # Then the retry starts at record 3 (the lowest failed) and holds the rest
        wait_for(lambda: len(batches(recorder)) >= 2, 60)
        put_records(moto_server, arn, ["8"])
        wait_for(lambda: "8" in processed(recorder), 60)
    finally:
        fail_once.close()
    reports = batches(recorder)
    assert reports[0]["data"] == items
    assert reports[0]["failed_items"] == ["3", "5"]
    assert reports[1]["data"] == items[3:]
    assert reports[1]["failed_items"] == []
    assert [d for b in reports[2:] for d in b["data"]] == ["8"]


def test_a_failing_batch_is_retried_while_it_blocks_the_shard_then_goes_to_on_failure(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a batch [a, poison] and a record after it
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder, poison="poison")
    arn = create_kinesis_stream(moto_server)
    sequence_numbers = put_records(moto_server, arn, ["a", "poison", "later"])
    url, queue_arn = create_queue(moto_server)

    # When a mapping with 2 retries and no bisect runs them
    uuid = map_stream(
        client,
        function_name,
        arn,
        BatchSize=2,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )

    # Then the batch ran 3 times, and the later record only after its last try
    wait_for(lambda: "later" in processed(recorder), 60)
    reports = batches(recorder)
    assert [b["data"] for b in reports] == [["a", "poison"]] * 3 + [["later"]]
    assert [b["failed"] for b in reports] == [True, True, True, False]
    assert processed(recorder) == ["later"]

    # And the whole batch went to OnFailure after 3 invokes
    [record] = received_json(moto_server, url, 1)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    info: dict[str, Any] = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == tuple(sequence_numbers[:2])
    assert info["batchSize"] == 2
    wait_for(
        lambda: metric_samples(stream_roost, "roost_esm_records_total", uuid).get("given_up") == 2,
        30,
    )


def test_records_older_than_the_maximum_record_age_go_to_on_failure(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a record that always fails, a record after it, and unlimited retries;
    # 60 s is the least MaximumRecordAgeInSeconds, and moto cannot backdate a record
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder, poison="poison")
    arn = create_kinesis_stream(moto_server)
    sequence_numbers = put_records(moto_server, arn, ["poison", "later"])
    url, queue_arn = create_queue(moto_server)

    # When a mapping whose records may be 60 s old runs them
    map_stream(
        client,
        function_name,
        arn,
        BatchSize=1,
        MaximumRetryAttempts=-1,
        MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )

    # Then the poison record is retried until it is too old, then sent to OnFailure;
    # the record it blocked is too old by then as well and follows it uninvoked
    records = received_json(moto_server, url, 2, timeout_s=100)
    by_start = {r["KinesisBatchInfo"]["startSequenceNumber"]: r for r in records}
    assert sorted(by_start) == sorted(sequence_numbers)
    poison, later = by_start[sequence_numbers[0]], by_start[sequence_numbers[1]]
    failed = [b for b in batches(recorder) if b["failed"]]
    assert len(failed) > 2
    assert {d for b in failed for d in b["data"]} == {"poison"}
    assert poison["requestContext"]["condition"] == "RecordAgeExceeded"
    assert poison["requestContext"]["approximateInvokeCount"] == len(failed)
    assert poison["responseContext"]["functionError"] == "Unhandled"
    assert later["requestContext"]["condition"] == "RecordAgeExceeded"
    assert later["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in later
    assert processed(recorder) == []
