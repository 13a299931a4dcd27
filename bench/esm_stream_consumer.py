"""The baseline of the stream mapping benchmark: the least a Kinesis consumer must do.

``python esm_stream_consumer.py ENDPOINT STREAM_ARN RECORDER_PORT MODE BATCH POLL_S``: one
thread reads the stream's first shard from ``TRIM_HORIZON`` with ``GetShardIterator`` and
``GetRecords`` (``Limit`` BATCH); a page with records goes to the handler in-process at once
(as a Lambda Kinesis event) and the next read follows; after an empty page it sleeps POLL_S
seconds, like Roost's shard worker at its minimum interval. Until SIGTERM.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import threading
from typing import Any

import boto3

stop = threading.Event()


def kinesis_event(records: list[dict[str, Any]], shard_id: str, arn: str) -> dict[str, Any]:
    """The records in the shape Lambda hands a Kinesis function."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventSourceARN": arn,
            }
            for r in records
        ]
    }


def consume(endpoint: str, arn: str, batch: int, poll_s: float) -> None:
    from esm_stream_handler import handler

    kinesis = boto3.session.Session().client(
        "kinesis", endpoint_url=endpoint, region_name="us-east-1"
    )
    shard_id = kinesis.list_shards(StreamARN=arn)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    while not stop.is_set():
        page = kinesis.get_records(StreamARN=arn, ShardIterator=iterator, Limit=batch)
        iterator = page["NextShardIterator"]
        if page["Records"]:
            handler(kinesis_event(page["Records"], shard_id, arn), None)
        else:
            stop.wait(poll_s)


def main() -> None:
    endpoint, arn, port, mode, batch, poll_s = sys.argv[1:7]
    os.environ.update(PORT=port, MODE=mode)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consume(endpoint, arn, int(batch), float(poll_s))


if __name__ == "__main__":
    main()
