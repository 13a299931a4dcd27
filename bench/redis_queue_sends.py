"""Durable sends/s and ack latency of ``RedisQueueStore`` (a quick measurement, not a test).

Starts a redis-server of its own with the persistence the cluster store asks
for (AOF, ``appendfsync always``, the same settings as the tests' server) in a
directory on disk, then for each number of concurrent senders (coroutines on
one event loop, each sending a 256-byte body and waiting for the ack before the
next) prints sends/s, ack p50/p99 and messages per script call::

    .venv/bin/python bench/redis_queue_sends.py [--seconds 3] [--senders 1 8 64] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.redis_server import RedisServer

from roost.store.redis.queues import RedisQueueStore

BODY = b"x" * 256


async def measure(url: str, senders: int, seconds: float) -> None:
    store = await RedisQueueStore.open(url)
    latencies_ms: list[float] = []
    try:
        await store.send("warm-up", BODY)
        deadline = time.perf_counter() + seconds

        async def sender(n: int) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await store.send(f"async-{n % 8}", BODY)
                latencies_ms.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        calls_before = store.stats.calls
        await asyncio.gather(*(sender(n) for n in range(senders)))
        elapsed = time.perf_counter() - began
        calls = store.stats.calls - calls_before
    finally:
        await store.close()
    latencies_ms.sort()
    print(
        f"senders={senders:3d} sends/s={len(latencies_ms) / elapsed:9.0f} "
        f"ack p50={statistics.median(latencies_ms):.3f} ms "
        f"p99={latencies_ms[int(len(latencies_ms) * 0.99)]:.3f} ms "
        f"sends/call={len(latencies_ms) / max(calls, 1):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--rounds", type=int, default=1)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            for senders in options.senders:
                for _ in range(options.rounds):
                    server.flush()
                    asyncio.run(measure(server.url, senders, options.seconds))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
