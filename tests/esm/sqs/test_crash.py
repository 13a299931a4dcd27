"""A poller that crashes: its mapping moves to another node's poller, no message is lost."""

from __future__ import annotations

from pathlib import Path

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import (
    create_queue,
    deploy_reporter,
    done_ids,
    esm_env,
    map_queue,
    queue_depth,
    send,
    wait_for,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


def test_a_killed_pollers_mapping_is_taken_over_and_no_message_is_lost(
    tmp_path: Path, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given node A running a mapping, and node B sharing its data
    data = tmp_path / "data"
    first = RoostProcess(data, env=esm_env(moto_server))
    first.start()
    second = RoostProcess(data, env=esm_env(moto_server))
    try:
        client = first.client()
        deploy_reporter(client, function_name, timeout_s=3)
        url, arn = create_queue(moto_server, VisibilityTimeout="3")
        map_queue(client, function_name, arn, BatchSize=1, ScalingConfig={"MaximumConcurrency": 2})
        send(moto_server, url, [{"id": "warm", "port": recorder.port}])
        wait_for(lambda: "warm" in done_ids(recorder))
        second.start()

        # When A is killed while messages are waiting and running
        ids = [f"m{i}" for i in range(12)]
        send(moto_server, url, [{"id": i, "port": recorder.port, "sleep": 0.5} for i in ids])
        wait_for(lambda: bool(done_ids(recorder) & set(ids)))
        first.kill()

        # Then B takes the mapping over once A's lease expires, and every message is done
        wait_for(lambda: set(ids) <= done_ids(recorder))
        wait_for(lambda: queue_depth(moto_server, url) == 0)
        mapping = second.client().list_event_source_mappings(FunctionName=function_name)
        assert mapping["EventSourceMappings"][0]["State"] == "Enabled"
    finally:
        if first.process is not None and first.process.poll() is None:
            first.stop()
        if second.process is not None and second.process.poll() is None:
            second.stop()
