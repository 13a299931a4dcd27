"""A node started while its config store is down: it comes up on its snapshots,
serves known functions and known accounts, answers control calls 503, and
converges once the store is back, without a restart (``ROOST_FAULTS_AT_START``)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.async_invoke.support import ASYNC_ENV, Recorder, send_event
from tests.auth.test_account_isolation import create_account
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code, invoke
from tests.resilience.faults import FAULT_ENV, faults

HANDLER = """
import json, socket, time, uuid

TOKEN = None

def handler(event, context):
    global TOKEN
    if TOKEN is None:
        TOKEN = uuid.uuid4().hex
    if "port" in event:
        report = {"id": event["id"], "t": time.time()}
        with socket.create_connection(("127.0.0.1", int(event["port"])), timeout=10) as conn:
            conn.sendall((json.dumps(report) + "\\n").encode())
    return {"env": TOKEN, "account": context.invoked_function_arn.split(":")[4]}
"""

# The config store fails from before the stores open; the plan ends by itself
# after a minute, so a test dying mid-outage cannot leave the node broken.
FAILING_FROM_START = {
    "ROOST_FAULTS_AT_START": json.dumps({"target": "config-store", "mode": "fail", "for_s": 60})
}
WAIT_S = 45.0


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def stopped_after_use(data_dir: Path) -> Iterator[list[RoostProcess]]:
    """The processes a test starts, stopped at its end."""
    processes: list[RoostProcess] = []
    yield processes
    for process in processes:
        if process.process is not None and process.process.poll() is None:
            process.stop()


def _start(data_dir: Path, processes: list[RoostProcess], **env: str) -> RoostProcess:
    process = RoostProcess(data_dir, env={**ASYNC_ENV, **FAULT_ENV, **env})
    processes.append(process)
    process.start()
    return process


def _health(roost: RoostProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{roost.endpoint}/_roost/health", timeout=5) as reply:
        answer: dict[str, Any] = json.loads(reply.read())
    return answer


def _wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_a_node_starts_and_serves_with_its_config_store_down(
    data_dir: Path, stopped_after_use: list[RoostProcess], recorder: Recorder
) -> None:
    # Given functions of the built-in account and of an account made with the CLI,
    # each invoked once, on a node that then stops
    first = _start(data_dir, stopped_after_use)
    builtin = first.client()
    deploy_code(builtin, "known", {"app.py": HANDLER})
    deploy_code(builtin, "never-invoked", {"app.py": HANDLER})
    invoke(builtin, "known")
    alice = create_account(data_dir, "alice")
    alice_keys = (alice.access_key_id, alice.secret_access_key)
    deploy_code(first.client(credentials=alice_keys), "alices", {"app.py": HANDLER})
    first.stop()

    # When it starts again with the config store failing from the start
    roost = _start(data_dir, stopped_after_use, **FAILING_FROM_START)
    client = roost.client()
    assert faults(roost)["config-store"]["mode"] == "fail"
    assert "pending function transitions" in _health(roost)["startup_pending"]

    # Then known functions invoke, cold then warm, and one never invoked too
    cold_response, cold = invoke(client, "known")
    assert cold_response["StatusCode"] == 200 and "FunctionError" not in cold_response
    assert invoke(client, "known")[1]["env"] == cold["env"]
    assert invoke(client, "never-invoked")[0]["StatusCode"] == 200

    # And a known account still authenticates (its secret came from the sealed snapshot)
    alices_response, alices = invoke(roost.client(credentials=alice_keys), "alices")
    assert alices_response["StatusCode"] == 200 and alices["account"] == alice.account_id

    # And an async invoke of a known function is accepted
    event = {"id": "during", "port": recorder.port}
    assert send_event(client, "known", event)["StatusCode"] == 202

    # And control-plane calls answer 503 with a clear message
    for call in (
        lambda: client.get_function(FunctionName="known"),
        lambda: client.list_functions(),
        lambda: deploy_code(client, "new", {"app.py": HANDLER}),
    ):
        code, status, message = _error(call)
        assert (code, status) == ("ServiceUnavailableException", 503)
        assert "config-store unavailable" in message

    # When the fault is cleared through the endpoint
    faults(roost, {"target": "config-store", "mode": "ok"})

    # Then the start-up work finishes in the background, without a restart
    _wait_for(lambda: _health(roost)["startup_pending"] == [])
    # And the async event accepted during the outage runs
    _wait_for(lambda: "during" in recorder.ids())
    # And control calls work, and a function created now invokes
    assert client.get_function(FunctionName="known")["Configuration"]["State"] == "Active"
    deploy_code(client, "new", {"app.py": HANDLER})
    assert invoke(client, "new")[0]["StatusCode"] == 200


def test_bad_faults_at_start_stop_the_node_with_a_clear_message(
    data_dir: Path, stopped_after_use: list[RoostProcess]
) -> None:
    # Given a plan naming a target that does not exist
    # When the node starts with it, Then it exits and says what is wrong
    with pytest.raises(RuntimeError) as raised:
        _start(
            data_dir,
            stopped_after_use,
            ROOST_FAULTS_AT_START=json.dumps({"target": "nowhere", "mode": "fail"}),
        )
    assert "target must be one of" in str(raised.value)
