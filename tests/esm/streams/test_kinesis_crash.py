"""A Roost killed mid-batch resumes its Kinesis mapping from the shard's checkpoint."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import esm_env, wait_for
from tests.esm.streams.conftest import STREAM_ENV
from tests.esm.streams.support import (
    batches,
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    put_records,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


def test_a_killed_roost_resumes_from_the_checkpoint_losing_nothing(
    tmp_path: Path, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a Roost running a mapping, busy with a slow batch in the middle of the shard
    data = tmp_path / "data"
    env = {**esm_env(moto_server), **STREAM_ENV}
    first = RoostProcess(data, env=env)
    second = RoostProcess(data, env=env)
    first.start()
    try:
        client = first.client()
        deploy_stream_reporter(client, function_name, recorder, SLEEP_S="3")
        arn = create_kinesis_stream(moto_server)
        items = [f"r{i}" for i in range(10)] + ["slow-10"] + [f"r{i}" for i in range(11, 20)]
        put_records(moto_server, arn, items)
        map_stream(client, function_name, arn, BatchSize=2)
        wait_for(lambda: bool(recorder.of("sleeping")), 60)

        # When it is killed mid-batch and a Roost restarts on the same data
        first.kill()
        killed_at = time.time()
        second.start()

        # Then every record is processed: those before the checkpoint once, the rest
        # at most once more, and the restarted Roost went on from there in order
        def done() -> list[str]:
            return [d for b in batches(recorder) if not b["failed"] for d in b["data"]]

        wait_for(lambda: set(items) <= set(done()), 90)
        counts = Counter(done())
        assert set(counts) == set(items)
        assert max(counts.values()) <= 2
        resumed = [d for b in batches(recorder) if b["t"] > killed_at for d in b["data"]]
        checkpoint = len(items) - len(resumed)
        assert resumed == items[checkpoint:]
        assert 0 < checkpoint <= items.index("slow-10")
        assert all(counts[i] == 1 for i in items[:checkpoint])
    finally:
        for process in (first, second):
            if process.process is not None and process.process.poll() is None:
                process.stop()
