"""The CPU meter of the async invoke benchmark: how many cores the benchmark's own process
tree (client, recorder, servers, environments, workers) and everything else kept busy."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from common import CLK_TCK, machine_busy_seconds
from invoke_proc import descendants, processes


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and of its children it has reaped (cutime,
    cstime), so that short-lived helpers that exited still count as ours; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # Relative to the state field (3 in stat(5)): utime 14, stime 15, cutime 16, cstime 17.
    return sum(int(value) for value in fields[11:15]) / CLK_TCK


def _own_cpu_s() -> float:
    """CPU seconds of this process and everything below it (alive, or reaped by it)."""
    table = processes()
    me = os.getpid()
    return sum(_tree_cpu_s(pid) for pid in [me, *descendants(me, table)])


@dataclass
class Load:
    """Cores busy over one span: ours and other processes'."""

    wall_s: float
    own_cores: float
    other_cores: float


class Meter:
    """Start it, do the work, ``stop()`` for the cores used meanwhile.

    A process of ours that exits unreaped, or whose parent exits during the span, drops out
    of "ours", so the other-processes figure is an upper bound."""

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
