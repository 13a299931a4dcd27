"""Load for the cluster benchmark: one wrk spreading a pre-signed Invoke over nodes, the CPU
split of a run, and which node received and ran how many invokes.

wrk connects every thread to the URL's address unless the script's ``setup(thread)`` gives
the thread another one, so ``-t k`` with a setup that hands thread i node i's port spreads
the connections evenly (``-c / k`` each) and wrk still merges every thread's latencies into
one histogram: one p50/p99 for the whole cluster. The request is signed once (botocore
SigV4) with node 0's ``Host``; every node checks the signature against the header as sent,
so the same bytes are valid at each.
"""

from __future__ import annotations

import json
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster_nodes import CLUSTER_INVOKES, ENVIRONMENTS, GRANTED, scrape
from common import machine_busy_seconds
from invoke_proc import descendants, processes
from invoke_targets import PAYLOAD, Roost
from invoke_wrk import wrk_script

SPREAD = """
local ports = {{{ports}}}
local threads = 0
function setup(thread)
  -- Thread i talks to node i: wrk gives every connection of a thread its thread's address.
  threads = threads + 1
  thread.addr = wrk.lookup("127.0.0.1", tostring(ports[(threads - 1) % #ports + 1]))[1]
end
"""

# Untimed 1 s runs at most, until the environment count stops changing.
WARM_UP_ROUNDS = 10


@dataclass
class NodeShare:
    """What one node did during a measured run."""

    node: str
    # Invokes its frontend counted in (received from wrk).
    received: int
    # Invokes it sent to another node, and ran for another node.
    sent: int
    served: int

    @property
    def ran(self) -> int:
        """Invokes its environments ran: its own minus those sent away, plus those served."""
        return self.received - self.sent + self.served


@dataclass
class LoadRun:
    """One measured wrk run against a set of nodes."""

    setup: str
    nodes: int
    clients: int
    seconds: float
    requests: int
    errors: int
    invokes_per_s: float
    p50_ms: float
    p99_ms: float
    environments: int
    # CPU milliseconds per invoke: Roost servers, their environments, redis-server, wrk.
    server_cpu_ms: float
    environment_cpu_ms: float
    redis_cpu_ms: float
    wrk_cpu_ms: float
    # Cores processes outside this benchmark kept busy during the run.
    other_cores: float
    shares: list[NodeShare] = field(default_factory=list)


def spread_script(path: Path, url: str, ports: list[int]) -> Path:
    """The signed Invoke of ``url`` plus a setup that spreads wrk's threads over ``ports``."""
    wrk_script(path, url, PAYLOAD)
    with path.open("a") as script:
        script.write(SPREAD.format(ports=", ".join(str(port) for port in ports)))
    return path


def run_wrk(wrk: str, script: Path, url: str, threads: int, clients: int, seconds: float) -> Any:
    """wrk's summary line (``ROOSTBENCH {...}`` from ``invoke_wrk.WRK_SCRIPT``) as a dict."""
    argv = [wrk, "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s"]
    argv += ["--timeout", "10s", "--latency", "-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("ROOSTBENCH "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")


class CpuMeter:
    """CPU seconds of the servers, their environments, redis-server, wrk and the rest."""

    def __init__(self, servers: list[int], redis: list[int]) -> None:
        self.servers = servers
        self.redis = redis
        self.before = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float, float, float]:
        table = processes()

        def cpu(pids: list[int]) -> float:
            return sum(table[pid].cpu_s for pid in pids if pid in table)

        environments = [pid for server in self.servers for pid in descendants(server, table)]
        redis = cpu(self.redis)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk = children.ru_utime + children.ru_stime
        return cpu(self.servers), cpu(environments), redis, wrk, machine_busy_seconds()

    def read(self) -> tuple[float, float, float, float, float]:
        """(servers, environments, redis, wrk, others) CPU seconds since the meter started."""
        after = self._snapshot()
        deltas = (b - a for a, b in zip(self.before, after, strict=True))
        server, environments, redis, wrk, busy = deltas
        others = max(0.0, busy - server - environments - redis - wrk)
        return server, environments, redis, wrk, others


