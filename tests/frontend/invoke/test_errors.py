"""Every error class of a sync invoke, through boto3, as AWS Lambda returns it.

Shapes are those of AWS's Python runtime (``awslambdaric``: init faults go to
``/init/error`` with an empty ``requestId``) and of the Lambda service
(``Sandbox.Timedout``, ``Runtime.ExitError``, ``Runtime.OutOfMemory``,
``Function.ResponseSizeTooLarge``, ``RequestTooLargeException``). A function
error is always ``StatusCode`` 200 with ``FunctionError: Unhandled``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from roost.worker.isolation import detect
from tests.frontend.invoke.support import (
    Beacon,
    cold,
    deploy_code,
    invoke,
    log_tail,
    request_id,
)

APP = """
import os, subprocess, sys, time

def nested(message):
    raise ValueError(message)

def handler(event, context):
    action = event.get("action")
    if action == "raise":
        nested("boom requested")
    if action == "exit":
        os._exit(event["code"])
    if action == "unserialisable":
        return {"tags": {"a", "b"}}
    if action == "big":
        return "x" * event["size"]
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "daemon":
        child = subprocess.Popen(
            [sys.executable, "-c", DAEMON], start_new_session=True, stdout=subprocess.PIPE
        )
        return {"port": int(child.stdout.readline())}
    if action == "hog":
        blocks = [b"\\1" * (16 << 20) for _ in range(128)]
        return len(blocks)
    return {"event": event, "stream": context.log_stream_name}

