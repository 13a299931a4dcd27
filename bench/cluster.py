"""Cluster scaling: sync invoke throughput on 1, 2 and 3 worker nodes sharing one Redis.

One command (see ``bench/README.md``)::

    bench/run cluster [--seconds 5] [--clients 6 24] [--nodes 1 2 3] [--setups all]
                      [--rounds 1] [--counting store] [--wait-quiet 0] [--json out.json]

It starts its own redis-server (``appendonly yes``, ``appendfsync always``, its directory on
a disk: ``--redis-dir``, refused on a tmpfs), measures the counting service on it
(``counting.run_all``: the same checks as ``bench/run counting``), then runs the embedded
single node (``roost up`` without ``--store``: SQLite, no hop) as the baseline, then for
each k in ``--nodes`` a fresh cluster of k nodes (its own Redis namespace, one shared master
key file), deploys the trivial handler of ``bench/run invoke``, and for each ``--clients``
value warms up (1 s runs until the environment count stops changing) and drives sync
invokes for ``--seconds`` with one wrk process whose threads are spread over the nodes'
endpoints (``cluster_load.py``). It prints invokes/s, p50/p99, the speedup against 1 node,
the per-node efficiency (speedup / k), which node ran what (``roost_invocations_total`` and
``roost_cluster_invokes_total`` of every node's ``/metrics``), the ratio cluster(1 node) /
embedded and the CPU per invoke of each part.

Setups (``--setups``):

* ``all`` (the default): k nodes with every role, wrk's connections split evenly over the k
  endpoints. This is the honest view of worker scaling on a 2-core machine: a node is one
  Python process (one GIL) whose frontend and worker halves both cost CPU per invoke, so
  adding a node adds both. The directory still sends an invoke to whichever node holds a
  warm idle environment, so some invokes take the internal hop; the table shows how many.
* ``split``: one frontend node (frontend, async, pollers) plus k worker-only nodes; wrk
  loads the frontend alone. Every invoke takes the hop, and the single frontend process is
  the ceiling whatever k is, so on 2 cores it measures the frontend, not the workers.
  Useful as a contrast, not as the scaling figure.

``--rounds N`` repeats the whole sequence and the tables show each figure's median round
(other sessions' load on a shared machine moves single runs by tens of percent).
``--counting volatile`` gives the nodes a second redis-server without persistence for the
counting service's counters (``--counting-store``), to separate the fsync'd counting
checks from the rest of the cluster's cost.

Everything shares the machine's 2 cores (wrk, redis-server, every node and every
environment), so k nodes cannot be k times faster: the efficiency column says how much of
the ideal is left once the cores are full. The "other cores" column is CPU used by
processes outside the benchmark during the run (above 0.2: the figures are low).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from cluster_load import Bench, Deployment, LoadRun, measure
from cluster_nodes import ClusterNode, check_on_disk, redis_pid, wait_for_workers
from cluster_report import EMBEDDED, as_json, print_report
from common import (
    NOISY_CORES,
    free_port,
    machine,
    make_zip,
    package_versions,
    raise_interrupt,
    running,
)
from counting import Row, redis_server, report, run_all
from invoke import wait_quiet
from invoke_targets import HANDLER_SOURCE, Roost
from invoke_wrk import check_reply, ensure_wrk, invoke_once

WARM_NAME = "warm"


@dataclass(frozen=True)
class Urls:
    """The Redis URLs the nodes get: the store, and the counters' own (None: the store)."""

    store: str
    counting: str | None


SPLIT_FRONTEND_ROLES = "frontend,async,pollers"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed run")
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[6, 24],
        help="wrk connections in all (a multiple of every k; default: 6 24)",
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--setups", nargs="+", choices=["all", "split"], default=["all"])
    parser.add_argument(
        "--redis-dir",
        type=Path,
        default=Path("/var/tmp"),
        help="where redis-server keeps its AOF (on a disk; default: %(default)s)",
    )
    parser.add_argument(
        "--counting",
        choices=["store", "volatile"],
        default="store",
        help="where the nodes count invokes: the store's Redis (appendfsync always, the "
        "default) or a second redis-server without persistence (--counting-store)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the whole sequence (embedded, then each k) this often; the tables "
        "show each figure's median round and the range of invokes/s",
    )
    parser.add_argument("--memory-budget-mb", type=int, default=65536)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"before each setup, wait up to this long for other processes to use "
        f"< {NOISY_CORES} cores",
    )
    parser.add_argument("--checks", type=int, default=20_000, help="counting checks per side")
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep-logs", action="store_true", help="keep the nodes' directories")
    args = parser.parse_args(argv)
    for clients in args.clients:
        if any(clients % k for k in args.nodes):
            parser.error(f"--clients {clients} is not a multiple of every --nodes value")
    return args


def deploy(frontend: Roost) -> None:
    """Create the function and wait until it is Active."""
    frontend.create(WARM_NAME, make_zip("handler.py", HANDLER_SOURCE))
    frontend.wait_active(WARM_NAME)


