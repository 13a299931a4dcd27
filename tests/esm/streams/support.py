"""Helpers of the stream end-to-end tests: a reporting function, streams in moto, waits."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.fixtures.moto_server import MotoServer
from tests.frontend.invoke.support import deploy_code

# Reports every invoke to the recorder whose port is in env PORT: the decoded
# data of its records (Kinesis ``data``, DynamoDB ``NewImage``), the shard of
# each and the whole event; raises when a record's data is in env POISON.
STREAM_REPORTER = """
import base64, json, os, socket, time

def datum(record):
    if "kinesis" in record:
        return base64.b64decode(record["kinesis"]["data"]).decode()
    image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("Keys")
    return json.dumps(image, sort_keys=True)

def handler(event, context):
    data = [datum(r) for r in event.get("Records", [])]
    poison = set(filter(None, os.environ.get("POISON", "").split(",")))
    failed = bool(poison.intersection(data))
    report = {"id": "batch", "t": time.time(), "data": data, "failed": failed,
              "shards": [r["eventID"].split(":")[0] for r in event.get("Records", [])
                         if "kinesis" in r],
              "event": event}
    with socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=10) as c:
        c.sendall((json.dumps(report) + "\\n").encode())
    if failed:
        raise RuntimeError("poison record")
    if "window" in event:
        total = event["state"].get("sum", 0) + sum(int(d) for d in data)
        return {"state": {"sum": total}}
    return None
"""


def deploy_stream_reporter(client: Any, name: str, recorder: Recorder, poison: str = "") -> None:
    """The reporting function, raising on records whose data is in ``poison`` (comma list)."""
    deploy_code(
        client,
        name,
        {"app.py": STREAM_REPORTER},
        Environment={"Variables": {"PORT": str(recorder.port), "POISON": poison}},
        Timeout=30,
    )


def create_kinesis_stream(moto_server: MotoServer, shards: int = 1) -> str:
    """A fresh moto Kinesis stream with ``shards`` shards; its ARN."""
    kinesis = moto_server.client("kinesis")
    name = f"stream-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return str(
        kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    )


def put_records(moto_server: MotoServer, arn: str, items: list[str], key: str = "k") -> list[str]:
    """Put each item (in order) under partition key ``key``; their sequence numbers."""
    kinesis = moto_server.client("kinesis")
    return [
        str(
            kinesis.put_record(StreamARN=arn, Data=item.encode(), PartitionKey=key)[
                "SequenceNumber"
            ]
        )
        for item in items
    ]


def batches(recorder: Recorder) -> list[dict[str, Any]]:
    """Every invoke reported so far, in start order."""
    return recorder.of("batch")


def processed(recorder: Recorder) -> list[str]:
    """Data of every record of a batch that succeeded, in invoke order."""
    return [d for b in batches(recorder) if not b["failed"] for d in b["data"]]


def map_stream(client: Any, name: str, arn: str, **settings: Any) -> str:
    """Create a stream mapping and wait until it is Enabled; its UUID."""
    settings.setdefault("StartingPosition", "TRIM_HORIZON")
    created = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, **settings)
    uuid_ = str(created["UUID"])
    wait_for(lambda: client.get_event_source_mapping(UUID=uuid_)["State"] == "Enabled", 30)
    return uuid_


def received_json(moto_server: MotoServer, queue_url: str, count: int) -> list[dict[str, Any]]:
    """``count`` messages of a moto queue, parsed."""
    sqs = moto_server.client("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(found) < count and time.monotonic() < deadline:
        reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        found.extend(json.loads(m["Body"]) for m in reply.get("Messages", []))
    return found
