"""Kinesis mappings end to end against moto: order, positions, bisect, OnFailure."""

from __future__ import annotations

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.esm.streams.support import (
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    processed,
    put_records,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


def test_records_of_a_shard_reach_the_function_in_order(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server)
    items = [str(i) for i in range(30)]
    put_records(moto_server, arn, items)
    map_stream(client, function_name, arn, BatchSize=7)
    wait_for(lambda: len(processed(recorder)) >= 30, 60)
    assert processed(recorder) == items
