"""Helpers of the stream end-to-end tests: a reporting function, streams in moto, waits."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

from roost.observability.prometheus import parse
from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

# Reports every invoke to the recorder whose port is in env PORT: when it ran
# (``t`` at the start, ``end``), the decoded data of its records (Kinesis
# ``data``, DynamoDB ``NewImage``), their partition keys, sequence numbers and
# shards, and the whole event. A record whose data is in env POISON fails, and
# one in env FAIL_ONCE fails the first time only (asking the ``FailOnce`` server
# in env FAIL_PORT): with MODE=raise (the default) the invoke raises, with
# MODE=partial it returns them as ``batchItemFailures``. A record whose data
# starts with "slow" makes the invoke report ``sleeping`` and sleep env SLEEP_S
# seconds first.
STREAM_REPORTER = """
import base64, json, os, socket, time

def datum(record):
    if "kinesis" in record:
        return base64.b64decode(record["kinesis"]["data"]).decode()
    image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("Keys")
    return json.dumps(image, sort_keys=True)

def first_time(datum):
    with socket.create_connection(("127.0.0.1", int(os.environ["FAIL_PORT"])), timeout=10) as c:
        c.sendall((datum + "\\n").encode())
        return c.makefile().readline().strip() == "1"

def handler(event, context):
    start = time.time()
    records = event.get("Records", [])
    data = [datum(r) for r in records]
    if any(d.startswith("slow") for d in data):
        with socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=10) as c:
            c.sendall((json.dumps({"id": "sleeping", "t": start, "data": data}) + "\\n").encode())
        time.sleep(float(os.environ.get("SLEEP_S", "0")))
    poison = set(filter(None, os.environ.get("POISON", "").split(",")))
    once = set(filter(None, os.environ.get("FAIL_ONCE", "").split(",")))
    failing = [d in poison or (d in once and first_time(d)) for d in data]
    partial = os.environ.get("MODE") == "partial"
    report = {"id": "batch", "t": start, "end": time.time(), "data": data,
              "failed": any(failing) and not partial,
              "failed_items": [d for d, f in zip(data, failing) if f],
              "keys": [r["kinesis"]["partitionKey"] for r in records if "kinesis" in r],
              "seqs": [r["kinesis"]["sequenceNumber"] for r in records if "kinesis" in r],
              "shards": [r["eventID"].split(":")[0] for r in records if "kinesis" in r],
              "event": event}
    with socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=10) as c:
        c.sendall((json.dumps(report) + "\\n").encode())
    if partial:
        failures = [r for r, f in zip(records, failing) if f]
        return {"batchItemFailures": [
            {"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in failures]}
    if any(failing):
        raise RuntimeError("poison record")
    if "window" in event:
        total = event["state"].get("sum", 0) + sum(int(d) for d in data)
        return {"state": {"sum": total}}
    return None
"""


def deploy_stream_reporter(
    client: Any, name: str, recorder: Recorder, poison: str = "", **variables: str
) -> None:
    """The reporting function, raising on records whose data is in ``poison`` (comma list);
    ``variables`` add to its environment (MODE, FAIL_ONCE, FAIL_PORT, SLEEP_S)."""
    deploy_code(
        client,
        name,
        {"app.py": STREAM_REPORTER},
        Environment={"Variables": {"PORT": str(recorder.port), "POISON": poison, **variables}},
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


def put_keyed(moto_server: MotoServer, arn: str, items: list[tuple[str, str]]) -> list[str]:
    """Put each ``(partition key, data)`` in order; the shard each landed in."""
    kinesis = moto_server.client("kinesis")
    return [
        str(kinesis.put_record(StreamARN=arn, Data=data.encode(), PartitionKey=key)["ShardId"])
        for key, data in items
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


def metric_samples(roost: RoostProcess, name: str, mapping: str) -> dict[str, float]:
    """One mapping's samples of ``name`` on ``/metrics``, by their ``shard`` or ``fate``."""
    with urllib.request.urlopen(roost.endpoint + "/metrics", timeout=10) as reply:
        samples = parse(reply.read().decode())
    found = {}
    for sample in samples:
        labels = dict(sample.labels)
        if sample.name == name and labels.get("mapping") == mapping:
            found[labels.get("shard") or labels.get("fate") or ""] = sample.value
    return found


def received_json(
    moto_server: MotoServer, queue_url: str, count: int, timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """``count`` messages of a moto queue, parsed (fewer if they do not come in time)."""
    sqs = moto_server.client("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count and time.monotonic() < deadline:
        reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        found.extend(json.loads(m["Body"]) for m in reply.get("Messages", []))
    return found
