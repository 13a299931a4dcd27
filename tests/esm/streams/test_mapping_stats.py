"""``roost mapping-stats UUID`` against a running Roost with a Kinesis mapping on moto."""

from __future__ import annotations

import json

import pytest

from roost.cli.main import main as roost_main
from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.esm.streams.support import (
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    processed,
    put_records,
)
from tests.esm.streams.support_more import records_of_fate
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


@pytest.fixture
def cli_flags(stream_roost: RoostProcess, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Flags and credentials of a ``roost`` client command aimed at the stream Roost."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return ["--endpoint-url", stream_roost.endpoint, "--region", "us-east-1"]


def test_roost_mapping_stats_prints_a_stream_mapping_s_figures(
    stream_roost: RoostProcess,
    moto_server: MotoServer,
    recorder: Recorder,
    function_name: str,
    cli_flags: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: a two-shard Kinesis mapping that processed ten records
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server, shards=2)
    put_records(moto_server, arn, [str(i) for i in range(10)])
    uuid_ = map_stream(client, function_name, arn, BatchSize=4)
    wait_for(lambda: len(processed(recorder)) >= 10, 60)
    wait_for(lambda: records_of_fate(stream_roost, uuid_, "invoked") == 10, 30)

    # When: roost mapping-stats asks for it, as JSON and as text
    assert roost_main(["mapping-stats", uuid_, "--json", *cli_flags]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert roost_main(["mapping-stats", uuid_, *cli_flags]) == 0
    text = capsys.readouterr().out

    # Then: the figures are the mapping's, with a line per shard of the stream
    assert stats["UUID"] == uuid_
    assert stats["FunctionArn"].endswith(f":function:{function_name}")
    assert stats["records"] == {"invoked": 10, "failed": 0, "filtered": 0, "given_up": 0}
    assert stats["batches"]["succeeded"] >= 3
    shard_ids = {
        s["ShardId"] for s in moto_server.client("kinesis").list_shards(StreamARN=arn)["Shards"]
    }
    assert set(stats["shards"]) == shard_ids
    for shard in stats["shards"].values():
        assert shard["iterator_age_s"] >= 0
        assert shard["millis_behind_latest"] is not None
    assert "records (invoked)" in text and "10" in text
    assert all(f"iterator age ({shard_id})" in text for shard_id in shard_ids)
    assert all(f"behind latest ({shard_id})" in text for shard_id in shard_ids)


def test_roost_mapping_stats_of_a_missing_mapping_fails(
    cli_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = roost_main(["mapping-stats", "6f1c2c39-0000-4000-8000-00000000dead", *cli_flags])

    assert code == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err
