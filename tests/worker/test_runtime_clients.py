"""Runtime clients other than Roost's own, through boto3 against a running Roost.

``provided.al2023`` runs the package's executable ``bootstrap``: here the shell
script of AWS's custom-runtime tutorial (with curl, and with python one-liners
instead), and AWS's own ``awslambdaric`` unchanged.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import pytest

from tests.conftest import create_args
from tests.worker.runtime_clients import (
    WheelsUnavailable,
    awslambdaric_files,
    ric_package,
    shell_package,
)

PROVIDED = "provided.al2023"


def deploy(client: Any, name: str, code: bytes, handler: str, **overrides: Any) -> None:
    args = create_args(name, code, Runtime=PROVIDED, Handler=handler, **overrides)
    client.create_function(**args)
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )


def invoke(client: Any, name: str, event: Any, **extra: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event), **extra)
    return response, json.loads(response["Payload"].read())


def tail(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode()


# The shell-script bootstrap


@pytest.fixture(params=["curl", "python"])
def shell_function(request: pytest.FixtureRequest, lambda_client: Any, function_name: str) -> str:
    """A deployed tutorial-style shell runtime, its HTTP done by curl or python."""
    if request.param == "curl" and not os.access("/usr/bin/curl", os.X_OK):
        pytest.skip("no /usr/bin/curl for the shell bootstrap")
    deploy(
        lambda_client,
        function_name,
        shell_package(),
        "function.handler",
        Timeout=3,
        Environment={"Variables": {"RT_CLIENT": request.param}},
    )
    return function_name


def test_a_shell_bootstrap_serves_invokes_warm(lambda_client: Any, shell_function: str) -> None:
    results = []
    for n in range(3):
        response, result = invoke(lambda_client, shell_function, {"n": n}, LogType="Tail")
        assert response["StatusCode"] == 200
        assert "FunctionError" not in response
        assert f'shell handler got {{"n": {n}}}' in tail(response)
        results.append((response, result))

    for n, (response, result) in enumerate(results):
        assert result == {
            "event": {"n": n},
            "handler": "function.handler",
            "request_id": response["ResponseMetadata"]["RequestId"],
            "task_root": "/var/task",
            "function": shell_function,
        }
    # One environment served them all: only the first invoke reports an init.
    reports = [tail(response) for response, _ in results]
    assert "Init Duration" in reports[0]
    assert not any("Init Duration" in report for report in reports[1:])


def test_an_error_posted_by_a_shell_bootstrap_is_unhandled_with_its_body(
    lambda_client: Any, shell_function: str
) -> None:
    response = lambda_client.invoke(FunctionName=shell_function, Payload=b'{"fail": true}')

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"].read() == (
        b'{"errorMessage":"the shell said no","errorType":"ShellError","stackTrace":[]}'
    )
    # The runtime carries on with the next event.
    _, result = invoke(lambda_client, shell_function, {"after": "error"})
    assert result["event"] == {"after": "error"}


def test_a_large_response_from_a_shell_bootstrap_is_not_delayed(
    lambda_client: Any, shell_function: str
) -> None:
    invoke(lambda_client, shell_function, {"warm": True})

    started = time.monotonic()
    response, result = invoke(lambda_client, shell_function, {"big": True})
    elapsed = time.monotonic() - started

    assert "FunctionError" not in response
    assert result == "a" * 2_000_000
    # curl sends "Expect: 100-continue" for such a body and waits a second for
    # the interim reply unless the Runtime API sends it.
    assert elapsed < 0.9


def test_a_shell_bootstrap_exiting_mid_invoke_is_an_exit_error(
    lambda_client: Any, shell_function: str
) -> None:
    response, error = invoke(lambda_client, shell_function, {"exit": True})

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"] == (
        f"RequestId: {response['ResponseMetadata']['RequestId']} "
        "Error: Runtime exited with error: exit status 3"
    )
    _, result = invoke(lambda_client, shell_function, {"after": "exit"})
    assert result["event"] == {"after": "exit"}


def test_a_shell_bootstrap_past_its_timeout_is_killed(
    lambda_client: Any, shell_function: str
) -> None:
    invoke(lambda_client, shell_function, {"warm": True})

    response, error = invoke(lambda_client, shell_function, {"sleep": True})

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 3.00 seconds")
    _, result = invoke(lambda_client, shell_function, {"after": "timeout"})
    assert result["event"] == {"after": "timeout"}


def test_an_init_error_posted_by_a_shell_bootstrap_is_returned(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, shell_package(), "missing.handler")

    response = lambda_client.invoke(FunctionName=function_name, Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": "no handler file for missing.handler",
        "errorType": "Shell.NoHandler",
    }


# awslambdaric, AWS's runtime interface client, unchanged


@pytest.fixture(scope="session")
def ric_code() -> bytes:
    """A package with awslambdaric (for the sandbox's python3) and ``app.py``."""
    try:
        files = awslambdaric_files()
    except WheelsUnavailable as error:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"awslambdaric is required in CI: {error}")
        pytest.skip(f"awslambdaric unavailable: {error}")
    return ric_package(files)


