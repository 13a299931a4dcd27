"""Kinesis event source mappings: Roost's shard workers feeding a function, against a
minimal hand-written consumer of the same moto stream.

One command (see ``bench/README.md``)::

    bench/run esm_stream [--records 20000 50000] [--probe-records 200] [--json out.json]

Installs the baseline's parts when missing (``moto[server]``, the Kinesis endpoint both read
from), starts moto, a recorder and Roost (data dir in a temp dir, ``--aws-endpoint-url`` at
moto, ``ROOST_ESM_STREAM_POLL_S`` = ``--poll-s``), then, one system at a time:

- **latency at low load**: a fresh one-shard stream is mapped (``TRIM_HORIZON``, BatchSize
  100) and warmed with one record; ``--probe-records`` records are put one at a time,
  ``--probe-gap-ms`` apart, each carrying its put time (taken just before ``PutRecord``);
  latency = handler start - put time, p50 and p99;
- **throughput**: one shard pre-loaded with the largest of ``--records`` (``PutRecords``,
  500 a call) is read from ``TRIM_HORIZON`` at each ``--batch-sizes``, each run counting
  the batches that cover its own ``--records`` (20,000 at 100, 50,000 at 1,000);
  records/s = records of every batch but the last / (last batch's handler start - first
  batch's handler start), so the function's cold start and the last batch's run are left
  out.

The handler (``esm_stream_handler.py``) is the same file for both: it reports its start
time per record (latency) or per batch (throughput) to a recorder process. The baseline
(``esm_stream_consumer.py``) is a boto3 loop in its own process: ``GetShardIterator``, then
``GetRecords`` (Limit = BatchSize), the handler called in-process on every non-empty page,
a ``--poll-s`` sleep after an empty one. Every consumer reads the pre-loaded stream from its
start, so both systems read the same shard.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from async_invoke_load import Meter as LoadMeter
from async_invoke_recorder import RecorderClient
from common import (
    KEYS,
    REGION,
    ROOST_ROLE,
    machine,
    machine_busy_seconds,
    make_client,
    make_zip,
    package_versions,
    percentile,
    proc_info,
    raise_interrupt,
    running,
)
from control_plane_servers import Server, ensure_baseline, moto_server, roost_server

HERE = Path(__file__).resolve().parent
HANDLER_SOURCE = (HERE / "esm_stream_handler.py").read_text()
LATENCY_FUNCTION = "esm-stream-latency"
COUNT_FUNCTION = "esm-stream-count"
LATENCY_BATCH_SIZE = 100
PUT_RECORDS_MAX = 500
# AWS's published put -> invoke figures for Lambda reading Kinesis (typical, not p50).
AWS_SHARED_MS = 200.0
AWS_FAN_OUT_MS = 70.0
TARGET_P50_MS = 50.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--batch-sizes", type=int, nargs="+", default=[100, 1_000], help="BatchSize of each run")
    add(
        "--records",
        type=int,
        nargs="+",
        default=[20_000, 50_000],
        help="records each throughput run drains, one per --batch-sizes",
    )
    add("--probe-records", type=int, default=200, help="records of the low-load latency run")
    add("--probe-gap-ms", type=float, default=50.0, help="pause between probe records")
    add("--poll-s", type=float, default=0.05, help="idle-shard poll interval (Roost's default)")
    add("--timeout", type=float, default=300.0, help="seconds to wait for every handler")
    add("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if len(args.records) != len(args.batch_sizes):
        parser.error("give one --records per --batch-sizes")
    args.drain = dict(zip(args.batch_sizes, args.records, strict=True))
    return args


# --------------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------------


def create_stream(kinesis: Any, name: str) -> str:
    """A one-shard stream; its ARN."""
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return str(summary["StreamARN"])


def preload(kinesis: Any, arn: str, count: int) -> float:
    """``count`` records with ``PutRecords`` (500 a call); records/s it took."""
    started = time.monotonic()
    for start in range(0, count, PUT_RECORDS_MAX):
        entries = [
            {"Data": f"t-{n}".encode(), "PartitionKey": f"k{n % 16}"}
            for n in range(start, min(count, start + PUT_RECORDS_MAX))
        ]
        reply = kinesis.put_records(StreamARN=arn, Records=entries)
        if reply.get("FailedRecordCount"):
            raise RuntimeError(f"PutRecords failed {reply['FailedRecordCount']} records")
    return count / (time.monotonic() - started)


def put(kinesis: Any, arn: str, record_id: str) -> tuple[float, float]:
    """One record whose data is ``ID PUT_TIME``; (put time, ``PutRecord`` seconds)."""
    put_s = time.time()
    kinesis.put_record(StreamARN=arn, Data=f"{record_id} {put_s:.6f}".encode(), PartitionKey="k")
    return put_s, time.time() - put_s


def warm_up(kinesis: Any, arn: str, rec: RecorderClient, timeout_s: float) -> None:
    """One record through the consumer, so its reader and the function are running."""
    put(kinesis, arn, "warm-up")
    if not rec.wait_for(1, timeout_s):
        raise TimeoutError("the warm-up record never reached the handler")
    rec.reset()


@dataclass
class Probe:
    put_s: dict[str, float]
    put_call_ms: list[float]


def probe(kinesis: Any, arn: str, prefix: str, count: int, gap_s: float) -> Probe:
    """Put one record at a time, ``gap_s`` apart."""
    sent = Probe({}, [])
    for n in range(count):
        record_id = f"{prefix}-{n}"
        put_s, call_s = put(kinesis, arn, record_id)
        sent.put_s[record_id] = put_s
        sent.put_call_ms.append(call_s * 1000)
        time.sleep(gap_s)
    return sent


def get_records_ms(kinesis: Any, arn: str, calls: int = 50) -> float:
    """p50 of an empty ``GetRecords`` at the tip of ``arn`` (what an idle poll costs)."""
    shard = kinesis.list_shards(StreamARN=arn)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard, ShardIteratorType="LATEST")
    iterator = iterator["ShardIterator"]
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        iterator = kinesis.get_records(StreamARN=arn, ShardIterator=iterator)["NextShardIterator"]
        times.append((time.perf_counter() - started) * 1000)
    return round(percentile(sorted(times), 50), 2)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def latencies(rec: RecorderClient, sent: Probe, timeout_s: float) -> dict[str, Any]:
    rec.wait_for(len(sent.put_s), timeout_s)
    done, duplicates = rec.dump()
    values = sorted((done[i] - t) * 1000 for i, t in sent.put_s.items() if i in done)
    calls = sorted(sent.put_call_ms)
    return {
        "records": len(sent.put_s),
        "ran": len(values),
        "duplicates": duplicates,
        "p50_ms": round(percentile(values, 50), 2) if values else None,
        "p99_ms": round(percentile(values, 99), 2) if values else None,
        "max_ms": round(values[-1], 2) if values else None,
        "put_record_p50_ms": round(percentile(calls, 50), 2),
    }


def batches_seen(rec: RecorderClient) -> tuple[dict[str, float], int]:
    """(``FIRST_SEQ:COUNT`` -> handler start, duplicates) of the count function."""
    return rec.dump()


def records_in(batches: dict[str, float]) -> int:
    return sum(int(key.rsplit(":", 1)[1]) for key in batches)


@dataclass
class Meter:
    """CPU of moto, of the consumer under test, of the benchmark's whole process tree and of
    other processes over a run."""

    moto: Server
    consumer: Callable[[], float]

    def __post_init__(self) -> None:
        self._start = self._read()
        self._load = LoadMeter()

    def _read(self) -> tuple[float, float, float, float]:
        return (
            time.monotonic(),
            self.moto.cpu_seconds(),
            self.consumer(),
            machine_busy_seconds(),
        )

    def cores(self) -> dict[str, float]:
        end = self._read()
        wall = end[0] - self._start[0]
        moto, ours, busy = (
            round((e - s) / wall, 2) for e, s in zip(end[1:], self._start[1:], strict=True)
        )
        load = self._load.stop()
        return {
            "moto_cores": moto,
            "consumer_cores": ours,
            "own_cores": round(load.own_cores, 2),
            "other_cores": round(load.other_cores, 2),
            "machine_cores": busy,
        }


def drained(rec: RecorderClient, expected: int, timeout_s: float, meter: Meter) -> dict[str, Any]:
    """Wait until batches covering ``expected`` records ran; records/s between them."""
    deadline = time.monotonic() + timeout_s
    batches, duplicates = batches_seen(rec)
    while records_in(batches) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        batches, duplicates = batches_seen(rec)
    cores = meter.cores()
    ordered = []
    total = 0
    # The stream may hold more than this run drains: stop at the batch that reached it.
    for key, started in sorted(batches.items(), key=lambda item: item[1]):
        if total >= expected:
            break
        ordered.append((key, started))
        total += int(key.rsplit(":", 1)[1])
    batches = dict(ordered)
    span = ordered[-1][1] - ordered[0][1] if len(ordered) > 1 else 0.0
    counted = total - int(ordered[-1][0].rsplit(":", 1)[1]) if ordered else 0
    return {
        "records": expected,
        "ran": total,
        "duplicates": duplicates,
        "batches": len(batches),
        "mean_batch": round(total / len(batches), 1) if batches else 0,
        "seconds": round(span, 3),
        "per_s": round(counted / span, 1) if span > 0 else 0.0,
        **cores,
    }


# --------------------------------------------------------------------------------------------
# Roost
# --------------------------------------------------------------------------------------------


def deploy(client: Any, name: str, rec: RecorderClient, mode: str) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROOST_ROLE,
        Handler="handler.handler",
        Code={"ZipFile": make_zip("handler.py", HANDLER_SOURCE)},
        Environment={"Variables": {"PORT": str(rec.port), "MODE": mode}},
        Timeout=30,
        MemorySize=128,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def map_stream(client: Any, name: str, arn: str, batch_size: int) -> str:
    mapping = client.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, BatchSize=batch_size, StartingPosition="TRIM_HORIZON"
    )
    uuid = str(mapping["UUID"])
    _wait(lambda: client.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", uuid)
    return uuid


def unmap(client: Any, uuid: str) -> None:
    client.delete_event_source_mapping(UUID=uuid)

    def gone() -> bool:
        try:
            client.get_event_source_mapping(UUID=uuid)
        except client.exceptions.ResourceNotFoundException:
            return True
        return False

    _wait(gone, uuid)


def _wait(condition: Callable[[], bool], uuid: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"mapping {uuid} did not settle in {timeout_s} s")
        time.sleep(0.1)


def roost_phase(
    args: argparse.Namespace, workdir: Path, moto: Server, rec: RecorderClient, loaded: str
) -> dict[str, Any]:
    """Roost: the latency probe on a stream of its own, then the pre-loaded stream."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = roost_server(workdir)
    server.argv += ["--aws-endpoint-url", moto.endpoint]
    os.environ["ROOST_ESM_STREAM_POLL_S"] = str(args.poll_s)
    kinesis = make_client(moto.endpoint, "kinesis")
    result: dict[str, Any] = {"throughput": {}}
    with running([server]):
        client = make_client(server.endpoint)
        deploy(client, LATENCY_FUNCTION, rec, "latency")
        deploy(client, COUNT_FUNCTION, rec, "count")
        arn = create_stream(kinesis, "roost-latency")
        uuid = map_stream(client, LATENCY_FUNCTION, arn, LATENCY_BATCH_SIZE)
        warm_up(kinesis, arn, rec, 60)
        print(f"Roost: probe of {args.probe_records} records", flush=True)
        gap_s = args.probe_gap_ms / 1000
        sent = probe(kinesis, arn, "r", args.probe_records, gap_s)
        result["latency"] = latencies(rec, sent, args.timeout)
        unmap(client, uuid)
        for batch in args.batch_sizes:
            rec.reset()
            print(f"Roost: {args.drain[batch]:,} records at BatchSize {batch}", flush=True)
            meter = Meter(moto, server.cpu_seconds)
            uuid = map_stream(client, COUNT_FUNCTION, loaded, batch)
            result["throughput"][batch] = drained(rec, args.drain[batch], args.timeout, meter)
            unmap(client, uuid)
    return result


