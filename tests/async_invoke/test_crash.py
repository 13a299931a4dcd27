"""The issue's crash test: 5,000 acknowledged async events survive a SIGKILL of
Roost mid-drain, and every one of them runs after the restart."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

# Many client threads: one boto3 call spends most of its time waiting on the
# durable write, and group commit shares one fsync among concurrent sends.
SENDERS = 32
KILL_AFTER_ACKS = 5_000
ACK_TIMEOUT_S = 120
DRAIN_TIMEOUT_S = 120
# Events that have run when the kill comes: the drain is well under way.
RUN_BEFORE_KILL = 200
# Two queues (the function's two shuffle-shard choices, so no poll loop idles
# on an empty queue); before the kill one poller runs two events at a time, so
# a backlog builds up behind the acknowledgements and the kill finds the drain
# under way; after the restart two pollers run 64 events each.
RESTART_ENV = {**ASYNC_ENV, "ROOST_ASYNC_QUEUES": "2"}
SLOW_DRAIN_ENV = {
    **RESTART_ENV,
    "ROOST_ASYNC_POLLERS": "1",
    "ROOST_ASYNC_POLLER_CONCURRENCY": "2",
}


@pytest.fixture
def async_fresh_roost(tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env=SLOW_DRAIN_ENV)
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.stop()


@pytest.mark.timeout(300)
def test_acknowledged_events_run_after_a_sigkill(
    async_fresh_roost: RoostProcess, recorder: Recorder
) -> None:
    # Given: senders invoking asynchronously as fast as they can, noting every 202
    client = async_fresh_roost.client(max_pool_connections=SENDERS)
    deploy_code(client, "survivor", {"app.py": REPORTER})
    acked: set[str] = set()
    lock = threading.Lock()
    enough = threading.Event()
    numbers = itertools.count()

    def sender() -> None:
        while not enough.is_set():
            event_id = f"ev-{next(numbers)}"
            try:
                send_event(client, "survivor", {"id": event_id, "port": recorder.port})
            except (BotoCoreError, ClientError):
                return  # Roost is gone: this one was never acknowledged
            with lock:
                acked.add(event_id)
                if len(acked) >= KILL_AFTER_ACKS:
                    enough.set()

    started = time.monotonic()
    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    assert enough.wait(ACK_TIMEOUT_S), "5,000 async invokes were not acknowledged in time"
    acked_s = time.monotonic() - started

    # When: Roost is killed mid-drain (events queued and running) and restarted
    wait_for(lambda: len(recorder.ids()) >= RUN_BEFORE_KILL)
    async_fresh_roost.kill()
    ran_before_kill = len(recorder.ids())
    for thread in threads:
        thread.join(30)
    with lock:
        acknowledged = set(acked)
    assert len(acknowledged) >= KILL_AFTER_ACKS
    assert ran_before_kill < len(acknowledged), "the drain was over before the kill"
    async_fresh_roost.extra_env = dict(RESTART_ENV)
    async_fresh_roost.start()

    # Then: every acknowledged event runs at least once
    wait_for(lambda: acknowledged <= recorder.ids(), timeout_s=DRAIN_TIMEOUT_S)
    print(
        f"{len(acknowledged)} acknowledged in {acked_s:.1f} s; {ran_before_kill} had run "
        f"before the SIGKILL; all ran {time.monotonic() - started:.1f} s after the first send"
    )
