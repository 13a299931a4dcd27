"""Warm reuse and fan-out: one environment serves invokes in turn, many serve at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess, make_zip

HANDLER = """
import os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"stream": context.log_stream_name, "pid_ns_pid": os.getpid()}
"""


def deploy(client: Any, name: str) -> None:
    client.create_function(**create_args(name, make_zip({"app.py": HANDLER}), Timeout=30))
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )


def streams(client: Any, name: str, events: list[dict[str, Any]], workers: int) -> list[str]:
    def call(event: dict[str, Any]) -> str:
        response = client.invoke(FunctionName=name, Payload=json.dumps(event))
        return str(json.loads(response["Payload"].read())["stream"])

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(call, events))


def test_sequential_invokes_reuse_one_warm_environment(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)

    seen = streams(lambda_client, function_name, [{}] * 5, workers=1)

    assert len(set(seen)) == 1


def test_concurrent_invokes_fan_out_to_several_environments(
    roost: RoostProcess, function_name: str
) -> None:
    client = roost.client(max_pool_connections=8)
    deploy(client, function_name)

    seen = streams(client, function_name, [{"sleep": 1.0}] * 4, workers=4)

    # Four overlapping one-second invokes cannot share an environment.
    assert len(set(seen)) == 4
    # Afterwards they are all warm: four more overlapping invokes reuse them.
    again = streams(client, function_name, [{"sleep": 1.0}] * 4, workers=4)
    assert set(again) == set(seen)
