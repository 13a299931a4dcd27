"""Isolation: sync invoke latency of account A's function, idle and while account B floods
Roost with async invokes of its own function.

The sync client runs in the benchmark's process, one invoke after the other on one
keep-alive connection, replaying a request signed once. The flood runs in a child process
(this file run as a script) so that the two do not share a GIL: ``--senders`` connections on
one asyncio loop replay one signed Event invoke of account B until their stdin closes, then
print the responses counted by status as JSON.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from async_invoke_http import flood
from async_invoke_load import Load, Meter
from common import percentile


@dataclass
class SyncSpan:
    """Sync invokes of one span: latencies, errors, the load and (under flood) the flood."""

    label: str
    latencies_ms: list[float]
    errors: int
    load: Load
    flood_statuses: dict[int, int] | None = None
    flood_s: float = 0.0  # how long the flood ran, its ramp-up included

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    def flood_acks_per_s(self) -> float:
        """Account B's acknowledged async invokes per second over the whole flood."""
        acks = (self.flood_statuses or {}).get(202, 0)
        return acks / self.flood_s if self.flood_s else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "label": self.label,
            "invokes": len(self.latencies_ms),
            "p50_ms": round(self.p(50), 3),
            "p99_ms": round(self.p(99), 3),
            "errors": self.errors,
            "flood_statuses": self.flood_statuses,
            "flood_acks_per_s": round(self.flood_acks_per_s(), 1),
            "flood_s": round(self.flood_s, 2),
            "own_cores": round(self.load.own_cores, 2),
            "other_cores": round(self.load.other_cores, 2),
        }


def sync_invokes(port: int, request: bytes, seconds: float) -> tuple[list[float], int]:
    """Replay one signed RequestResponse invoke for ``seconds``: (latencies ms, errors)."""
    latencies: list[float] = []
    errors = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            conn.sendall(request)
            status_line = reader.readline()
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            reader.read(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if b" 200 " not in status_line:
                errors += 1
    return latencies, errors


def measure_idle(port: int, request: bytes, seconds: float) -> SyncSpan:
    meter = Meter()
    latencies, errors = sync_invokes(port, request, seconds)
    return SyncSpan("idle", latencies, errors, meter.stop())


def measure_flooded(
    port: int, request: bytes, flood_request: bytes, senders: int, seconds: float, ramp_s: float
) -> SyncSpan:
    """Start the flood, let it ramp up for ``ramp_s``, then measure for ``seconds``."""
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(port), str(senders)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdin is not None and child.stdout is not None
    flood_started = time.monotonic()
    child.stdin.write(len(flood_request).to_bytes(4, "big") + flood_request)
    child.stdin.flush()
    try:
        time.sleep(ramp_s)
        meter = Meter()
        latencies, errors = sync_invokes(port, request, seconds)
        load = meter.stop()
    finally:
        child.stdin.close()
        out = child.stdout.read()
        child.wait(30)
    flood_s = time.monotonic() - flood_started
    statuses = {int(k): v for k, v in json.loads(out or b"{}").items()}
    label = "async flood from another account"
    return SyncSpan(label, latencies, errors, load, statuses, flood_s)


def _flood_main() -> None:
    """The child: read the request, flood until stdin closes, print the statuses."""
    port, senders = int(sys.argv[1]), int(sys.argv[2])
    size = int.from_bytes(sys.stdin.buffer.read(4), "big")
    request = sys.stdin.buffer.read(size)
    stopped = False

    async def run() -> dict[int, int]:
        nonlocal stopped
        loop = asyncio.get_running_loop()
        watcher = loop.run_in_executor(None, sys.stdin.buffer.read)
        flooding = asyncio.ensure_future(
            flood("127.0.0.1", port, request, senders, lambda: not stopped)
        )
        await watcher
        stopped = True
        return await flooding

    statuses = asyncio.run(run())
    print(json.dumps(statuses), flush=True)


if __name__ == "__main__":
    _flood_main()
