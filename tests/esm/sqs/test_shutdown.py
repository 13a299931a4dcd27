"""Stopping a node whose SQS mappings are long-polling empty queues."""

from __future__ import annotations

from pathlib import Path

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import (
    create_queue,
    deploy_reporter,
    done_ids,
    esm_env,
    map_queue,
    send,
    wait_for,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


def test_a_node_stops_without_waiting_out_an_idle_long_poll_and_loses_nothing(
    tmp_path: Path, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given a node whose mapping has drained its queue and long-polls it again, for
    # 20 s as on AWS (the other tests poll for 2 s)
    env = {**esm_env(moto_server), "ROOST_ESM_POLL_WAIT_S": "20"}
    node = RoostProcess(tmp_path / "data", env=env)
    node.start()
    try:
        client = node.client()
        deploy_reporter(client, function_name, timeout_s=2)
        url, arn = create_queue(moto_server, VisibilityTimeout="2")
        map_queue(client, function_name, arn)
        send(moto_server, url, [{"id": "before", "port": recorder.port}])
        wait_for(lambda: "before" in done_ids(recorder))

        # When it is asked to stop: the polls in flight would wait up to 20 s more,
        # longer than the node's stop may take in tests (ROOST_STOP_DEADLINE_S)
        assert node.stop() == 0
    finally:
        if node.process is not None and node.process.poll() is None:
            node.kill()

    # Then it left the blocked polls behind and said so
    log = node.log()
    assert "Roost stopped." in log
    assert "leaving" in log and "esm-sqs-receive" in log, log

    # And a message sent now, which an abandoned poll may have taken, is not lost:
    # it shows again after its visibility timeout and runs once the node is back
    send(moto_server, url, [{"id": "after", "port": recorder.port}])
    node.start()
    try:
        wait_for(lambda: "after" in done_ids(recorder))
    finally:
        node.stop()
