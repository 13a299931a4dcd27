"""Backpressure end to end: a Roost whose worker host reports critical pressure
holds async events back (accepted, not lost) and runs them once pressure drops.

The host's environment cap is 2 and the thresholds are set low (critical at
half the slots, CPU left out so the machine's load cannot interfere): one busy
environment, a sync invoke sleeping a few seconds, makes the host critical.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess, metric
from tests.frontend.invoke.support import deploy_code, invoke

HOLD_S = 5
BLOCKER = f"import time\n\ndef handler(event, context):\n    time.sleep({HOLD_S})\n    return 1\n"
PRESSED_ENV = {
    **ASYNC_ENV,
    "ROOST_WORKER_MAX_ENVIRONMENTS": "2",
    "ROOST_PREWARM": "0",
    "ROOST_BACKPRESSURE_CPU": "0",
    "ROOST_BACKPRESSURE_ELEVATED_AT": "0.4",
    "ROOST_BACKPRESSURE_CRITICAL_AT": "0.5",
    "ROOST_BACKPRESSURE_HYSTERESIS": "0.05",
    "ROOST_BACKPRESSURE_INTERVAL_S": "0.1",
}
EVENTS = 5


@pytest.fixture
def roost(tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env=PRESSED_ENV)
    process.start()
    yield process
    process.stop()


def test_async_events_wait_while_the_host_is_critical_and_run_after(
    roost: RoostProcess, recorder: Recorder
) -> None:
    client: Any = roost.client()
    deploy_code(client, "blocker", {"app.py": BLOCKER})
    deploy_code(client, "reporter", {"app.py": REPORTER})
    with ThreadPoolExecutor(1) as pool:
        # Given a sync invoke holding one of the host's two slots: critical
        blocking = pool.submit(invoke, client, "blocker")
        wait_for(lambda: metric(roost, "roost_backpressure_state") == 2, 20)
        assert metric(roost, "roost_backpressure_input", input="slots") >= 0.5
        # When async events are sent meanwhile
        for index in range(EVENTS):
            send_event(client, "reporter", {"id": f"e{index}", "port": recorder.port})
        # Then they are accepted but none runs while the host stays critical
        time.sleep(1.5)
        still_critical = metric(roost, "roost_backpressure_state") == 2
        ran_early = recorder.ids()
        deferred = metric(roost, "roost_backpressure_deferred_total", consumer="async_receive")
        blocking.result(timeout=60)
    assert still_critical, "the blocker ended too soon for the test to mean anything"
    assert ran_early == set()
    assert deferred > 0
    # And once the pressure drops every event runs: none was lost
    wait_for(lambda: recorder.ids() == {f"e{i}" for i in range(EVENTS)}, 60)
    assert metric(roost, "roost_backpressure_transitions_total", state="normal") >= 1
