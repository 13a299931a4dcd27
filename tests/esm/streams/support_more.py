"""More helpers of the stream end-to-end tests: DynamoDB tables with streams, a Kafka
reporting function, producing to Kafka, and reading a mapping's figures from ``/metrics``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from roost.observability.prometheus import Sample, parse
from tests.async_invoke.support import Recorder
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

# Reports every invoke of a self-managed Kafka mapping to the recorder whose port
# is in env PORT: per record its partition key (``topic-N``), offset, decoded key
# and value and headers, plus the whole event; raises when a value is in env POISON.
KAFKA_REPORTER = """
import base64, json, os, socket, time

def handler(event, context):
    records = []
    for shard, batch in event.get("records", {}).items():
        for r in batch:
            records.append({
                "shard": shard,
                "partition": r["partition"],
                "offset": r["offset"],
                "key": base64.b64decode(r["key"]).decode() if "key" in r else None,
                "value": base64.b64decode(r["value"]).decode(),
                "headers": [{k: bytes(v).decode() for k, v in h.items()} for h in r["headers"]],
            })
    poison = set(filter(None, os.environ.get("POISON", "").split(",")))
    failed = any(r["value"] in poison for r in records)
    report = {"id": "kafka", "t": time.time(), "records": records, "event": event,
              "failed": failed}
    with socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=10) as c:
        c.sendall((json.dumps(report) + "\\n").encode())
    if failed:
        raise RuntimeError("poison record")
    return None
"""


def deploy_kafka_reporter(client: Any, name: str, recorder: Recorder, poison: str = "") -> None:
    """The Kafka reporting function, raising on values in ``poison`` (comma list)."""
    deploy_code(
        client,
        name,
        {"app.py": KAFKA_REPORTER},
        Environment={"Variables": {"PORT": str(recorder.port), "POISON": poison}},
        Timeout=30,
    )


def kafka_batches(recorder: Recorder) -> list[dict[str, Any]]:
    """Every Kafka invoke reported so far, in start order."""
    return recorder.of("kafka")


def kafka_records(recorder: Recorder) -> list[dict[str, Any]]:
    """Every record of every reported Kafka invoke, in invoke order."""
    return [r for b in kafka_batches(recorder) for r in b["records"]]


def produce(
    bootstrap: str, topic: str, messages: Sequence[tuple[int, str, str, list[tuple[str, bytes]]]]
) -> None:
    """Produce (partition, key, value, headers) messages in order, one ack each."""

    async def send_all() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for partition, key, value, headers in messages:
                await producer.send_and_wait(
                    topic, value.encode(), key=key.encode(), partition=partition, headers=headers
                )
        finally:
            await producer.stop()

    asyncio.run(send_all())


def create_table_with_stream(
    moto_server: MotoServer, view_type: str = "NEW_AND_OLD_IMAGES"
) -> tuple[str, str]:
    """A fresh moto table keyed by string ``pk`` with a stream: (table name, stream ARN)."""
    dynamodb = moto_server.client("dynamodb")
    name = f"table-{uuid.uuid4().hex[:10]}"
    created = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type},
    )
    return name, str(created["TableDescription"]["LatestStreamArn"])


def mapping_samples(roost: RoostProcess, uuid_: str) -> list[Sample]:
    """The samples of ``/metrics`` labelled with this mapping."""
    import urllib.request

    with urllib.request.urlopen(f"{roost.endpoint}/metrics", timeout=10) as reply:
        samples = parse(reply.read().decode())
    return [s for s in samples if s.labels.get("mapping") == uuid_]


def records_of_fate(roost: RoostProcess, uuid_: str, fate: str) -> int:
    """``roost_esm_records_total{fate=...}`` of a mapping (0 if absent)."""
    return sum(
        int(s.value)
        for s in mapping_samples(roost, uuid_)
        if s.name == "roost_esm_records_total" and s.labels.get("fate") == fate
    )


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The consumer group's committed offset of each partition that has one."""

    async def read() -> dict[int, int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            found: dict[int, int] = {}
            for partition in range(partitions):
                offset = await consumer.committed(TopicPartition(topic, partition))
                if offset is not None:
                    found[partition] = int(offset)
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def consume_all(bootstrap: str, topic: str, count: int, timeout_s: float = 30.0) -> list[Any]:
    """The first ``count`` messages of partition 0 of ``topic``, read with assign()."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            found: list[Any] = []
            deadline = asyncio.get_running_loop().time() + timeout_s
            while len(found) < count and asyncio.get_running_loop().time() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    found.extend(messages)
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())
