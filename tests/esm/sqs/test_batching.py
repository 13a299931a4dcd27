"""SQS mappings end to end: batching by size and by window, filtering, updates."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from roost.observability.prometheus import parse
from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import (
    batches,
    create_queue,
    deploy_reporter,
    map_queue,
    processed_ids,
    queue_depth,
    send,
    wait_for,
    wait_state,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


def bodies(recorder: Recorder, count: int, prefix: str = "m", **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "port": recorder.port, **extra} for i in range(count)]


def test_a_batch_is_invoked_once_it_holds_batch_size_records(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given 20 messages waiting and a mapping of batch size 10 with a long window
    # (the queue hides a received message longer than the window, as AWS advises)
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server, VisibilityTimeout="120")
    send(moto_server, url, bodies(recorder, 20))
    created = time.time()
    uuid = map_queue(
        client,
        function_name,
        arn,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=60,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    # Then a full batch of 10 runs long before the window could close. (Two batch
    # loops may each hold part of the rest until their window closes, as AWS's
    # pollers may: the test does not wait for those.)
    wait_for(lambda: any(len(b["ids"]) == 10 for b in batches(recorder)), 45)
    full = next(b for b in batches(recorder) if len(b["ids"]) == 10)
    assert full["start"] - created < 30
    assert all(len(b["ids"]) <= 10 for b in batches(recorder))
    ids = processed_ids(recorder)
    assert len(ids) == len(set(ids)), "a record ran twice"
    client.delete_event_source_mapping(UUID=uuid)  # Its partial batches go back.


def test_a_batch_is_invoked_when_its_window_closes(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server)
    map_queue(
        client,
        function_name,
        arn,
        BatchSize=100,
        MaximumBatchingWindowInSeconds=2,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    # When fewer messages than the batch size arrive
    send(moto_server, url, bodies(recorder, 7))
    # Then the window closes the batch (at most one per batch loop)
    wait_for(lambda: len(processed_ids(recorder)) >= 7)
    assert 1 <= len(batches(recorder)) <= 2
    assert sorted(processed_ids(recorder)) == sorted(f"m{i}" for i in range(7))


def test_records_no_filter_accepts_are_deleted_without_an_invoke(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server)
    uuid = map_queue(
        client,
        function_name,
        arn,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"keep": [True]}})}]},
    )
    send(moto_server, url, bodies(recorder, 4, "drop", keep=False))
    send(moto_server, url, bodies(recorder, 3, "keep", keep=True))
    wait_for(lambda: len(processed_ids(recorder)) >= 3)
    wait_for(lambda: queue_depth(moto_server, url) == 0)
    assert sorted(processed_ids(recorder)) == ["keep0", "keep1", "keep2"]

    # /metrics counts the mapping's records by fate and its batches by outcome.
    records = mapping_samples(esm_roost, "roost_esm_records_total", uuid)
    assert (records["invoked"], records["filtered"], records["failed"]) == (3, 4, 0)
    assert sum(mapping_samples(esm_roost, "roost_esm_batches_total", uuid).values()) >= 1


def mapping_samples(roost: RoostProcess, name: str, uuid: str) -> dict[str, float]:
    """One mapping's samples of ``name``, by their ``fate`` or ``outcome`` label."""
    with urllib.request.urlopen(roost.endpoint + "/metrics", timeout=10) as reply:
        samples = parse(reply.read().decode())
    found = {}
    for sample in samples:
        labels = dict(sample.labels)
        if sample.name == name and labels.get("mapping") == uuid:
            found[labels.get("fate") or labels.get("outcome") or ""] = sample.value
    return found


def test_a_batch_size_update_takes_effect_while_running(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server)
    uuid = map_queue(
        client, function_name, arn, BatchSize=1, ScalingConfig={"MaximumConcurrency": 2}
    )
    send(moto_server, url, bodies(recorder, 4, "before"))
    wait_for(lambda: len(processed_ids(recorder)) >= 4)
    assert {len(b["ids"]) for b in batches(recorder)} == {1}

    # When the batch size grows (with a window to gather it)
    client.update_event_source_mapping(UUID=uuid, BatchSize=10, MaximumBatchingWindowInSeconds=3)
    wait_state(client, uuid, "Enabled")
    seen = len(batches(recorder))
    send(moto_server, url, bodies(recorder, 10, "after"))

    # Then later batches hold several records, without a restart
    wait_for(lambda: len(processed_ids(recorder)) >= 14)
    after = batches(recorder)[seen:]
    assert max(len(b["ids"]) for b in after) > 1
    assert client.get_event_source_mapping(UUID=uuid)["BatchSize"] == 10