def _totals(nodes: list[Roost]) -> list[dict[str, float]]:
    return [scrape(node.port) for node in nodes]


def environment_count(nodes: list[Roost]) -> int:
    """Environments on every node, in any state."""
    return int(sum(metrics.get(ENVIRONMENTS, 0.0) for metrics in _totals(nodes)))


def settle(
    wrk: str, script: Path, url: str, targets: int, clients: int, nodes: list[Roost]
) -> None:
    """Untimed 1 s runs until the environment count stops changing: the environments this
    concurrency needs exist, and the heartbeats have told the frontends where they are."""
    count = -1
    for _ in range(WARM_UP_ROUNDS):
        run_wrk(wrk, script, url, targets, clients, 1.0)
        now = environment_count(nodes)
        if now == count:
            return
        count = now


def shares(nodes: list[Roost], names: list[str], before: list[dict[str, float]]) -> list[NodeShare]:
    """Each node's received/sent/served invokes since ``before``."""
    found = []
    for name, old, new in zip(names, before, _totals(nodes), strict=True):

        def delta(key: str, old: dict[str, float] = old, new: dict[str, float] = new) -> int:
            return int(new.get(key, 0.0) - old.get(key, 0.0))

        sent, served = delta(CLUSTER_INVOKES + ":sent"), delta(CLUSTER_INVOKES + ":served")
        found.append(NodeShare(name, delta(GRANTED), sent, served))
    return found


@dataclass(frozen=True)
class Bench:
    """What a measured run needs: wrk, where its scripts go, the run length, redis-servers."""

    wrk: str
    script_dir: Path
    seconds: float
    redis: list[int]


@dataclass(frozen=True)
class Deployment:
    """The servers of one measured setup: all its nodes, their names, the ones wrk loads."""

    setup: str
    # Worker hosts (1 for the embedded node).
    workers: int
    nodes: list[Roost]
    names: list[str]
    frontends: list[Roost]


def measure(bench: Bench, deployment: Deployment, clients: int) -> LoadRun:
    """Warm up, then one timed wrk run of ``clients`` connections spread over the frontends."""
    setup, nodes, names = deployment.setup, deployment.nodes, deployment.names
    frontends = deployment.frontends
    ports = [node.port for node in frontends]
    url = frontends[0].url("warm")
    script = spread_script(bench.script_dir / f"{setup}-{len(nodes)}-{clients}.lua", url, ports)
    settle(bench.wrk, script, url, len(ports), clients, nodes)
    before = _totals(nodes)
    meter = CpuMeter([node.server_pid() for node in nodes], bench.redis)
    figures = run_wrk(bench.wrk, script, url, len(ports), clients, bench.seconds)
    server, environments, redis, wrk_cpu, others = meter.read()
    requests = int(figures["requests"])
    elapsed = figures["duration_us"] / 1e6
    errors = sum(int(figures[k]) for k in ("connect", "read", "write", "status", "timeout"))

    def per_invoke(cpu_s: float) -> float:
        return round(cpu_s * 1000 / requests, 3) if requests else 0.0

    return LoadRun(
        setup=setup,
        nodes=deployment.workers,
        clients=clients,
        seconds=round(elapsed, 3),
        requests=requests,
        errors=errors,
        invokes_per_s=round(requests / elapsed, 1) if elapsed else 0.0,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        environments=environment_count(nodes),
        server_cpu_ms=per_invoke(server),
        environment_cpu_ms=per_invoke(environments),
        redis_cpu_ms=per_invoke(redis),
        wrk_cpu_ms=per_invoke(wrk_cpu),
        other_cores=round(others / elapsed, 2) if elapsed else 0.0,
        shares=shares(nodes, names, before),
    )
