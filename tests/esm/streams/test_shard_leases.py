"""Shards, not whole mappings, are leased: two pollers split one stream's shards."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import esm_env, wait_for
from tests.esm.streams.conftest import STREAM_ENV
from tests.esm.streams.support import (
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    processed,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


@pytest.fixture(scope="module")
def two_poller_roost(
    tmp_path_factory: pytest.TempPathFactory, moto_server: MotoServer
) -> Iterator[RoostProcess]:
    """A Roost running two ESM pollers."""
    env = {**esm_env(moto_server), **STREAM_ENV, "ROOST_ESM_POLLERS": "2"}
    process = RoostProcess(tmp_path_factory.mktemp("two-pollers") / "data", env=env)
    process.start()
    yield process
    process.stop()


def shard_owners(process: RoostProcess, uuid: str) -> dict[str, str]:
    """Each shard's checkpoint owner (poller id and incarnation), read from checkpoints.db."""
    path = process.data_dir / "checkpoints.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT shard_id, owner FROM shard_checkpoints WHERE mapping_uuid = ?", (uuid,)
        ).fetchall()
    return {str(shard): str(owner) for shard, owner in rows}


def test_two_pollers_split_the_shards_of_one_mapping_and_each_shard_keeps_its_order(
    two_poller_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = two_poller_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server, shards=4)
    kinesis = moto_server.client("kinesis")
    shards = [s["ShardId"] for s in kinesis.list_shards(StreamARN=arn)["Shards"]]
    sent: dict[str, list[str]] = {shard: [] for shard in shards}
    for i in range(40):
        shard = shards[i % 4]
        data = f"{shard}:{i}"
        kinesis.put_record(
            StreamARN=arn,
            Data=data.encode(),
            PartitionKey=f"key-{i}",
            ExplicitHashKey=hash_key_of(kinesis, arn, shard),
        )
        sent[shard].append(data)
    uuid = map_stream(client, function_name, arn, BatchSize=3)
    wait_for(lambda: len(processed(recorder)) >= 40, 60)
    seen = processed(recorder)
    assert sorted(seen) == sorted(d for items in sent.values() for d in items)
    for shard, items in sent.items():
        assert [d for d in seen if d.startswith(f"{shard}:")] == items
    wait_for(lambda: len(shard_owners(two_poller_roost, uuid)) == 4, 30)
    owners = {owner.split(":")[0] for owner in shard_owners(two_poller_roost, uuid).values()}
    assert owners == {"esm-poller-0", "esm-poller-1"}


def hash_key_of(kinesis: object, arn: str, shard_id: str) -> str:
    """A hash key inside ``shard_id``'s range, so a record lands in that shard."""
    shards = kinesis.list_shards(StreamARN=arn)["Shards"]  # type: ignore[attr-defined]
    (shard,) = [s for s in shards if s["ShardId"] == shard_id]
    return str(shard["HashKeyRange"]["StartingHashKey"])