def test_awslambdaric_runs_a_handler_with_its_context(
    lambda_client: Any, function_name: str, ric_code: bytes
) -> None:
    deploy(
        lambda_client,
        function_name,
        ric_code,
        "app.handler",
        Timeout=5,
        Environment={"Variables": {"GREETING": "hi"}},
    )
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()

    response, result = invoke(
        lambda_client, function_name, {"n": 1}, LogType="Tail", ClientContext=client_context
    )
    again, second = invoke(lambda_client, function_name, {"n": 2})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    request_id = response["ResponseMetadata"]["RequestId"]
    assert result["event"] == {"n": 1}
    assert result["aws_request_id"] == request_id
    assert result["function_name"] == function_name
    assert result["function_version"] == "$LATEST"
    assert result["invoked_function_arn"].endswith(f":function:{function_name}")
    assert result["memory_limit_in_mb"] == "128"
    assert result["log_group_name"] == f"/aws/lambda/{function_name}"
    assert result["log_stream_name"].endswith("]" + result["log_stream_name"].split("]")[-1])
    assert "[$LATEST]" in result["log_stream_name"]
    assert 0 < result["remaining_ms"] <= 5000
    assert result["custom"] == {"k": "v"}
    assert result["handler_env"] == "app.handler"
    assert result["trace_id"]
    assert result["greeting"] == "hi"
    assert "awslambdaric handler got {'n': 1}" in tail(response)
    # Warm: the same process (module state kept) served the second invoke.
    assert second["aws_request_id"] == again["ResponseMetadata"]["RequestId"]
    assert second["invocations"] == 2


def test_awslambdaric_reports_a_handler_exception(
    lambda_client: Any, function_name: str, ric_code: bytes
) -> None:
    deploy(lambda_client, function_name, ric_code, "app.handler")

    response, error = invoke(lambda_client, function_name, {"boom": True}, LogType="Tail")

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom requested"
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("app.py" in frame and "handler" in frame for frame in error["stackTrace"])
    assert "[ERROR] ValueError: boom requested" in tail(response)
    # The environment survives a handler exception.
    _, result = invoke(lambda_client, function_name, {"n": 3})
    assert result["event"] == {"n": 3}


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        (
            "nomodule.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'nomodule': No module named 'nomodule'",
        ),
        ("app.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"),
    ],
)
def test_awslambdaric_init_errors_are_returned(
    lambda_client: Any,
    function_name: str,
    ric_code: bytes,
    handler: str,
    error_type: str,
    message: str,
) -> None:
    deploy(lambda_client, function_name, ric_code, handler)

    response, error = invoke(lambda_client, function_name, {})

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == error_type
    assert error["errorMessage"] == message


def test_awslambdaric_large_response_and_exit_mid_invoke(
    lambda_client: Any, function_name: str, ric_code: bytes
) -> None:
    deploy(lambda_client, function_name, ric_code, "app.handler")

    _, big = invoke(lambda_client, function_name, {"big": 3_000_000})
    response, error = invoke(lambda_client, function_name, {"exit": 7})

    assert big == "a" * 3_000_000
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 7")
