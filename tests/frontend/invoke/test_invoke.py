"""Sync Invoke through boto3: results, errors, logs, versions and throttles."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_args
from tests.fixtures.roost_process import make_zip

HANDLER = """
import os

def handler(event, context):
    print("event", event)
    if event.get("boom"):
        raise ValueError("boom requested")
    return {
        "event": event,
        "function_name": context.function_name,
        "version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 3000,
        "request_id": context.aws_request_id,
        "greeting": os.environ.get("GREETING"),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
    }
"""


def deploy(client: Any, name: str, **overrides: Any) -> None:
    code = make_zip({"app.py": HANDLER})
    client.create_function(**create_args(name, code, **overrides))
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )


def invoke(client: Any, name: str, event: Any, **extra: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event), **extra)
    return response, json.loads(response["Payload"].read())


def test_invoke_returns_the_handlers_result_with_the_real_context(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Environment={"Variables": {"GREETING": "hello"}})

    response, result = invoke(lambda_client, function_name, {"n": 1})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert result["event"] == {"n": 1}
    assert result["function_name"] == function_name
    assert result["version"] == "$LATEST"
    assert result["arn"].endswith(f":function:{function_name}")
    assert result["memory"] == "128"
    assert result["remaining_ok"] is True
    assert result["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert result["greeting"] == "hello"
    assert result["task_root"] == "/var/task"


def test_a_handler_exception_is_an_unhandled_function_error(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)

    response, error = invoke(lambda_client, function_name, {"boom": True})

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom requested"
    assert any("app.py" in frame for frame in error["stackTrace"])


def test_log_tail_has_the_invocations_output_and_report(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)

    response, _ = invoke(lambda_client, function_name, {"n": 2}, LogType="Tail")

    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id} Version: $LATEST" in log
    assert "event {'n': 2}" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}\tDuration: " in log
    assert "Memory Size: 128 MB" in log


def test_versions_and_aliases_run_their_own_code(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Environment={"Variables": {"GREETING": "one"}})
    lambda_client.publish_version(FunctionName=function_name)
    lambda_client.update_function_configuration(
        FunctionName=function_name, Environment={"Variables": {"GREETING": "two"}}
    )
    lambda_client.get_waiter("function_updated_v2").wait(
        FunctionName=function_name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")

    latest_response, latest = invoke(lambda_client, function_name, {})
    alias_response, aliased = invoke(lambda_client, function_name, {}, Qualifier="live")

    assert latest["greeting"] == "two"
    assert latest_response["ExecutedVersion"] == "$LATEST"
    assert aliased["greeting"] == "one"
    assert alias_response["ExecutedVersion"] == "1"
    assert aliased["arn"].endswith(f":function:{function_name}:live")


def test_reserved_concurrency_zero_throttles_every_invoke(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name)
    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=0
    )

    with pytest.raises(ClientError) as caught:
        lambda_client.invoke(FunctionName=function_name, Payload=b"{}")

    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_dry_run_checks_without_running(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    response = lambda_client.invoke(FunctionName=function_name, InvocationType="DryRun")

    assert response["StatusCode"] == 204


def test_a_payload_that_is_not_json_is_refused(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with pytest.raises(ClientError) as caught:
        lambda_client.invoke(FunctionName=function_name, Payload=b"not json")

    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_unknown_function_is_not_found(lambda_client: Any, function_name: str) -> None:
    with pytest.raises(ClientError) as caught:
        lambda_client.invoke(FunctionName=function_name, Payload=b"{}")

    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_python_runtime_runs_on_its_own_version_when_installed(
    lambda_client: Any, function_name: str
) -> None:
    version = next(
        (v for v in ("3.11", "3.12", "3.13") if Path(f"/usr/bin/python{v}").exists()), None
    )
    if version is None:
        pytest.skip("no /usr/bin/python3.x of a supported runtime on this host")
    code = make_zip(
        {"app.py": "import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n"}
    )
    lambda_client.create_function(**create_args(function_name, code, Runtime=f"python{version}"))
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )

    response = lambda_client.invoke(FunctionName=function_name, Payload=b"{}")

    assert json.loads(response["Payload"].read()) == [int(p) for p in version.split(".")]