DAEMON = '''
import socket
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    conn.sendall(b"alive")
    conn.close()
'''
"""


@pytest.fixture
def app(lambda_client: Any, function_name: str) -> str:
    """A deployed function of ``APP`` (Timeout 1 s)."""
    deploy_code(lambda_client, function_name, {"app.py": APP}, Timeout=1)
    return function_name


def assert_unhandled(response: dict[str, Any]) -> None:
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["ExecutedVersion"] == "$LATEST"


# Errors of the handler


def test_a_handler_exception_has_message_type_request_id_and_stack_trace(
    lambda_client: Any, app: str
) -> None:
    response, error = invoke(lambda_client, app, {"action": "raise"})

    assert_unhandled(response)
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorMessage"] == "boom requested"
    assert error["errorType"] == "ValueError"
    assert error["requestId"] == request_id(response)
    frames = error["stackTrace"]
    assert frames[0].startswith('  File "/var/task/app.py", line ')
    assert ", in handler\n" in frames[0]
    assert ", in nested\n    raise ValueError(message)\n" in frames[-1]
    assert all("/var/runtime/" not in frame for frame in frames)
    tail = log_tail(response)
    assert "[ERROR] ValueError: boom requested\rTraceback (most recent call last):\r" in tail
    # The environment survives a handled exception.
    after, _ = invoke(lambda_client, app, {})
    assert not cold(after)


def test_an_unserialisable_result_is_a_marshal_error(lambda_client: Any, app: str) -> None:
    response, error = invoke(lambda_client, app, {"action": "unserialisable"})

    assert_unhandled(response)
    assert error == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": request_id(response),
        "stackTrace": [],
    }
    after, _ = invoke(lambda_client, app, {})
    assert not cold(after)


# Init errors


@pytest.mark.parametrize(
    ("handler", "files", "message"),
    [
        (
            "nomodule.handler",
            {"app.py": "def handler(event, context):\n    return 1\n"},
            "Unable to import module 'nomodule': No module named 'nomodule'",
        ),
        (
            "app.handler",
            {"app.py": "import missing_dependency\n\ndef handler(event, context):\n    return 1\n"},
            "Unable to import module 'app': No module named 'missing_dependency'",
        ),
    ],
    ids=["module-missing", "dependency-missing"],
)
def test_a_module_that_cannot_be_imported_is_an_import_module_error(
    lambda_client: Any, function_name: str, handler: str, files: dict[str, str], message: str
) -> None:
    deploy_code(lambda_client, function_name, files, Handler=handler)

    response, error = invoke(lambda_client, function_name)

    assert_unhandled(response)
    assert error == {
        "errorMessage": message,
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    assert f"[ERROR] Runtime.ImportModuleError: {message}" in log_tail(response)


def test_a_missing_handler_function_is_handler_not_found(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(
        lambda_client,
        function_name,
        {"app.py": "def other(event, context):\n    return 1\n"},
        Handler="app.handler",
    )

    response, error = invoke(lambda_client, function_name)

    assert_unhandled(response)
    assert error == {
        "errorMessage": "Handler 'handler' missing on module 'app'",
        "errorType": "Runtime.HandlerNotFound",
        "requestId": "",
        "stackTrace": [],
    }


def test_a_syntax_error_is_a_user_code_syntax_error(lambda_client: Any, function_name: str) -> None:
    source = "def handler(event, context):\n    return [1, 2\n"
    deploy_code(lambda_client, function_name, {"app.py": source})

    response, error = invoke(lambda_client, function_name)

    assert_unhandled(response)
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"
    assert error["errorMessage"].startswith("Syntax error in module 'app': ")
    assert "(app.py, line 2)" in error["errorMessage"]
    assert error["requestId"] == ""
    assert error["stackTrace"] == ['  File "/var/task/app.py" Line 2\n        return [1, 2\n']


def test_an_exception_at_import_time_is_returned_as_the_init_error(
    lambda_client: Any, function_name: str
) -> None:
    source = (
        "def connect():\n"
        "    raise ConnectionError('no database at import')\n"
        "\n"
        "connect()\n"
        "\n"
        "def handler(event, context):\n"
        "    return 1\n"
    )
    deploy_code(lambda_client, function_name, {"app.py": source})

    response, error = invoke(lambda_client, function_name)

    assert_unhandled(response)
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorMessage"] == "no database at import"
    assert error["errorType"] == "ConnectionError"
    assert error["requestId"] == ""
    assert error["stackTrace"][-2].startswith('  File "/var/task/app.py", line 4, in <module>')
    assert error["stackTrace"][-1].startswith('  File "/var/task/app.py", line 2, in connect')
    assert "[ERROR] ConnectionError: no database at import\r" in log_tail(response)


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    server = Beacon(b"fail")
    yield server
    server.close()


def test_a_failed_init_leaves_no_environment_behind_and_the_next_invoke_inits_again(
    lambda_client: Any, function_name: str, beacon: Beacon
) -> None:
    # The module asks the test, at import, whether to fail.
    source = (
        "import os, socket\n"
        "with socket.create_connection(('127.0.0.1', int(os.environ['BEACON']))) as s:\n"
        "    if s.recv(16) == b'fail':\n"
        "        raise RuntimeError('told to fail')\n"
        "\n"
        "def handler(event, context):\n"
        "    return 'initialised'\n"
    )
    deploy_code(
        lambda_client,
        function_name,
        {"app.py": source},
        Environment={"Variables": {"BEACON": str(beacon.port)}},
    )

    failed, error = invoke(lambda_client, function_name)
    again, _ = invoke(lambda_client, function_name)
    assert failed["FunctionError"] == "Unhandled"
    beacon.answer = b"ok"
    recovered, result = invoke(lambda_client, function_name)
    warm, _ = invoke(lambda_client, function_name)

    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "told to fail"
    assert again["FunctionError"] == "Unhandled"
    assert result == "initialised"
    assert "FunctionError" not in recovered
    assert cold(recovered)
    assert not cold(warm)
    # One import per environment: two failed ones, then the one that succeeded.
    assert beacon.hits == 3


# The runtime going away


def test_an_exit_mid_invoke_is_an_exit_error_and_the_environment_is_replaced(
    lambda_client: Any, app: str
) -> None:
    _, before = invoke(lambda_client, app, {})

    response, error = invoke(lambda_client, app, {"action": "exit", "code": 3})
    after_response, after = invoke(lambda_client, app, {})

    assert_unhandled(response)
    message = f"RequestId: {request_id(response)} Error: Runtime exited with error: exit status 3"
    assert error == {"errorType": "Runtime.ExitError", "errorMessage": message}
    assert f"{message}\nRuntime.ExitError\nEND RequestId: " in log_tail(response)
    assert cold(after_response)
    assert after["stream"] != before["stream"]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(16) == b"alive"
    except OSError:
        return False


def test_a_timeout_is_sandbox_timedout_and_destroys_the_environment(
    lambda_client: Any, app: str
) -> None:
    # A process the environment started, visible from outside through its port.
    _, started = invoke(lambda_client, app, {"action": "daemon"})
    port = started["port"]
    assert _port_open(port)

    response, error = invoke(lambda_client, app, {"action": "sleep", "seconds": 30})

    assert_unhandled(response)
    rid = request_id(response)
    assert error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {rid} Error: Task timed out after 1.00 seconds",
    }
    assert f"Z {rid} Task timed out after 1.00 seconds\nEND RequestId: {rid}\n" in log_tail(
        response
    )
    deadline = time.monotonic() + 5
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _port_open(port), "a process of the timed-out environment survived it"
    after, _ = invoke(lambda_client, app, {})
    assert cold(after)


@pytest.mark.skipif(not detect().cgroups, reason="needs cgroup memory limits")
def test_a_memory_hog_is_out_of_memory_and_the_host_survives(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": APP}, MemorySize=128, Timeout=30)

    response, error = invoke(lambda_client, function_name, {"action": "hog"})
    after, result = invoke(lambda_client, function_name, {"n": 1})

    assert_unhandled(response)
    assert error == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": (
            f"RequestId: {request_id(response)} Error: Runtime exited with error: signal: killed"
        ),
    }
    assert "Max Memory Used: 128 MB" in log_tail(response)
    assert result["event"] == {"n": 1}
    assert cold(after)


# Payload limits


@pytest.fixture
def roomy_app(lambda_client: Any, function_name: str) -> str:
    """``APP`` with time to build and send a response of several megabytes on a busy host."""
    deploy_code(lambda_client, function_name, {"app.py": APP}, Timeout=20)
    return function_name


def test_an_oversize_response_is_function_response_size_too_large(
    lambda_client: Any, roomy_app: str
) -> None:
    app = roomy_app
    size = 7 * 1024 * 1024
    response, error = invoke(lambda_client, app, {"action": "big", "size": size})

    assert_unhandled(response)
    assert set(error) == {"errorMessage", "errorType"}
    assert error["errorType"] == "Function.ResponseSizeTooLarge"
    assert error["errorMessage"].startswith(
        f"Response payload size ({size + 2} bytes) exceeded maximum allowed payload size ("
    )
    # The runtime was only refused its response: the environment stays warm.
    after, result = invoke(lambda_client, app, {"n": 2})
    assert result["event"] == {"n": 2}
    assert not cold(after)


def test_the_oversize_response_message_is_awss(lambda_client: Any, roomy_app: str) -> None:
    app = roomy_app
    response, error = invoke(lambda_client, app, {"action": "big", "size": 6291500})

    assert "FunctionError" not in response, error
    response, error = invoke(lambda_client, app, {"action": "big", "size": 7_000_000})
    assert error["errorMessage"] == (
        "Response payload size (7000002 bytes) exceeded maximum allowed payload size "
        "(6291556 bytes)."
    )


def test_an_oversize_request_is_request_too_large(lambda_client: Any, app: str) -> None:
    payload = json.dumps({"data": "x" * (6 * 1024 * 1024)}).encode()

    with pytest.raises(ClientError) as caught:
        lambda_client.invoke(FunctionName=app, Payload=payload)

    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "RequestTooLargeException"
    assert error["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
