"""Kinesis mappings end to end against moto: order, parallelization, starting positions."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.esm.streams.support import (
    batches,
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    processed,
    put_keyed,
    put_records,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.overlap import peak_overlap
from tests.fixtures.roost_process import RoostProcess


def test_records_of_a_shard_reach_the_function_in_order(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server)
    items = [str(i) for i in range(30)]
    put_records(moto_server, arn, items)
    uuid_ = map_stream(client, function_name, arn, BatchSize=7)
    assert client.get_event_source_mapping(UUID=uuid_)["LastProcessingResult"] in (
        "No records processed",
        "OK",
    )
    wait_for(lambda: len(processed(recorder)) >= 30, 60)
    assert processed(recorder) == items
    # And: the mapping says its last batch went well
    wait_for(
        lambda: client.get_event_source_mapping(UUID=uuid_)["LastProcessingResult"] == "OK", 30
    )


def test_each_shard_of_several_is_delivered_in_order_and_every_record_once(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a stream of 3 shards holding records of 12 partition keys
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server, shards=3)
    items = [(f"key-{i % 12}", f"r{i}") for i in range(60)]
    landed = put_keyed(moto_server, arn, items)
    put_order: dict[str, list[str]] = defaultdict(list)
    for shard, (_, data) in zip(landed, items, strict=True):
        put_order[shard].append(data)
    assert len(put_order) > 1, "the keys should spread over several shards"

    # When a mapping reads it from the start
    map_stream(client, function_name, arn, BatchSize=5)
    wait_for(lambda: len(processed(recorder)) >= len(items), 60)

    # Then each shard's records came in put order, each batch from one shard, each once
    seen: dict[str, list[str]] = defaultdict(list)
    for batch in batches(recorder):
        assert len(set(batch["shards"])) == 1
        seen[batch["shards"][0]].extend(batch["data"])
    assert seen == put_order
    assert sorted(processed(recorder)) == sorted(data for _, data in items)


def test_parallelization_factor_runs_a_shards_batches_at_once_in_order_per_key(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given one shard holding 6 records of each of 16 partition keys, each invoke slow
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder, SLEEP_S="0.4")
    arn = create_kinesis_stream(moto_server)
    items = [(f"key-{i % 16}", f"slow-{i % 16}-{i // 16}") for i in range(96)]
    put_keyed(moto_server, arn, items)

    # When a mapping reads it with ParallelizationFactor 4
    map_stream(client, function_name, arn, BatchSize=4, ParallelizationFactor=4)
    wait_for(lambda: len(processed(recorder)) >= len(items), 90)

    # Then every record ran once, each key's records in put order, batches overlapping
    reports = batches(recorder)
    assert sorted(processed(recorder)) == sorted(data for _, data in items)
    by_key: dict[str, list[str]] = defaultdict(list)
    for batch in reports:
        for key, data in zip(batch["keys"], batch["data"], strict=True):
            by_key[key].append(data)
    for key, data in by_key.items():
        index = key.removeprefix("key-")
        assert data == [f"slow-{index}-{n}" for n in range(6)]
    assert peak_overlap((b["t"], b["end"]) for b in reports) >= 2


def test_latest_skips_records_put_before_the_mapping_is_enabled(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a stream already holding records
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server)
    put_records(moto_server, arn, ["before-1", "before-2"])

    # When a LATEST mapping is Enabled and then more records come
    map_stream(client, function_name, arn, StartingPosition="LATEST")
    put_records(moto_server, arn, ["after-1", "after-2", "after-3"])

    # Then only the later ones reach the function
    wait_for(lambda: len(processed(recorder)) >= 3, 60)
    time.sleep(1.0)  # a few more polls: nothing else arrives
    assert processed(recorder) == ["after-1", "after-2", "after-3"]


def test_at_timestamp_starts_at_the_first_record_put_after_the_timestamp(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given records put before and after a moment
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server)
    put_records(moto_server, arn, ["old-1", "old-2"])
    time.sleep(1.0)
    moment = dt.datetime.now(dt.UTC)
    time.sleep(1.0)
    put_records(moto_server, arn, ["new-1", "new-2"])

    # When a mapping starts AT_TIMESTAMP that moment
    map_stream(
        client,
        function_name,
        arn,
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=moment,
    )

    # Then the records from the moment on are processed, and none before it
    wait_for(lambda: len(processed(recorder)) >= 2, 60)
    put_records(moto_server, arn, ["new-3"])
    wait_for(lambda: len(processed(recorder)) >= 3, 60)
    assert processed(recorder) == ["new-1", "new-2", "new-3"]
