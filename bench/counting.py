"""The counting service per check: in memory (one node) against Redis (a cluster).

One command (see ``bench/README.md``)::

    bench/run counting [--checks 20000] [--callers 1 8] [--json out.json]

Each check is what an invoke costs the counting service: ``CountingService.acquire``
(check the account's and the function's limits and count the invoke in) timed
alone, then ``release``. Sides: the embedded node's in-memory counters (the
baseline), and ``RedisConcurrencyCounters`` on a redis-server this command starts
on 127.0.0.1 twice: once with no persistence (a counting Redis of its own; the
counters are leases that lapse, nothing to keep) and once with ``appendfsync
always`` (one Redis for everything, every check then waits for an fsync that
concurrent checks share). ``--callers`` coroutines on one uvloop check
concurrently. The talk's figure: well under 1.5 ms per check.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from common import ensure_apt_binary, free_port, machine, percentile

from roost.flow.counting import CountingService
from roost.store.memory import MemoryConcurrencyCounters
from roost.store.ports import ConcurrencyCounters
from roost.store.redis.connection import RedisConnection
from roost.store.redis.counters import RedisConcurrencyCounters

ACCOUNT = "111111111111"
FUNCTIONS = 50


@dataclass
class Row:
    side: str
    callers: int
    checks: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_s(self) -> float:
        return self.checks / self.seconds if self.seconds else 0.0


@contextmanager
def redis_server(fsync_always: bool, parent: Path | None = None) -> Iterator[str]:
    """A redis-server on a free port in a temporary directory (under ``parent`` if given:
    keep it on a disk, a tmpfs makes fsync free); its URL."""
    binary = ensure_apt_binary("redis-server", "redis-server")
    workdir = Path(tempfile.mkdtemp(prefix="roost-bench-redis-", dir=parent))
    port = free_port()
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if fsync_always else []
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    argv += ["--save", "", *persistence]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


async def measure(side: str, counters: ConcurrencyCounters, callers: int, checks: int) -> Row:
    """``checks`` acquire + release pairs split over ``callers``; acquire latencies."""
    counting = CountingService(account_limit=1000, counters=counters)
    latencies: list[float] = []

    async def caller(index: int) -> None:
        for n in range(checks // callers):
            function = f"fn{(index + n) % FUNCTIONS}"
            started = time.perf_counter()
            lease = await counting.acquire(ACCOUNT, function, None, 0, hold_s=10)
            latencies.append(time.perf_counter() - started)
            await counting.release(lease)

    # Warm up (script loading, connections), then measure.
    await asyncio.gather(*(caller(i) for i in range(callers)))
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    seconds = time.perf_counter() - started
    latencies.sort()
    ms = [value * 1000 for value in latencies]
    return Row(side, callers, len(ms), seconds, percentile(ms, 50), percentile(ms, 99))


async def run_all(args: argparse.Namespace, urls: dict[str, str]) -> list[Row]:
    rows = []
    for callers in args.callers:
        rows.append(await measure("memory", MemoryConcurrencyCounters(), callers, args.checks))
        for side, url in urls.items():
            counters = RedisConcurrencyCounters(RedisConnection.from_url(url))
            try:
                rows.append(await measure(side, counters, callers, args.checks))
            finally:
                await counters.close()
    return rows


def report(rows: list[Row]) -> None:
    print("| Side | Callers | Checks/s | Check p50 | Check p99 | p99 vs memory |")
    print("|---|---:|---:|---:|---:|---:|")
    baseline = {row.callers: row for row in rows if row.side == "memory"}
    for row in rows:
        ratio = row.p99_ms / baseline[row.callers].p99_ms if baseline[row.callers].p99_ms else 0
        print(
            f"| {row.side} | {row.callers} | {row.per_s:,.0f} | {row.p50_ms:.3f} ms "
            f"| {row.p99_ms:.3f} ms | {ratio:,.0f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with redis_server(False) as volatile, redis_server(True) as durable:
        urls = {"redis (no persistence)": volatile, "redis (appendfsync always)": durable}
        rows = uvloop.run(run_all(args, urls))
    print(f"\ncounting service, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}\n")
    report(rows)
    if args.json:
        payload = {"machine": machine(), "rows": [asdict(row) for row in rows]}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
