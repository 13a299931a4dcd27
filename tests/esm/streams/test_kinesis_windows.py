"""Tumbling windows end to end on Kinesis: state carried across invokes, a final invoke each."""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from typing import Any

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.esm.streams.support import (
    batches,
    create_kinesis_stream,
    deploy_stream_reporter,
    map_stream,
    put_records,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


def test_a_tumbling_window_sums_across_several_invokes_and_ends_with_a_final_invoke(
    stream_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    # Given: twelve numbers put over about a second, in 2-second windows
    client = stream_roost.client()
    deploy_stream_reporter(client, function_name, recorder)
    arn = create_kinesis_stream(moto_server)
    for number in range(1, 13):
        put_records(moto_server, arn, [str(number)])
        time.sleep(0.1)

    # When: mapped with batches of two and TumblingWindowInSeconds 2
    map_stream(client, function_name, arn, BatchSize=2, TumblingWindowInSeconds=2)

    # Then: the final invokes' states add up to the sum of every number
    def finals() -> list[dict[str, Any]]:
        return [b["event"] for b in batches(recorder) if b["event"]["isFinalInvokeForWindow"]]

    wait_for(lambda: sum(f["state"].get("sum", 0) for f in finals()) == 78, 60)
    events = [b["event"] for b in batches(recorder)]
    by_window: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_window[event["window"]["start"]].append(event)
    for window, invokes in by_window.items():
        *aggregations, final = invokes
        # each window: invokes with records, then one final invoke without
        assert final["isFinalInvokeForWindow"] is True, window
        assert final["Records"] == []
        assert final["isWindowTerminatedEarly"] is False
        running = 0
        for event in aggregations:
            assert event["isFinalInvokeForWindow"] is False
            assert event["state"] == ({"sum": running} if running else {})
            assert event["shardId"] == event["Records"][0]["eventID"].split(":")[0]
            assert event["eventSourceARN"] == arn
            running += sum(int(_decoded(r)) for r in event["Records"])
        assert final["state"] == {"sum": running}
    assert any(len(invokes) >= 3 for invokes in by_window.values())  # state crossed invokes


def _decoded(record: dict[str, Any]) -> str:
    return base64.b64decode(record["kinesis"]["data"]).decode()
