"""The baseline of the SQS mapping benchmark: the least an SQS consumer must do.

``python esm_sqs_consumer.py ENDPOINT QUEUE_URL RECORDER_PORT THREADS BATCH``: THREADS
threads each long-poll ``ReceiveMessage`` (up to BATCH messages, 20 s), call the handler
in-process with the records (``{"Records": [{"body": ...}, ...]}``, what the handler
reads), then ``DeleteMessageBatch`` what they received; until SIGTERM.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from typing import Any

import boto3

stop = threading.Event()


def handler(event: dict[str, Any], port: int) -> None:
    """The benchmark's handler, the same code as Roost's function."""
    started = time.time()
    lines = "".join(f"{r['body']} {started:.6f}\n" for r in event["Records"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(lines.encode())


def consume(endpoint: str, queue_url: str, port: int, batch: int) -> None:
    sqs = boto3.session.Session().client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    while not stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(batch, 10), WaitTimeSeconds=20
        ).get("Messages", [])
        if not messages:
            continue
        handler({"Records": [{"body": m["Body"]} for m in messages]}, port)
        entries = [
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)
        ]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)


def main() -> None:
    endpoint, queue_url, port, threads, batch = sys.argv[1:6]
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workers = [
        threading.Thread(
            target=consume, args=(endpoint, queue_url, int(port), int(batch)), daemon=True
        )
        for _ in range(int(threads))
    ]
    for worker in workers:
        worker.start()
    while not stop.wait(0.2):
        pass


if __name__ == "__main__":
    main()
