"""Async invokes: Roost's durable Event invokes against Celery with a Redis broker.

One command (see ``bench/README.md``)::

    bench/run async_invoke [--events 10000] [--senders 64] [--json out.json]

Installs the baseline when missing (``celery[redis]`` 5.x with pip, ``redis-server`` with
apt-get), then, one system at a time on 127.0.0.1, sends ``--events`` trivial events from
``--senders`` concurrent senders, each handler reporting to a recorder process; measures
end-to-end throughput (first ack -> last handler done), ack latency and end-to-end latency;
then Roost's isolation: account A's sync invoke p99 idle and while account B floods async
invokes. Prints markdown tables with the Roost/Celery ratio and the issue's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import async_invoke_celery as celery_side
import async_invoke_isolation as isolation
import async_invoke_roost as roost_side
from async_invoke_http import send_all
from async_invoke_load import Meter, wait_quiet
from async_invoke_recorder import RecorderClient
from async_invoke_report import (
    EventRun,
    detail_table,
    isolation_table,
    noise_notes,
    summary_table,
)
from async_invoke_rounds import Round, median_round, rounds_table
from common import free_port, machine, package_versions, raise_interrupt, running


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--events", type=int, default=10_000, help="measured events per system")
    add("--senders", type=int, default=64, help="concurrent senders (both systems)")
    add("--warmup", type=int, default=500, help="untimed events first (environments, pools)")
    add("--probe-events", type=int, default=1_000, help="events of the 1-sender ack probe")
    add("--timeout", type=float, default=600.0, help="seconds to wait for every handler")
    add("--celery-processes", type=int, default=os.cpu_count() or 2, help="prefork pool size")
    add("--redis-appendfsync", default="always", choices=["always", "everysec", "no"])
    add("--memory-budget-mb", type=int, default=65_536, help="ROOST_MEMORY_BUDGET_MB")
    add("--isolation-seconds", type=float, default=5.0, help="per sync span (idle, flooded)")
    add("--flood-senders", type=int, default=64, help="account B's async senders")
    add("--flood-ramp", type=float, default=2.0, help="seconds of flood before measuring")
    add("--wait-quiet", type=float, default=0.0, help="first wait up to S s for < 0.2 cores")
    add(
        "--rounds",
        type=int,
        default=1,
        help="repeat both systems this many times, alternating; report each and the medians",
    )
    add("--json", type=Path, help="write the results here")
    add("--keep-logs", action="store_true", help="keep the servers' data and logs")
    return parser.parse_args(argv)


def roost_phase(
    args: argparse.Namespace, workdir: Path, recorder: RecorderClient
) -> dict[str, Any]:
    """Roost: throughput of ``--events``, then the isolation spans."""
    workdir.mkdir(parents=True)
    server = roost_side.AsyncRoost(workdir, free_port(), args.memory_budget_mb)
    _, *flood_keys = server.create_account("flood")
    with running([server]):
        server.deploy(recorder.port)
        server.deploy_flood((flood_keys[0], flood_keys[1]))
        url = server.url(roost_side.RECORDING_FUNCTION)
        print(f"Roost on port {server.port}: warm-up of {args.warmup} events", flush=True)
        _send_roost(server.port, url, "w", args.warmup, args, recorder)
        recorder.reset()
        print(f"Roost: ack probe, {args.probe_events} events from 1 sender", flush=True)
        probe = _send_roost(server.port, url, "p", args.probe_events, args, recorder, senders=1)
        recorder.reset()
        print(f"Roost: {args.events} events from {args.senders} senders", flush=True)
        run = _send_roost(server.port, url, "r", args.events, args, recorder)
        print("Roost: isolation (sync invokes of account A)", flush=True)
        idle, flooded = _isolation(server, flood_keys, args)
        return {
            "run": run,
            "probe": probe,
            "idle": idle,
            "flooded": flooded,
            "sandbox": server.sandboxed(),
        }


def _send_roost(
    port: int,
    url: str,
    prefix: str,
    count: int,
    args: argparse.Namespace,
    recorder: RecorderClient,
    senders: int = 0,
) -> EventRun:
    ids = [f"{prefix}-{i}" for i in range(count)]
    requests = roost_side.event_requests(url, prefix, count)  # signed before the clock starts
    meter = Meter()
    sent = asyncio.run(send_all("127.0.0.1", port, requests, senders or args.senders))
    if not recorder.wait_for(count, args.timeout):
        print(f"Roost: only {recorder.count()} of {count} events ran in time", flush=True)
    load = meter.stop()
    done, duplicates = recorder.dump()
    return EventRun("Roost", ids, sent, done, duplicates, load, senders or args.senders)


def _isolation(
    server: roost_side.AsyncRoost, flood_keys: list[str], args: argparse.Namespace
) -> tuple[isolation.SyncSpan, isolation.SyncSpan]:
    sync_request = roost_side.signed_request(
        server.url(roost_side.SYNC_FUNCTION), b"{}", event=False
    )
    flood_request = roost_side.signed_request(
        server.url(roost_side.FLOOD_FUNCTION), b"{}", keys=(flood_keys[0], flood_keys[1])
    )
    isolation.sync_invokes(server.port, sync_request, 1.0)  # warm account A's environment
    idle = isolation.measure_idle(server.port, sync_request, args.isolation_seconds)
    flooded = isolation.measure_flooded(
        server.port, sync_request, flood_request, args.flood_senders,
        args.isolation_seconds, args.flood_ramp,
    )  # fmt: skip
    return idle, flooded


def celery_phase(
    args: argparse.Namespace, workdir: Path, recorder: RecorderClient, redis_path: str
) -> tuple[EventRun, EventRun]:
    """Celery: redis-server and a prefork worker, then the same events."""
    workdir.mkdir(parents=True)
    redis = celery_side.RedisServer(workdir, free_port(), redis_path, args.redis_appendfsync)
    broker = f"redis://127.0.0.1:{redis.port}/0"
    worker = celery_side.CeleryWorker(workdir, broker, recorder.port, args.celery_processes)
    with running([redis, worker]):
        task = celery_side.task_sender(workdir, broker)
        print(f"Celery on Redis port {redis.port}: warm-up of {args.warmup} tasks", flush=True)
        _send_celery(task, "cw", args.warmup, args, recorder)
        recorder.reset()
        print(f"Celery: ack probe, {args.probe_events} tasks from 1 sender", flush=True)
        probe = _send_celery(task, "cp", args.probe_events, args, recorder, senders=1)
        recorder.reset()
        print(f"Celery: {args.events} tasks from {args.senders} senders", flush=True)
        return _send_celery(task, "c", args.events, args, recorder), probe


def _send_celery(
    task: Any,
    prefix: str,
    count: int,
    args: argparse.Namespace,
    recorder: RecorderClient,
    senders: int = 0,
) -> EventRun:
    ids = [f"{prefix}-{i}" for i in range(count)]
    meter = Meter()
    sent = celery_side.send_all(task, ids, senders or args.senders)
    if not recorder.wait_for(count, args.timeout):
        print(f"Celery: only {recorder.count()} of {count} tasks ran in time", flush=True)
    load = meter.stop()
    done, duplicates = recorder.dump()
    return EventRun("Celery", ids, sent, done, duplicates, load, senders or args.senders)


def report(
    args: argparse.Namespace,
    roost: dict[str, Any],
    celery: EventRun,
    celery_probe: EventRun,
    info: dict[str, Any],
) -> dict[str, Any]:
    """Print the tables; the results as JSON-ready data."""
    run: EventRun = roost["run"]
    probe: EventRun = roost["probe"]
    lines = [
        f"## Async invokes: Roost vs Celery {info['versions'].get('celery', '?')} "
        f"(Redis {info['redis']}), {info['date']}",
        "",
        f"{args.events:,} events each, {args.senders} concurrent senders; Celery prefork "
        f"concurrency {args.celery_processes}, Redis appendfsync {args.redis_appendfsync}; "
        f"ack probe: {args.probe_events:,} events from 1 sender.",
        "",
        *summary_table(run, celery, probe, celery_probe),
        "",
        *detail_table([run, celery, probe, celery_probe]),
        "",
        *isolation_table(roost["idle"], roost["flooded"]),
        "",
        *noise_notes([("Roost's run", run.load), ("Celery's run", celery.load),
                      ("the idle sync span", roost["idle"].load),
                      ("the flooded sync span", roost["flooded"].load)]),
    ]  # fmt: skip
    print("\n".join(lines), flush=True)
    return {
        **info,
        "args": {k: str(v) for k, v in vars(args).items()},
        "roost": run.summary(),
        "celery": celery.summary(),
        "roost_probe_1_sender": probe.summary(),
        "celery_probe_1_sender": celery_probe.summary(),
        "ratio_throughput": round(run.throughput() / celery.throughput(), 2)
        if celery.throughput()
        else None,
        "isolation": {"idle": roost["idle"].summary(), "flooded": roost["flooded"].summary()},
        "sandbox": roost["sandbox"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    celery_version = celery_side.ensure_celery()
    redis_path = celery_side.ensure_redis_server()
    if args.wait_quiet:
        print(f"other processes: {wait_quiet(args.wait_quiet):.2f} cores busy", flush=True)
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": {
            "celery": celery_version,
            **package_versions(["kombu", "redis", "uvicorn", "uvloop", "roost"]),
        },
        "redis": celery_side.redis_version(redis_path),
    }
    workdir = Path(tempfile.mkdtemp(prefix="roost-async-bench-", dir=Path.home()))
    recorder = RecorderClient()
    rounds: list[Round] = []
    try:
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"--- round {number} of {args.rounds}", flush=True)
            here = workdir / f"round-{number}"
            roost = roost_phase(args, here / "roost", recorder)
            recorder.reset()
            celery, celery_probe = celery_phase(args, here / "celery", recorder, redis_path)
            recorder.reset()
            rounds.append(Round(roost, celery, celery_probe))
    finally:
        recorder.close()
        if not args.keep_logs:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs and data kept in {workdir}", flush=True)
    middle = median_round(rounds)
    results = report(args, middle.roost, middle.celery, middle.celery_probe, info)
    if len(rounds) > 1:
        print("\n".join(["", *rounds_table(rounds)]), flush=True)
        results["rounds"] = [r.summary() for r in rounds]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
