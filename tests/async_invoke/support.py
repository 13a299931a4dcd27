"""Helpers of the async invoke tests: a recorder functions report to, a Roost with
scaled-down retries, and a reporting function."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fixtures.loopback import LoopbackServer

# Retries in milliseconds instead of minutes, and in-flight events back in 2 s.
ASYNC_ENV = {
    "ROOST_ASYNC_RETRY_SCALE": "0.001",
    "ROOST_ASYNC_VISIBILITY_TIMEOUT_S": "2",
}
WAIT_S = 60.0

# Reports (event id, request id, time) to the recorder, then fails if asked.
REPORTER = """
import json, socket, time

def handler(event, context):
    report = {"id": event.get("id"), "rid": context.aws_request_id, "t": time.time()}
    with socket.create_connection(("127.0.0.1", int(event["port"])), timeout=10) as conn:
        conn.sendall((json.dumps(report) + "\\n").encode())
    if event.get("fail"):
        raise RuntimeError("failing on purpose")
    return "done"
"""


class Recorder(LoopbackServer):
    """A TCP server on 127.0.0.1 collecting the JSON lines functions send it."""

    def __init__(self) -> None:
        super().__init__(backlog=512)
        self.reports: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.start()

    def handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        chunks = []
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        lines = b"".join(chunks).decode().splitlines()
        with self._lock:
            self.reports.extend(json.loads(line) for line in lines if line)

    def of(self, event_id: str) -> list[dict[str, Any]]:
        """The reports of one event, oldest first."""
        with self._lock:
            return sorted((r for r in self.reports if r["id"] == event_id), key=lambda r: r["t"])

    def ids(self) -> set[str]:
        """Every event id reported so far."""
        with self._lock:
            return {str(r["id"]) for r in self.reports}


def wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def send_event(client: Any, name: str, event: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``Invoke`` with ``InvocationType=Event``; the response."""
    response: dict[str, Any] = client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event), **extra
    )
    return response
