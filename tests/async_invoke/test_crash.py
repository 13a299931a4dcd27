"""An acknowledged async event survives a SIGKILL of Roost and runs after the restart."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

SENDERS = 8
KILL_AFTER_ACKS = 300


@pytest.fixture
def async_fresh_roost(tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env=ASYNC_ENV)
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.stop()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


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

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    enough.wait(120)

    # When: Roost is killed mid-stream (with events queued and running) and restarted
    async_fresh_roost.kill()
    for thread in threads:
        thread.join(30)
    with lock:
        acknowledged = set(acked)
    assert len(acknowledged) >= KILL_AFTER_ACKS
    async_fresh_roost.start()

    # Then: every acknowledged event runs at least once
    wait_for(lambda: acknowledged <= recorder.ids(), timeout_s=120)
