"""Static stability end to end: with the config store failing, the data plane keeps
serving known functions, async invokes and SQS mappings, the control plane answers
503, and once the store is back everything converges without a restart."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.async_invoke.support import ASYNC_ENV, Recorder, send_event
from tests.esm.sqs.support import (
    create_queue,
    deploy_reporter,
    esm_env,
    map_queue,
    processed_ids,
    send,
    wait_for,
)
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code, invoke
from tests.resilience.faults import FAULT_ENV, faults

# Each environment draws its token at its first invoke (not at import: a zygote's
# children would share it), so two tokens mean two environments.
HANDLER = """
import json, os, socket, time, uuid

TOKEN = None

def handler(event, context):
    global TOKEN
    if TOKEN is None:
        TOKEN = uuid.uuid4().hex
    if "port" in event:
        report = {"id": event["id"], "t": time.time()}
        with socket.create_connection(("127.0.0.1", int(event["port"])), timeout=10) as conn:
            conn.sendall((json.dumps(report) + "\\n").encode())
    return {"env": TOKEN, "color": os.environ.get("COLOR")}
"""

# Leases far longer than the outage: a sticky lease outlives it without renewal.
LONG_LEASES = {"ROOST_ESM_LEASE_TTL_S": "30", "ROOST_ASYNC_LEASE_TTL_S": "30"}
# The safety net: the fault ends by itself even if the test dies mid-outage.
OUTAGE_LIMIT_S = 60


@pytest.fixture
def faulty_roost(tmp_path: Any, moto_server: MotoServer) -> Iterator[RoostProcess]:
    """A Roost of its own, with fault injection on, reaching moto's SQS."""
    env = {**esm_env(moto_server), **ASYNC_ENV, **LONG_LEASES, **FAULT_ENV}
    process = RoostProcess(tmp_path / "data", env=env)
    process.start()
    yield process
    process.stop()


def _error(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_the_data_plane_outlives_a_config_store_outage(
    faulty_roost: RoostProcess, moto_server: MotoServer, recorder: Recorder
) -> None:
    client = faulty_roost.client()
    # Given a warm function, a function never invoked (known: its activation
    # loaded it into the cache), and an SQS mapping that delivered once
    deploy_code(client, "warm", {"app.py": HANDLER})
    deploy_code(client, "cold", {"app.py": HANDLER})
    _, first = invoke(client, "warm")
    deploy_reporter(client, "mapped")
    url, arn = create_queue(moto_server, VisibilityTimeout="60")
    map_queue(client, "mapped", arn, BatchSize=1)
    send(moto_server, url, [{"id": "before", "port": recorder.port}])
    wait_for(lambda: "before" in processed_ids(recorder), 45)

    # When the config store fails
    plans = faults(
        faulty_roost, {"target": "config-store", "mode": "fail", "for_s": OUTAGE_LIMIT_S}
    )
    assert plans["config-store"]["mode"] == "fail"
    try:
        # Then warm and cold invokes of known functions succeed
        _, warm = invoke(client, "warm")
        assert warm["env"] == first["env"]
        cold_response, cold = invoke(client, "cold")
        assert cold_response["StatusCode"] == 200 and cold["env"]

        # And an async invoke is accepted and runs
        assert (
            send_event(client, "warm", {"id": "async", "port": recorder.port})["StatusCode"] == 202
        )
        wait_for(lambda: "async" in recorder.ids(), 45)

        # And the SQS mapping keeps delivering
        send(moto_server, url, [{"id": "during", "port": recorder.port}])
        wait_for(lambda: "during" in processed_ids(recorder), 45)

        # And control-plane calls answer 503 with a clear message
        for call in (
            lambda: client.get_function(FunctionName="warm"),
            lambda: client.list_functions(),
            lambda: client.update_function_configuration(FunctionName="warm", Timeout=9),
            lambda: deploy_code(client, "new", {"app.py": HANDLER}),
        ):
            code, status, message = _error(call)
            assert (code, status) == ("ServiceUnavailableException", 503)
            assert "config-store unavailable" in message
    finally:
        # When the store recovers
        faults(faulty_roost, {"target": "config-store", "mode": "ok"})

    # Then a function created now can be invoked, and an update is seen by invokes
    assert faults(faulty_roost)["config-store"]["mode"] == "ok"
    deploy_code(client, "new", {"app.py": HANDLER})
    assert invoke(client, "new")[0]["StatusCode"] == 200
    client.update_function_configuration(
        FunctionName="warm", Environment={"Variables": {"COLOR": "blue"}}
    )
    client.get_waiter("function_updated_v2").wait(
        FunctionName="warm", WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )
    assert invoke(client, "warm")[1]["color"] == "blue"


def test_the_faults_endpoint_is_signed_and_validated(faulty_roost: RoostProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        faults(faulty_roost, {"target": "nowhere", "mode": "fail"})
    with raised.value as error:
        assert error.code == 400
        assert "target must be one of" in json.loads(error.read())["message"]
    assert faults(faulty_roost)["mapping-store"]["mode"] == "ok"


def test_without_fault_injection_there_is_no_faults_endpoint(roost: RoostProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        faults(roost, {"target": "config-store", "mode": "fail"})
    with raised.value as error:
        assert error.code == 404
