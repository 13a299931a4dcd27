"""Backlog recovery end to end through boto3 (issue 7, point 3).

A function's async events pile up in the one shared queue faster than the
pollers (one poller, two slots, 0.1 s per event) drain them. Fresh events sent
then to another qualifier of the function must run before half the backlog
has, which oldest-first receives could not do (they would wait behind every
backlog event); and every backlog event must still run (nothing lost). The
per-shard figures and the queue's backlog mode are read from ``/metrics``.
No timing is asserted beyond that ordering.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from roost.observability.prometheus import Sample, parse
from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

BACKLOG = 600
FRESH = 5
ACCOUNT = "000000000000"
QUEUE = "async-000"
SLOW = REPORTER.replace('    return "done"', '    time.sleep(0.1)\n    return "done"')
BACKLOG_ENV = {
    **ASYNC_ENV,
    # One shared queue and no express lane: the backlog and the fresh events
    # certainly share the queue; a small drain so the backlog lasts.
    "ROOST_ASYNC_QUEUES": "1",
    "ROOST_ASYNC_EXPRESS_RATE": "1000000",
    "ROOST_ASYNC_POLLERS": "1",
    "ROOST_ASYNC_POLLER_CONCURRENCY": "2",
    "ROOST_ASYNC_VISIBILITY_TIMEOUT_S": "10",
    "ROOST_ASYNC_BACKLOG_MIN_DEPTH": "50",
}


@pytest.fixture
def roost(tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env=BACKLOG_ENV)
    process.start()
    yield process
    process.stop()


def samples(roost: RoostProcess, name: str) -> list[Sample]:
    """The samples of one metric in ``/metrics`` now."""
    with urllib.request.urlopen(f"{roost.endpoint}/metrics", timeout=10) as reply:
        return [s for s in parse(reply.read().decode()) if s.name == name]


def value(roost: RoostProcess, name: str, **labels: str) -> float:
    """One sample's value now (0 if absent)."""
    found = [s.value for s in samples(roost, name) if dict(s.labels) == labels]
    return found[0] if found else 0.0


def test_fresh_events_run_before_the_backlog_and_the_backlog_still_drains(
    roost: RoostProcess, recorder: Recorder
) -> None:
    client: Any = roost.client()
    deploy_code(client, "busy", {"app.py": SLOW})
    client.publish_version(FunctionName="busy")

    # Given a backlog of events to $LATEST, far more than the pollers drain
    def send_old(index: int) -> None:
        send_event(client, "busy", {"id": f"old{index}", "port": recorder.port})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send_old, range(BACKLOG)))
    wait_for(lambda: value(roost, "roost_async_backlog_mode", queue=QUEUE) == 1, timeout_s=20)
    shard = {"account": ACCOUNT, "function": "busy", "qualifier": "$LATEST"}
    assert value(roost, "roost_async_backlog_depth", **shard) > BACKLOG / 2
    assert value(roost, "roost_async_backlog_oldest_age_seconds", **shard) > 0
    assert value(roost, "roost_async_backlog_lifo", queue=QUEUE) == 1

    # When fresh events are sent to version 1
    fresh = {f"new{index}" for index in range(FRESH)}
    for event_id in sorted(fresh):
        send_event(client, "busy", {"id": event_id, "port": recorder.port}, Qualifier="1")

    # Then they all run before half of the backlog has
    wait_for(lambda: fresh <= recorder.ids(), timeout_s=60)
    old_done = len(recorder.ids() - fresh)
    print(f"fresh events done while {old_done} of {BACKLOG} backlog events had run")
    assert old_done < BACKLOG / 2

    # And every backlog event still runs (nothing lost), after which the queue
    # leaves its backlog mode and the shards empty
    everything = {f"old{index}" for index in range(BACKLOG)} | fresh
    wait_for(lambda: everything <= recorder.ids(), timeout_s=180)
    wait_for(lambda: value(roost, "roost_async_backlog_mode", queue=QUEUE) == 0, timeout_s=20)
    wait_for(lambda: not samples(roost, "roost_async_backlog_depth"), timeout_s=20)
