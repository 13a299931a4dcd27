"""SQS event source mappings: Roost's pollers draining a queue into a function, against a
minimal hand-written consumer of the same queue.

One command (see ``bench/README.md``)::

    bench/run esm_sqs [--messages 5000] [--probe-messages 200] [--json out.json]

Installs the baseline's parts when missing (``moto[server]`` for the SQS endpoint both read
from), then, one system at a time on 127.0.0.1 against one moto server:

- **throughput**: ``--messages`` messages are put in a queue first (``SendMessageBatch``),
  then the consumer starts (Roost: the mapping is enabled; baseline: its process starts);
  events/s = messages / (start -> last handler done);
- **latency at low load**: with the consumer running, ``--probe-messages`` messages are
  sent one at a time, ``--probe-gap-ms`` apart; latency = ``SendMessage`` returned ->
  the handler started on that record.

The handler is the same for both: it reports ``ID TIME`` for every record of its batch to a
recorder process on 127.0.0.1. The baseline is the least a consumer must do: a Python
process with ``--baseline-consumers`` threads (AWS starts an SQS mapping with five pollers),
each long-polling ``ReceiveMessage`` (10 messages), calling the handler in-process with the
records, then ``DeleteMessageBatch``. Roost does the same through its pollers, the sync
invoke path and a sandboxed environment, so the ratio is what that machinery costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from async_invoke_recorder import RecorderClient
from common import (
    KEYS,
    REGION,
    ROOST_ROLE,
    machine,
    make_client,
    make_zip,
    package_versions,
    percentile,
    raise_interrupt,
    running,
)
from control_plane_servers import Server, ensure_baseline, moto_server, roost_server

FUNCTION = "esm-sqs-bench"
HANDLER = """\
import socket, time

def handler(event, context):
    started = time.time()
    lines = "".join("%s %.6f\\n" % (r["body"], started) for r in event["Records"])
    with socket.create_connection(("127.0.0.1", {port}), timeout=10) as conn:
        conn.sendall(lines.encode())
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--messages", type=int, default=5_000, help="backlog drained in the throughput run")
    add("--batch-size", type=int, default=10, help="BatchSize (and the baseline's receive)")
    add("--probe-messages", type=int, default=200, help="messages of the low-load latency run")
    add("--probe-gap-ms", type=float, default=50.0, help="pause between probe messages")
    add("--baseline-consumers", type=int, default=5, help="the baseline's polling threads")
    add("--timeout", type=float, default=600.0, help="seconds to wait for every handler")
    add("--json", type=Path, help="write the results here")
    return parser.parse_args(argv)


def sqs_client(endpoint: str) -> Any:
    return make_client(endpoint, "sqs")


def fill(sqs: Any, queue_url: str, prefix: str, count: int) -> list[str]:
    """``count`` messages whose bodies are their ids, 10 per ``SendMessageBatch``."""
    ids = [f"{prefix}-{n}" for n in range(count)]
    for start in range(0, count, 10):
        entries = [{"Id": str(k), "MessageBody": i} for k, i in enumerate(ids[start : start + 10])]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return ids


def probe(sqs: Any, queue_url: str, prefix: str, count: int, gap_s: float) -> dict[str, float]:
    """Send one message at a time; when each ``SendMessage`` returned (Unix time)."""
    sent: dict[str, float] = {}
    for n in range(count):
        message_id = f"{prefix}-{n}"
        sqs.send_message(QueueUrl=queue_url, MessageBody=message_id)
        sent[message_id] = time.time()
        time.sleep(gap_s)
    return sent


def drained(recorder: RecorderClient, ids: list[str], started: float, timeout: float) -> dict:
    """Wait for every id; throughput from ``started`` to the last handler."""
    complete = recorder.wait_for(len(ids), timeout)
    done, duplicates = recorder.dump()
    ran = [done[i] for i in ids if i in done]
    span = (max(ran) - started) if ran else 0.0
    return {
        "messages": len(ids),
        "ran": len(ran),
        "complete": complete,
        "duplicates": duplicates,
        "seconds": round(span, 3),
        "per_s": round(len(ran) / span, 1) if span > 0 else 0.0,
    }


def latencies(recorder: RecorderClient, sent: dict[str, float], timeout: float) -> dict:
    recorder.wait_for(len(sent), timeout)
    done, duplicates = recorder.dump()
    values = sorted((done[i] - t) * 1000 for i, t in sent.items() if i in done)
    return {
        "messages": len(sent),
        "ran": len(values),
        "duplicates": duplicates,
        "p50_ms": round(percentile(values, 50), 2) if values else None,
        "p99_ms": round(percentile(values, 99), 2) if values else None,
    }


