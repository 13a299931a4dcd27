"""Helpers of the SQS end-to-end tests: a Roost reaching moto, queues, handlers, reports."""

from __future__ import annotations

import contextlib
import io
import json
import site
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.async_invoke.support import Recorder
from tests.fixtures.loopback import LoopbackServer
from tests.fixtures.moto_server import MOTO_CREDENTIALS, MotoServer
from tests.frontend.invoke.support import deploy_code

WAIT_S = 90.0

# Fast leases and scaling, so take-over and disable show within seconds.
ESM_ENV = {
    "ROOST_ESM_LEASE_TTL_S": "3",
    "ROOST_ESM_POLL_WAIT_S": "2",
    "ROOST_ESM_SCALE_INTERVAL_S": "5",
    "ROOST_ASYNC_POLLERS": "1",
}

# Reports every invoke to the recorder: when it ran, the ids and groups of its
# records and their receive counts; fails records whose body asks for it
# ("fail": n fails the first n receives; "fail_once": the port of a FailOnce
# server, which says yes the first time it is asked about an id), by raising
# (MODE=raise) or with a partial batch response (MODE=partial).
REPORTING_HANDLER = """
import json, os, socket, time

def first_time(port, record_id):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall((record_id + "\\n").encode())
        return conn.makefile().readline().strip() == "1"

def fails(record, body):
    if "fail_once" in body:
        return first_time(body["fail_once"], body["id"])
    return int(record["attributes"]["ApproximateReceiveCount"]) <= body.get("fail", 0)

def handler(event, context):
    start = time.time()
    records = event["Records"]
    bodies = [json.loads(r["body"]) for r in records]
    time.sleep(max(b.get("sleep", 0) for b in bodies))
    failed = [(r, b) for r, b in zip(records, bodies) if fails(r, b)]
    report = {
        "id": "batch",
        "t": start,
        "start": start,
        "end": time.time(),
        "ids": [b["id"] for b in bodies],
        "failed": [b["id"] for _, b in failed],
        "groups": [r["attributes"].get("MessageGroupId") for r in records],
        "records": records,
    }
    with socket.create_connection(("127.0.0.1", bodies[0]["port"]), timeout=10) as conn:
        conn.sendall((json.dumps(report) + "\\n").encode())
    if failed and os.environ.get("MODE") == "raise":
        raise RuntimeError("failing on purpose")
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r, _ in failed]}
"""

# The same reports, with the partial batch response built by AWS Lambda Powertools.
POWERTOOLS_HANDLER = """
import json, socket, time
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor, EventType, process_partial_response,
)

processor = BatchProcessor(event_type=EventType.SQS)

def record_handler(record):
    body = json.loads(record.body)
    failing = int(record.attributes.approximate_receive_count) <= body.get("fail", 0)
    report = {"id": "batch", "t": time.time(), "start": time.time(), "end": time.time(),
              "ids": [body["id"]], "failed": [body["id"]] if failing else [], "groups": [None]}
    with socket.create_connection(("127.0.0.1", body["port"]), timeout=10) as conn:
        conn.sendall((json.dumps(report) + "\\n").encode())
    if failing:
        raise ValueError("failing on purpose")

def handler(event, context):
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
"""


class FailOnce(LoopbackServer):
    """Answers ``1`` the first time a function asks about one of ``ids``, ``0`` after:
    a failure that does not depend on receive counts."""

    def __init__(self, ids: set[str]) -> None:
        super().__init__()
        self._pending = set(ids)
        self._lock = threading.Lock()
        self.start()

    def handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            asked = conn.makefile().readline().strip()
            with self._lock:
                first = asked in self._pending
                self._pending.discard(asked)
            conn.sendall(b"1\n" if first else b"0\n")


def esm_env(moto_server: MotoServer) -> dict[str, str]:
    """The environment of a Roost whose pollers read moto's queues."""
    return {
        **ESM_ENV,
        "ROOST_AWS_ENDPOINT_URL": moto_server.endpoint,
        "AWS_ACCESS_KEY_ID": MOTO_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": MOTO_CREDENTIALS["aws_secret_access_key"],
    }


def powertools_zip(handler: str) -> bytes:
    """A package of ``app.py`` and AWS Lambda Powertools (with what its batch utility
    imports), copied from the test environment: the sandbox sees only /var/task."""
    roots = [Path(p) for p in site.getsitepackages()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", handler)
        for root in roots:
            for name in ("aws_lambda_powertools", "jmespath", "typing_extensions.py"):
                path = root / name
                files = [path] if path.is_file() else sorted(path.rglob("*.py"))
                for file in files:
                    if file.exists():
                        archive.write(file, str(file.relative_to(root)))
    return buffer.getvalue()


def deploy_reporter(
    client: Any, name: str, mode: str = "partial", timeout_s: int = 30, **overrides: Any
) -> None:
    """The reporting function, failing by ``mode``. Its timeout may not exceed the
    visibility timeout of a queue it is mapped to (Lambda refuses the mapping)."""
    deploy_code(
        client,
        name,
        {"app.py": REPORTING_HANDLER},
        Environment={"Variables": {"MODE": mode}},
        Timeout=timeout_s,
        **overrides,
    )


def deploy_zip(client: Any, name: str, code: bytes, timeout_s: int = 30) -> None:
    """A python3.12 function of ``code`` (handler ``app.handler``), active."""
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="app.handler",
        Code={"ZipFile": code},
        Timeout=timeout_s,
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )


def create_queue(
    moto_server: MotoServer, *, fifo: bool = False, **attributes: str
) -> tuple[str, str]:
    """A fresh moto queue: (URL, ARN)."""
    sqs = moto_server.client("sqs")
    name = f"esm-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
    if fifo:
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true", **attributes}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def send(
    moto_server: MotoServer, url: str, bodies: list[dict[str, Any]], **extra: Any
) -> list[str]:
    """Send each body as JSON (in order); the message ids."""
    sqs = moto_server.client("sqs")
    ids = []
    for body in bodies:
        group = body.get("group")
        params = dict(extra)
        if group is not None:
            params["MessageGroupId"] = group
        ids.append(
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), **params)["MessageId"]
        )
    return ids


def queue_depth(moto_server: MotoServer, url: str) -> int:
    """Messages visible plus in flight."""
    attributes = moto_server.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def map_queue(client: Any, name: str, arn: str, **settings: Any) -> str:
    """Create a mapping and wait until it is Enabled; its UUID."""
    uuid_ = str(
        client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, **settings)[
            "UUID"
        ]
    )
    wait_state(client, uuid_, "Enabled")
    return uuid_


def wait_state(client: Any, uuid_: str, state: str, timeout_s: float = 30.0) -> None:
    """Wait until the mapping reports ``state``."""
    wait_for(lambda: client.get_event_source_mapping(UUID=uuid_)["State"] == state, timeout_s)


def wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def batches(recorder: Recorder) -> list[dict[str, Any]]:
    """Every invoke reported so far, in start order."""
    return recorder.of("batch")


def processed_ids(recorder: Recorder) -> list[str]:
    """Every record id the function saw, in the order it saw them."""
    return [i for batch in batches(recorder) for i in batch["ids"]]


def done_ids(recorder: Recorder) -> set[str]:
    """Ids the function saw and did not fail."""
    return {i for batch in batches(recorder) for i in batch["ids"] if i not in batch["failed"]}
