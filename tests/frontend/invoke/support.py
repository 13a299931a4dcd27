"""Helpers of the invoke tests: deploy code, invoke, read the log tail, a TCP beacon."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
from typing import Any

from tests.conftest import create_args
from tests.fixtures.loopback import LoopbackServer
from tests.fixtures.roost_process import make_zip


def deploy_code(client: Any, name: str, files: dict[str, str], **overrides: Any) -> bytes:
    """Create a python3.12 function of ``files`` and wait until it is active; its zip."""
    code = make_zip(files)
    client.create_function(**create_args(name, code, **overrides))
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    return code


def invoke(client: Any, name: str, event: Any = None, **extra: Any) -> tuple[dict[str, Any], Any]:
    """Invoke with LogType=Tail; the response and its decoded JSON payload."""
    payload = json.dumps(event if event is not None else {})
    response = client.invoke(FunctionName=name, Payload=payload, LogType="Tail", **extra)
    return response, json.loads(response["Payload"].read())


def request_id(response: dict[str, Any]) -> str:
    """The invoke's request id (what the function saw as ``aws_request_id``)."""
    return str(response["ResponseMetadata"]["RequestId"])


def log_tail(response: dict[str, Any]) -> str:
    """The decoded ``X-Amz-Log-Result``."""
    return base64.b64decode(response["LogResult"]).decode("utf-8", "replace")


def report_line(response: dict[str, Any]) -> str:
    """The invocation's REPORT line."""
    found = re.search(r"^REPORT RequestId: .*$", log_tail(response), re.MULTILINE)
    assert found is not None, log_tail(response)
    return found.group(0)


def cold(response: dict[str, Any]) -> bool:
    """Whether the invoke ran in a new environment (its REPORT has an Init Duration)."""
    return "\tInit Duration: " in report_line(response)


class Beacon(LoopbackServer):
    """A TCP server on 127.0.0.1 that answers every connection with ``answer``.

    Functions reach it over the host's loopback (their network is the host's by
    default); ``hits`` counts the connections it served.
    """

    def __init__(self, answer: bytes = b"ok") -> None:
        super().__init__()
        self.answer = answer
        self.hits = 0
        self.start()

    def handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.hits += 1
            conn.sendall(self.answer)
