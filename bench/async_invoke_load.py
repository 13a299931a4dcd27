"""The CPU meter of the async invoke benchmark: how many cores the benchmark's own process
tree (client, recorder, servers, environments, workers) and everything else kept busy."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from common import machine_busy_seconds
from invoke_proc import descendants, processes


def _own_cpu_s() -> float:
    """CPU seconds of this process and everything below it that is still alive."""
    table = processes()
    me = os.getpid()
    return sum(table[pid].cpu_s for pid in [me, *descendants(me, table)] if pid in table)


@dataclass
class Load:
    """Cores busy over one span: ours and other processes'."""

    wall_s: float
    own_cores: float
    other_cores: float


class Meter:
    """Start it, do the work, ``stop()`` for the cores used meanwhile.

    Processes that exit during the span (short-lived helpers) drop out of "ours", so the
    other-processes figure is an upper bound."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._busy = machine_busy_seconds()
        self._own = _own_cpu_s()

    def stop(self) -> Load:
        wall = max(time.monotonic() - self._wall, 1e-9)
        busy = machine_busy_seconds() - self._busy
        own = _own_cpu_s() - self._own
        return Load(wall, own / wall, max(busy - own, 0.0) / wall)


def wait_quiet(limit_s: float, cores: float = 0.2) -> float:
    """Wait (up to ``limit_s``) until other processes keep fewer than ``cores`` busy over a
    second; the last reading."""
    deadline = time.monotonic() + limit_s
    while True:
        meter = Meter()
        time.sleep(1.0)
        other = meter.stop().other_cores
        if other < cores or time.monotonic() >= deadline:
            return other
