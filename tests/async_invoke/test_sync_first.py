"""Sync first, end to end: while sync invokes run, async events keep to a small share."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator

import pytest

from roost.observability.prometheus import parse
from tests.async_invoke.support import ASYNC_ENV, Recorder, send_event, wait_for
from tests.fixtures.overlap import peak_overlap
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

# Reports when it started and ended; slow enough for overlaps to show.
SLOW_REPORTER = """
import json, socket, time

def handler(event, context):
    started = time.time()
    time.sleep(0.25)
    report = {"id": event["id"], "t": started, "end": time.time()}
    with socket.create_connection(("127.0.0.1", int(event["port"])), timeout=10) as conn:
        conn.sendall((json.dumps(report) + "\\n").encode())
"""
TRIVIAL = "def handler(event, context):\n    return 1\n"
EVENTS = 6


@pytest.fixture(scope="module")
def roost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostProcess]:
    env = {**ASYNC_ENV, "ROOST_ASYNC_SHARE_WHILE_SYNC": "1", "ROOST_SYNC_QUIET_S": "0.5"}
    process = RoostProcess(tmp_path_factory.mktemp("sync-first") / "data", env=env)
    process.start()
    yield process
    process.stop()


def test_async_events_run_one_at_a_time_while_sync_invokes_run_and_in_parallel_after(
    roost: RoostProcess, function_name: str
) -> None:
    client = roost.client()
    deploy_code(client, function_name + "-slow", {"app.py": SLOW_REPORTER})
    deploy_code(client, function_name + "-sync", {"app.py": TRIVIAL})
    recorder = Recorder()
    stop = threading.Event()

    def sync_load() -> None:
        sync_client = roost.client()
        while not stop.is_set():
            sync_client.invoke(FunctionName=function_name + "-sync", Payload=b"{}")

    loader = threading.Thread(target=sync_load, daemon=True)
    try:
        loader.start()
        for n in range(EVENTS):
            send_event(client, function_name + "-slow", {"id": f"b{n}", "port": recorder.port})
        wait_for(lambda: len(recorder.ids()) == EVENTS)
        during_sync = list(recorder.reports)
        narrowed = metric(roost, "roost_async_sync_first_narrowed")
        limit_during_sync = metric(roost, "roost_async_events_running_limit")
        stop.set()
        loader.join()

        for n in range(EVENTS):
            send_event(client, function_name + "-slow", {"id": f"q{n}", "port": recorder.port})
        wait_for(lambda: len(recorder.ids()) == 2 * EVENTS)
        quiet = [r for r in recorder.reports if r["id"].startswith("q")]
    finally:
        stop.set()
        recorder.close()

    assert peak_overlap((r["t"], r["end"]) for r in during_sync) == 1
    assert (narrowed, limit_during_sync) == (1, 1)
    assert peak_overlap((r["t"], r["end"]) for r in quiet) > 1
    assert metric(roost, "roost_async_sync_first_narrowed") == 0
    assert metric(roost, "roost_async_events_running_limit") > 1


def metric(roost: RoostProcess, name: str) -> float:
    """One unlabelled sample of ``/metrics``."""
    with urllib.request.urlopen(roost.endpoint + "/metrics", timeout=10) as response:
        samples = parse(response.read().decode())
    [found] = [sample.value for sample in samples if sample.name == name]
    return found
