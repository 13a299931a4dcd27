"""SQS mappings end to end: concurrency starts small and grows with a backlog, as AWS's does.

The test Roost scales every ``ROOST_ESM_SCALE_INTERVAL_S`` = 5 s instead of a minute.
"""

from __future__ import annotations

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import (
    batches,
    create_queue,
    deploy_reporter,
    done_ids,
    map_queue,
    send,
    wait_for,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess

MESSAGES = 60
SLEEP_S = 1.0
FIRST_INTERVAL_S = 5.0
START_BATCHES = 5


def running_at(intervals: list[tuple[float, float]], moment: float) -> int:
    return sum(1 for start, end in intervals if start <= moment < end)


def test_a_backlog_starts_at_five_concurrent_batches_and_gets_more_each_interval(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server)
    send(
        moto_server,
        url,
        [{"id": f"m{i}", "port": recorder.port, "sleep": SLEEP_S} for i in range(MESSAGES)],
    )

    map_queue(client, function_name, arn, BatchSize=1)
    wait_for(lambda: len(done_ids(recorder)) == MESSAGES)

    # Measured in the handler: how many invokes overlapped, early and late.
    intervals = [(b["start"], b["end"]) for b in batches(recorder)]
    first = min(start for start, _ in intervals)
    starts = sorted(start for start, _ in intervals)
    # The first interval (less a second of slack for the tick): five at most.
    early = max(running_at(intervals, s) for s in starts if s < first + FIRST_INTERVAL_S - 1)
    # Then the backlog (60 messages of 1 s at five at a time: 12 s) brings more.
    later = max(running_at(intervals, s) for s in starts if s >= first + FIRST_INTERVAL_S - 1)
    assert early == START_BATCHES
    assert later > START_BATCHES


def test_provisioned_pollers_start_at_the_minimum_and_never_pass_the_maximum(
    esm_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)
    url, arn = create_queue(moto_server)
    count = 48
    send(
        moto_server,
        url,
        [{"id": f"p{i}", "port": recorder.port, "sleep": SLEEP_S} for i in range(count)],
    )

    map_queue(
        client,
        function_name,
        arn,
        BatchSize=1,
        ProvisionedPollerConfig={"MinimumPollers": 8, "MaximumPollers": 8},
    )
    wait_for(lambda: len(done_ids(recorder)) == count)

    intervals = [(b["start"], b["end"]) for b in batches(recorder)]
    first = min(start for start, _ in intervals)
    starts = sorted(start for start, _ in intervals)
    early = max(running_at(intervals, s) for s in starts if s < first + FIRST_INTERVAL_S - 1)
    # Eight from the start (not AWS's default five), and never more, not even once
    # the scaling interval passed with a backlog left.
    assert early == 8
    assert max(running_at(intervals, s) for s in starts) == 8