def roost_phase(args: argparse.Namespace, workdir: Path, moto: Server, rec: RecorderClient) -> dict:
    """Roost: a function and a mapping; the backlog drained, then the probe."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = roost_server(workdir)
    server.argv += ["--aws-endpoint-url", moto.endpoint]
    sqs = sqs_client(moto.endpoint)
    queue_url = sqs.create_queue(QueueName="roost-bench")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    with running([server]):
        client = make_client(server.endpoint)
        client.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.11",
            Role=ROOST_ROLE,
            Handler="handler.handler",
            Code={"ZipFile": make_zip("handler.py", HANDLER.replace("{port}", str(rec.port)))},
            Timeout=30,
            MemorySize=128,
        )
        client.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
        mapping = client.create_event_source_mapping(
            FunctionName=FUNCTION,
            EventSourceArn=arn["Attributes"]["QueueArn"],
            BatchSize=args.batch_size,
            Enabled=False,
        )
        _wait_state(client, mapping["UUID"], "Disabled")
        print(f"Roost: {args.messages} messages queued, then the mapping enabled", flush=True)
        ids = fill(sqs, queue_url, "r", args.messages)
        started = time.time()
        client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
        run = drained(rec, ids, started, args.timeout)
        rec.reset()
        print(f"Roost: probe of {args.probe_messages} messages", flush=True)
        sent = probe(sqs, queue_url, "p", args.probe_messages, args.probe_gap_ms / 1000)
        return {"throughput": run, "latency": latencies(rec, sent, args.timeout)}


def _wait_state(client: Any, uuid: str, state: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get_event_source_mapping(UUID=uuid)["State"] != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"mapping {uuid} never reached {state}")
        time.sleep(0.1)


def baseline_phase(args: argparse.Namespace, moto: Server, rec: RecorderClient) -> dict:
    """The hand-written consumer on a queue of its own."""
    sqs = sqs_client(moto.endpoint)
    queue_url = sqs.create_queue(QueueName="baseline-bench")["QueueUrl"]
    print(f"baseline: {args.messages} messages queued, then the consumer started", flush=True)
    ids = fill(sqs, queue_url, "b", args.messages)
    started = time.time()
    consumer = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "esm_sqs_consumer.py"),
            moto.endpoint,
            queue_url,
            str(rec.port),
            str(args.baseline_consumers),
            str(args.batch_size),
        ],
        start_new_session=True,
    )
    try:
        run = drained(rec, ids, started, args.timeout)
        rec.reset()
        print(f"baseline: probe of {args.probe_messages} messages", flush=True)
        sent = probe(sqs, queue_url, "q", args.probe_messages, args.probe_gap_ms / 1000)
        return {"throughput": run, "latency": latencies(rec, sent, args.timeout)}
    finally:
        os.killpg(consumer.pid, signal.SIGTERM)
        try:
            consumer.wait(30)  # Its threads finish their long polls first.
        except subprocess.TimeoutExpired:
            os.killpg(consumer.pid, signal.SIGKILL)
            consumer.wait()


def report(args: argparse.Namespace, roost: dict, base: dict, info: dict) -> None:
    r_run, b_run = roost["throughput"], base["throughput"]
    r_lat, b_lat = roost["latency"], base["latency"]

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}x" if a and b else "-"

    lines = [
        f"## SQS event source mapping: Roost vs a hand-written consumer, {info['date']}",
        "",
        f"moto {info['versions'].get('moto', '?')} as SQS; BatchSize {args.batch_size}; "
        f"backlog {args.messages:,} messages; probe {args.probe_messages} messages "
        f"{args.probe_gap_ms:g} ms apart; baseline {args.baseline_consumers} polling threads.",
        "",
        "| Metric | Roost | Baseline | Roost/Baseline |",
        "|---|---:|---:|---:|",
        f"| Backlog drained, messages/s | {r_run['per_s']:,} | {b_run['per_s']:,} | "
        f"{ratio(r_run['per_s'], b_run['per_s'])} |",
        f"| Send -> handler start p50 ms (low load) | {r_lat['p50_ms']} | {b_lat['p50_ms']} | "
        f"{ratio(r_lat['p50_ms'], b_lat['p50_ms'])} |",
        f"| Send -> handler start p99 ms (low load) | {r_lat['p99_ms']} | {b_lat['p99_ms']} | "
        f"{ratio(r_lat['p99_ms'], b_lat['p99_ms'])} |",
        "",
        "| System | run | messages | ran | ran twice |",
        "|---|---|---:|---:|---:|",
    ]
    for name, result in (("Roost", roost), ("Baseline", base)):
        for part in ("throughput", "latency"):
            row = result[part]
            lines.append(
                f"| {name} | {part} | {row['messages']:,} | {row['ran']:,} | {row['duplicates']} |"
            )
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    moto_version = ensure_baseline()
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": {"moto": moto_version, **package_versions(["boto3", "roost"])},
    }
    workdir = Path(tempfile.mkdtemp(prefix="roost-esm-bench-", dir=Path.home()))
    moto = moto_server(workdir)
    recorder = RecorderClient()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", KEYS[0])
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", KEYS[1])
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    try:
        with running([moto]):
            roost = roost_phase(args, workdir / "roost", moto, recorder)
            recorder.reset()
            base = baseline_phase(args, moto, recorder)
    finally:
        recorder.close()
    report(args, roost, base, info)
    if args.json:
        args.json.write_text(json.dumps({**info, "roost": roost, "baseline": base}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