def check_frontends(frontends: list[Roost]) -> None:
    """One invoke through each endpoint wrk will load (also the first, cold one)."""
    for node in frontends:
        _, status, body = invoke_once(node.url(WARM_NAME))
        check_reply(node.label, status, body)


def cluster_nodes(
    args: argparse.Namespace, setup: str, k: int, urls: Urls, workdir: Path
) -> list[ClusterNode]:
    """The nodes of a cluster with ``k`` worker hosts (split: a frontend node first)."""
    namespace = f"bench-{workdir.name}-{setup}-{k}"
    plan: list[tuple[str, str | None]] = [(f"n{i + 1}", None) for i in range(k)]
    if setup == "split":
        plan = [("fe", SPLIT_FRONTEND_ROLES)] + [(f"w{i + 1}", "worker") for i in range(k)]
    nodes = []
    for node_id, roles in plan:
        home = workdir / namespace / node_id
        home.mkdir(parents=True)
        nodes.append(
            ClusterNode(
                home,
                free_port(),
                args.memory_budget_mb,
                store_url=urls.store,
                namespace=namespace,
                node_id=node_id,
                roles=roles,
                master_key=workdir / namespace / "master.key",
                counting_url=urls.counting,
            )
        )
    return nodes


def run_embedded(args: argparse.Namespace, bench: Bench, workdir: Path) -> list[LoadRun]:
    """The baseline: one ``roost up`` without ``--store``."""
    node = Roost(workdir / EMBEDDED, free_port(), args.memory_budget_mb)
    node.workdir.mkdir(parents=True)
    with running([node]):
        deploy(node)
        check_frontends([node])
        deployment = Deployment(EMBEDDED, 1, [node], [EMBEDDED], [node])
        return [measure(bench, deployment, clients) for clients in args.clients]


def run_cluster(
    args: argparse.Namespace, bench: Bench, setup: str, k: int, urls: Urls, workdir: Path
) -> list[LoadRun]:
    """A fresh cluster with ``k`` worker nodes, measured at every concurrency."""
    nodes = cluster_nodes(args, setup, k, urls, workdir)
    with running(nodes):
        frontends = [node for node in nodes if node.serves_invokes]
        wait_for_workers(nodes, k)
        deploy(frontends[0])
        check_frontends(frontends)
        deployment = Deployment(setup, k, list(nodes), [n.node_id for n in nodes], list(frontends))
        return [measure(bench, deployment, clients) for clients in args.clients]


def run_round(args: argparse.Namespace, bench: Bench, urls: Urls, workdir: Path) -> list[LoadRun]:
    """The embedded node, then each setup at each k, each after waiting for quiet."""
    print(f"{workdir.name}: embedded node ...", flush=True)
    wait_quiet(args.wait_quiet)
    runs = run_embedded(args, bench, workdir)
    for setup in args.setups:
        for k in args.nodes:
            print(f"{workdir.name}: {setup}, {k} worker node(s) ...", flush=True)
            wait_quiet(args.wait_quiet)
            runs += run_cluster(args, bench, setup, k, urls, workdir)
    return runs


def counting_rows(args: argparse.Namespace, url: str) -> list[Row]:
    """The counting service per check on this run's Redis (before any node uses it)."""
    options = SimpleNamespace(checks=args.checks, callers=args.callers)
    return uvloop.run(run_all(options, {"redis (appendfsync always)": url}))  # type: ignore[arg-type]


@contextlib.contextmanager
def work_directory(keep: bool) -> Iterator[Path]:
    """A temporary directory on a disk for the nodes' data, removed unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix="roost-bench-cluster-", dir="/var/tmp"))
    try:
        yield path
    finally:
        if keep:
            print(f"nodes' data and logs kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)
    wrk = ensure_wrk()
    filesystem = check_on_disk(args.redis_dir)
    runs: list[LoadRun] = []
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(work_directory(args.keep_logs))
        url = stack.enter_context(redis_server(True, args.redis_dir))
        print(f"redis-server at {url}, AOF on {filesystem} under {args.redis_dir}", flush=True)
        counting = None
        if args.counting == "volatile":
            counting = stack.enter_context(redis_server(False, args.redis_dir))
            print(f"counters on a redis-server without persistence at {counting}", flush=True)
        checks = counting_rows(args, url)
        redis = [redis_pid(server) for server in (url, counting) if server]
        bench = Bench(wrk, workdir, args.seconds, [pid for pid in redis if pid is not None])
        for round_number in range(1, args.rounds + 1):
            runs += run_round(args, bench, Urls(url, counting), workdir / f"round-{round_number}")
    print(f"\ncluster, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"versions: {package_versions(('roost', 'redis', 'uvloop', 'httpx'))}")
    print(f"counters: {args.counting} (store: the one Redis, appendfsync always)")
    print_report(runs)
    print("\nCounting service per check on the same redis-server (appendfsync always):\n")
    report(checks)
    if args.json:
        rows = [vars(row) for row in checks]
        payload = {"machine": machine(), "counting_store": args.counting}
        payload |= {"runs": as_json(runs), "counting": rows}
        args.json.write_text(json.dumps(payload, indent=2))
    return 1 if any(run.errors for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
