"""A Kinesis shard split while a mapping runs: the parent is read to its end, then its children.

moto (5.x) keeps routing records to a split shard's parent: ``split_shard``
closes the parent and re-puts its records into it, and ``put_record`` takes the
first shard whose hash range holds the key, which is the closed parent. So
records put after a split land in the parent, not in its children as on AWS,
and the children stay empty. What the test asserts is what shows here: the
parent's records, before and after the split, are processed once and in
order, and the children are read only after it (they appear on ``/metrics``).
"""

from __future__ import annotations

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.esm.streams.support import (
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    metric_samples,
    processed,
    put_records,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess

PARENT = "shardId-000000000000"
CHILDREN = {"shardId-000000000001", "shardId-000000000002"}


def shards_read(roost: RoostProcess, uuid: str) -> set[str]:
    """The shards the mapping reads now: those ``/metrics`` shows an iterator age of."""
    return set(metric_samples(roost, "roost_esm_iterator_age_seconds", uuid))


def test_a_split_shard_is_read_to_its_end_before_its_children(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a mapping busy with a slow record of a one-shard stream, records waiting behind it
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder, SLEEP_S="4")
    arn = create_kinesis_stream(moto_server)
    before = ["a0", "a1", "a2", "slow-a3", "a4", "a5"]
    put_records(moto_server, arn, before)
    uuid = map_stream(client, function_name, arn, BatchSize=1)
    wait_for(lambda: bool(recorder.of("sleeping")), 60)
    assert shards_read(stream_roost, uuid) == {PARENT}

    # When the shard is split and more records are put meanwhile
    kinesis = moto_server.client("kinesis")
    kinesis.split_shard(StreamARN=arn, ShardToSplit=PARENT, NewStartingHashKey=str(2**127))
    after = ["b0", "b1", "b2"]
    put_records(moto_server, arn, after)

    # Then every record is processed once, in order, and then the children are read
    wait_for(lambda: len(processed(recorder)) >= len(before + after), 60)
    assert processed(recorder) == before + after
    wait_for(
        lambda: (
            set(metric_samples(stream_roost, "roost_esm_iterator_age_seconds", uuid)) >= CHILDREN
        ),
        30,
    )
    assert set(metric_samples(stream_roost, "roost_esm_iterator_age_seconds", uuid)) == CHILDREN
    assert processed(recorder) == before + after
