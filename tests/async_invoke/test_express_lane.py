"""The express lane through boto3: a hot function's events run from its own
queues, which are reaped once it goes quiet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

# A lane from 5 events/s over 1 s, reaped after 1 s below that (at the next
# reaper pass, every 5 s).
EXPRESS_ENV = {
    **ASYNC_ENV,
    "ROOST_ASYNC_EXPRESS_RATE": "5",
    "ROOST_ASYNC_EXPRESS_WINDOW_S": "1",
    "ROOST_ASYNC_EXPRESS_QUIET_S": "1",
}
EVENTS = 40


@pytest.fixture
def express_roost(tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env=EXPRESS_ENV)
    process.start()
    yield process
    process.stop()


def test_a_hot_functions_events_run_from_its_lane_until_it_is_reaped(
    express_roost: RoostProcess, recorder: Recorder
) -> None:
    client = express_roost.client()
    deploy_code(client, "hot", {"app.py": REPORTER})

    for index in range(EVENTS):
        send_event(client, "hot", {"id": f"e{index}", "port": recorder.port})

    wait_for(lambda: len(recorder.ids()) == EVENTS)
    assert "express lane opened for 000000000000/hot" in express_roost.log()
    wait_for(lambda: "express lane of 000000000000/hot reaped" in express_roost.log())
    send_event(client, "hot", {"id": "after", "port": recorder.port})
    wait_for(lambda: bool(recorder.of("after")))
