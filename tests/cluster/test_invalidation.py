"""Changes made through one node reach the others' function caches (pushed invalidations).

Two full nodes on one Redis. Node B has the function cached from an invoke;
the function is then changed through node A, and B's next invoke must see
the change at once: new code, and a reserved concurrency of 0 that throttles.
An account created with ``roost accounts create --store`` signs in at both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.async_invoke.support import wait_for
from tests.fixtures.cluster import NodeSpec, RoostCluster
from tests.fixtures.roost_process import RoostProcess, make_zip
from tests.frontend.invoke.support import deploy_code


def handler_returning(value: str) -> dict[str, str]:
    return {"app.py": f"def handler(event, context):\n    return {value!r}\n"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RoostCluster]:
    found = RoostCluster(tmp_path, [NodeSpec("a", "zone-a"), NodeSpec("b", "zone-b")])
    try:
        found.start()
        yield found
    finally:
        found.stop()


@pytest.fixture
def pair(cluster: RoostCluster) -> tuple[RoostProcess, RoostProcess]:
    return cluster.node("a"), cluster.node("b")


def run(client: Any, name: str) -> Any:
    return json.loads(client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())


def test_a_change_through_one_node_is_seen_by_the_other_at_once(
    pair: tuple[RoostProcess, RoostProcess],
) -> None:
    a, b = pair
    client_a: Any = a.client()
    client_b: Any = b.client()
    deploy_code(client_a, "fn", handler_returning("v1"))
    assert run(client_b, "fn") == "v1"

    # When the code is changed through node A
    client_a.update_function_code(FunctionName="fn", ZipFile=make_zip(handler_returning("v2")))
    client_a.get_waiter("function_updated_v2").wait(
        FunctionName="fn", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )

    # Then node B runs the new code (its cached view was dropped)
    wait_for(lambda: run(client_b, "fn") == "v2", 5)

    # And a reservation of 0 set through A throttles invokes through B
    client_a.put_function_concurrency(FunctionName="fn", ReservedConcurrentExecutions=0)

    def throttled() -> bool:
        try:
            run(client_b, "fn")
        except botocore.exceptions.ClientError as error:
            return error.response["Error"]["Code"] == "TooManyRequestsException"
        return False

    wait_for(throttled, 5)


def test_an_account_created_on_the_shared_store_signs_in_at_every_node(
    cluster: RoostCluster,
) -> None:
    a, b = cluster.node("a"), cluster.node("b")
    env = {**os.environ, "ROOST_MASTER_KEY_FILE": str(cluster.master_key_file)}
    store = cluster.redis.url

    created = subprocess.run(
        [sys.executable, "-m", "roost", "accounts", "create", "team", "--json", "--store", store],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    keys = json.loads(created.stdout)

    for node in (a, b):
        client: Any = node.client(credentials=(keys["AccessKeyId"], keys["SecretAccessKey"]))
        assert client.list_functions()["Functions"] == []
