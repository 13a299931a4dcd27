"""Provisioned concurrency: configurations, and environments initialised ahead of invokes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess, make_zip


def deploy_version(client: Any, name: str) -> None:
    client.create_function(**create_args(name, Publish=True))
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, Qualifier="1", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )


def wait_ready(client: Any, name: str, qualifier: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        config: dict[str, Any] = client.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier
        )
        if config["Status"] == "READY":
            return config
        time.sleep(0.1)
    raise AssertionError(f"provisioned concurrency never became READY: {config}")


def test_provisioned_environments_are_ready_before_the_first_invoke(
    lambda_client: Any, function_name: str
) -> None:
    deploy_version(lambda_client, function_name)

    put = lambda_client.put_provisioned_concurrency_config(
        FunctionName=function_name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    ready = wait_ready(lambda_client, function_name, "1")
    response = lambda_client.invoke(
        FunctionName=function_name, Qualifier="1", Payload=b"{}", LogType="Tail"
    )
    assert response["Payload"].read() == b"{}"

    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2
    # Initialised ahead of time: the first invoke reports no Init Duration.
    assert "Init Duration" not in base64.b64decode(response["LogResult"]).decode()
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=function_name)
    [entry] = listed["ProvisionedConcurrencyConfigs"]
    assert entry["FunctionArn"].endswith(f":function:{function_name}:1")


def test_deleting_the_config_releases_it(lambda_client: Any, function_name: str) -> None:
    deploy_version(lambda_client, function_name)
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=function_name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    wait_ready(lambda_client, function_name, "1")

    lambda_client.delete_provisioned_concurrency_config(FunctionName=function_name, Qualifier="1")

    with pytest.raises(ClientError) as caught:
        lambda_client.get_provisioned_concurrency_config(FunctionName=function_name, Qualifier="1")
    assert caught.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_latest_cannot_be_provisioned(lambda_client: Any, function_name: str) -> None:
    deploy_version(lambda_client, function_name)

    with pytest.raises(ClientError) as caught:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function_name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )

    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"


REACH = """
import socket

def handler(event, context):
    try:
        socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
        return "reachable"
    except OSError:
        return "unreachable"
"""


def test_a_network_change_replaces_the_provisioned_environments(
    roost: RoostProcess, lambda_client: Any, function_name: str
) -> None:
    lambda_client.create_function(
        **create_args(function_name, make_zip({"app.py": REACH}), Publish=True)
    )
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, Qualifier="1", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=function_name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    wait_ready(lambda_client, function_name, "1")
    arn = lambda_client.get_function(FunctionName=function_name)["Configuration"]["FunctionArn"]

    lambda_client.tag_resource(Resource=arn, Tags={"roost:network": "none"})
    time.sleep(1)  # The provisioner reconciles on the change.
    response = lambda_client.invoke(
        FunctionName=function_name,
        Qualifier="1",
        Payload=json.dumps({"port": roost.port}),
        LogType="Tail",
    )

    assert json.loads(response["Payload"].read()) == "unreachable"
    # Served by a provisioned environment made for the new setting, not one on demand.
    assert "Init Duration" not in base64.b64decode(response["LogResult"]).decode()