# --------------------------------------------------------------------------------------------
# The baseline
# --------------------------------------------------------------------------------------------


class Consumer:
    """``esm_stream_consumer.py`` in its own process."""

    def __init__(
        self, moto: Server, arn: str, rec: RecorderClient, mode: str, batch: int, poll_s: float
    ) -> None:
        argv = [sys.executable, str(HERE / "esm_stream_consumer.py"), moto.endpoint, arn]
        argv += [str(rec.port), mode, str(batch), str(poll_s)]
        self.process = subprocess.Popen(argv, start_new_session=True)

    def cpu_seconds(self) -> float:
        return proc_info(self.process.pid).cpu_s

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def baseline_phase(
    args: argparse.Namespace, moto: Server, rec: RecorderClient, loaded: str
) -> dict[str, Any]:
    kinesis = make_client(moto.endpoint, "kinesis")
    result: dict[str, Any] = {"throughput": {}}
    arn = create_stream(kinesis, "baseline-latency")
    consumer = Consumer(moto, arn, rec, "latency", LATENCY_BATCH_SIZE, args.poll_s)
    try:
        warm_up(kinesis, arn, rec, 60)
        print(f"baseline: probe of {args.probe_records} records", flush=True)
        sent = probe(kinesis, arn, "b", args.probe_records, args.probe_gap_ms / 1000)
        result["latency"] = latencies(rec, sent, args.timeout)
    finally:
        consumer.stop()
    for batch in args.batch_sizes:
        rec.reset()
        print(f"baseline: {args.drain[batch]:,} records at BatchSize {batch}", flush=True)
        consumer = Consumer(moto, loaded, rec, "count", batch, args.poll_s)
        try:
            meter = Meter(moto, consumer.cpu_seconds)
            result["throughput"][batch] = drained(rec, args.drain[batch], args.timeout, meter)
        finally:
            consumer.stop()
    return result


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def report(args: argparse.Namespace, roost: dict, base: dict, info: dict) -> None:
    r_lat, b_lat = roost["latency"], base["latency"]
    poll_ms = f"{args.poll_s * 1000:g} ms"
    met = "yes" if r_lat["p50_ms"] is not None and r_lat["p50_ms"] < TARGET_P50_MS else "**no**"
    m = info["machine"]
    lines = [
        f"## Kinesis event source mapping: Roost vs a hand-written consumer, {info['date']}",
        "",
        f"Machine: {m['cpus']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, {m['os']}, "
        f"kernel {m['kernel']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + ".",
        f"One shard; idle-shard poll interval {poll_ms} for both; probe {args.probe_records} "
        f"records {args.probe_gap_ms:g} ms apart (BatchSize {LATENCY_BATCH_SIZE}); throughput: "
        f"{max(args.records):,} records pre-loaded, the first "
        + " / ".join(f"{args.drain[b]:,}" for b in args.batch_sizes)
        + " read from TRIM_HORIZON.",
        "",
        "| Metric | Roost | Baseline | Roost/Baseline |",
        "|---|---:|---:|---:|",
        f"| Put -> handler start p50 ms (low load, poll {poll_ms}) | {r_lat['p50_ms']} | "
        f"{b_lat['p50_ms']} | {ratio(r_lat['p50_ms'], b_lat['p50_ms'])} |",
        f"| Put -> handler start p99 ms (low load, poll {poll_ms}) | {r_lat['p99_ms']} | "
        f"{b_lat['p99_ms']} | {ratio(r_lat['p99_ms'], b_lat['p99_ms'])} |",
    ]
    for batch in args.batch_sizes:
        r, b = roost["throughput"][batch], base["throughput"][batch]
        lines.append(
            f"| Records/s, one shard, BatchSize {batch:,} | {r['per_s']:,} | {b['per_s']:,} | "
            f"{ratio(r['per_s'], b['per_s'])} |"
        )
    lines += [
        "",
        "| Reference | put -> invoke ms | Roost p50 / reference | Target p50 < 50 ms met |",
        "|---|---:|---:|---|",
        f"| AWS Lambda, shared-throughput Kinesis (AWS's figure) | ~{AWS_SHARED_MS:g} | "
        f"{ratio(r_lat['p50_ms'], AWS_SHARED_MS)} | {met} |",
        f"| AWS Lambda, enhanced fan-out (AWS's figure) | ~{AWS_FAN_OUT_MS:g} | "
        f"{ratio(r_lat['p50_ms'], AWS_FAN_OUT_MS)} | |",
        "",
        "| System | run | records | ran | ran twice | batches (mean size) | span s "
        "| moto cores | consumer cores | ours, cores | other processes, cores |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in (("Roost", roost), ("Baseline", base)):
        lat = result["latency"]
        lines.append(
            f"| {name} | latency | {lat['records']:,} | {lat['ran']:,} | {lat['duplicates']} "
            f"| | | | | | |"
        )
        for batch in args.batch_sizes:
            row = result["throughput"][batch]
            lines.append(
                f"| {name} | BatchSize {batch:,} | {row['records']:,} | {row['ran']:,} | "
                f"{row['duplicates']} | {row['batches']:,} ({row['mean_batch']:g}) | "
                f"{row['seconds']} | {row['moto_cores']} | {row['consumer_cores']} | "
                f"{row['own_cores']} | {row['other_cores']} |"
            )
    lines += [
        "",
        f"moto: PutRecord p50 {r_lat['put_record_p50_ms']} ms (Roost probe) / "
        f"{b_lat['put_record_p50_ms']} ms (baseline probe); an empty GetRecords at the tip "
        f"p50 {info['get_records_empty_ms']} ms; PutRecords pre-load "
        f'{info["preload_per_s"]:,.0f} records/s. "consumer cores" is Roost\'s server '
        "process (not its function's environment) or the baseline's process; \"ours\" is "
        "the benchmark's whole process tree (moto, Roost and its environments or the "
        "consumer, the recorder, the client); cores are over mapping/start -> all done.",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    moto_version = ensure_baseline()
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": {"moto": moto_version, **package_versions(["boto3", "roost"])},
    }
    m = info["machine"]
    print(
        f"esm_stream {info['date']}; machine: {m['cpus']} cores ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB, {m['os']}, Python {m['python']}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="roost-esm-stream-bench-"))
    moto = moto_server(workdir)
    recorder = RecorderClient()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", KEYS[0])
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", KEYS[1])
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    ok = False
    try:
        with running([moto]):
            kinesis = make_client(moto.endpoint, "kinesis")
            loaded = create_stream(kinesis, "preloaded")
            print(f"pre-loading {max(args.records):,} records", flush=True)
            info["preload_per_s"] = preload(kinesis, loaded, max(args.records))
            roost = roost_phase(args, workdir / "roost", moto, recorder, loaded)
            recorder.reset()
            base = baseline_phase(args, moto, recorder, loaded)
            info["get_records_empty_ms"] = get_records_ms(kinesis, loaded)
        ok = True
    finally:
        recorder.close()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}", file=sys.stderr)
    report(args, roost, base, info)
    if args.json:
        args.json.write_text(json.dumps({**info, "roost": roost, "baseline": base}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
