"""Event source circuit breakers end to end: a mapping whose SQS queue was deleted
gets its breaker opened (``/metrics``), while another mapping keeps working."""

from __future__ import annotations

import urllib.request
from typing import Any

from roost.observability.prometheus import parse
from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import (
    create_queue,
    deploy_reporter,
    map_queue,
    processed_ids,
    send,
    wait_for,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


def breaker_state(roost: RoostProcess, target: str) -> float | None:
    """``roost_breaker_state{dependency="event_source",target=...}`` now (None: absent)."""
    with urllib.request.urlopen(f"{roost.endpoint}/metrics", timeout=10) as reply:
        samples = parse(reply.read().decode())
    labels = {"dependency": "event_source", "target": target}
    found = [s.value for s in samples if s.name == "roost_breaker_state" and s.labels == labels]
    return found[0] if found else None


def test_a_deleted_queue_opens_its_breaker_while_another_mapping_keeps_working(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client: Any = esm_roost.client()
    deploy_reporter(client, function_name)
    # Given two mappings of one function, each reading its own queue
    sick_url, sick_arn = create_queue(moto_server)
    well_url, well_arn = create_queue(moto_server)
    sick = map_queue(client, function_name, sick_arn, ScalingConfig={"MaximumConcurrency": 2})
    well = map_queue(client, function_name, well_arn, ScalingConfig={"MaximumConcurrency": 2})
    try:
        # When one queue is deleted under its mapping
        moto_server.client("sqs").delete_queue(QueueUrl=sick_url)
        # Then its endpoint's breaker opens (its polls fail every time)...
        wait_for(lambda: breaker_state(esm_roost, sick_arn) == 2, 60)
        # ...while the other mapping's stays closed and its messages run
        send(moto_server, well_url, [{"id": f"w{i}", "port": recorder.port} for i in range(5)])
        wait_for(lambda: {f"w{i}" for i in range(5)} <= set(processed_ids(recorder)), 60)
        assert breaker_state(esm_roost, well_arn) == 0
    finally:
        client.delete_event_source_mapping(UUID=sick)
        client.delete_event_source_mapping(UUID=well)
