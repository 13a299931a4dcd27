"""Two cluster nodes with split roles, end to end through boto3 (issue 8, roles per node).

Node F runs ``frontend,async,pollers`` and no environments; node W runs only
``worker``. Both share a redis-server started for the test and one master key.
Every invoke F takes, sync or async, runs on W; W refuses API requests; and
once W has left, F answers 503 instead of hanging.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.async_invoke.support import REPORTER, Recorder, send_event, wait_for
from tests.fixtures.cluster import NodeSpec, RoostCluster
from tests.fixtures.roost_process import RoostProcess, metric
from tests.frontend.invoke.support import deploy_code, invoke, log_tail


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[RoostProcess, RoostProcess]]:
    cluster = RoostCluster(
        tmp_path,
        [NodeSpec("f", "zone-f", "frontend,async,pollers"), NodeSpec("w", "zone-w", "worker")],
    )
    try:
        cluster.start()
        yield cluster.node("f"), cluster.node("w")
    finally:
        cluster.stop()


def served(process: RoostProcess) -> float:
    return metric(process, "roost_cluster_invokes_total", direction="served")


def test_a_frontend_runs_every_invoke_on_the_worker_node(
    nodes: tuple[RoostProcess, RoostProcess], recorder: Recorder
) -> None:
    frontend, worker = nodes
    client: Any = frontend.client()
    deploy_code(client, "reporter", {"app.py": REPORTER})

    # When a sync and an async invoke reach the frontend
    response, payload = invoke(client, "reporter", {"id": "sync-1", "port": recorder.port})
    assert (
        send_event(client, "reporter", {"id": "async-1", "port": recorder.port})["StatusCode"]
        == 202
    )
    wait_for(lambda: "async-1" in recorder.ids(), 30)

    # Then both ran on the worker node, with the function's output and log back
    assert payload == "done"
    assert "START RequestId" in log_tail(response)
    assert served(worker) == 2
    assert metric(frontend, "roost_cluster_invokes_total", direction="sent") == 2
    assert metric(frontend, "roost_cluster_worker_hosts") == 1


def test_a_node_refuses_the_api_its_roles_do_not_serve(
    nodes: tuple[RoostProcess, RoostProcess],
) -> None:
    _, worker = nodes

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        worker.client().list_functions()

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "does not run the role" in caught.value.response["Error"]["Message"]


def test_without_a_worker_node_a_frontend_answers_503_at_once(
    nodes: tuple[RoostProcess, RoostProcess],
) -> None:
    frontend, worker = nodes
    client: Any = frontend.client()
    deploy_code(client, "echo", {"app.py": "def handler(event, context):\n    return event\n"})

    # When the only worker node stops (cleanly: it removes its heartbeat record)
    worker.stop()
    wait_for(lambda: metric(frontend, "roost_cluster_worker_hosts") == 0, 10)

    # Then a sync invoke fails fast with a 503 the caller may retry
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.invoke(FunctionName="echo", Payload=b"{}")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert caught.value.response["Error"]["Code"] == "ServiceException"
