"""The cluster benchmark's tables: scaling per setup, cluster(1 node)/embedded, where the CPU
went, and the JSON form of a run."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cluster_load import LoadRun
from common import NOISY_CORES

EMBEDDED = "embedded"


def median_runs(runs: list[LoadRun]) -> tuple[list[LoadRun], dict[tuple[str, int, int], str]]:
    """One run per (setup, nodes, clients): the median by invokes/s of its rounds (the
    lower middle one of an even count), and the range of invokes/s over the rounds."""
    groups: dict[tuple[str, int, int], list[LoadRun]] = {}
    for run in runs:
        groups.setdefault((run.setup, run.nodes, run.clients), []).append(run)
    picked, ranges = [], {}
    for key, group in groups.items():
        group.sort(key=lambda run: run.invokes_per_s)
        picked.append(group[(len(group) - 1) // 2])
        low, high = group[0].invokes_per_s, group[-1].invokes_per_s
        ranges[key] = f"{low:,.0f}-{high:,.0f}" if len(group) > 1 else "-"
    return picked, ranges


def _one_node(runs: list[LoadRun], run: LoadRun) -> LoadRun | None:
    """The 1-worker run of the same setup and concurrency."""
    for other in runs:
        if (other.setup, other.nodes, other.clients) == (run.setup, 1, run.clients):
            return other
    return None


def _served(run: LoadRun) -> str:
    """Which node ran how many of the run's invokes, and the share that took a hop."""
    ran = sum(share.ran for share in run.shares) or 1
    parts = [f"{share.node} {100 * share.ran / ran:.0f}%" for share in run.shares if share.ran]
    sent = sum(share.sent for share in run.shares)
    received = sum(share.received for share in run.shares) or 1
    return f"{' / '.join(parts)}; hop {100 * sent / received:.0f}%"


def scaling_table(runs: list[LoadRun], ranges: dict[tuple[str, int, int], str]) -> list[str]:
    """Nodes, invokes/s, latency, speedup vs 1 node, per-node efficiency, who ran what."""
    lines = [
        "| Setup | Worker nodes | Clients | Invokes/s | Rounds' range | p50 | p99 "
        "| Speedup vs 1 node | Per-node efficiency | Ran the invokes (roost_cluster_invokes_total) "
        "| Other cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in sorted(runs, key=lambda r: (r.setup != EMBEDDED, r.setup, r.clients, r.nodes)):
        base = _one_node(runs, run)
        if run.setup == EMBEDDED or base is None or not base.invokes_per_s:
            speedup = efficiency = "-"
        else:
            ratio = run.invokes_per_s / base.invokes_per_s
            speedup, efficiency = f"{ratio:.2f}x", f"{ratio / run.nodes:.2f}"
        note = " (noisy)" if run.other_cores > NOISY_CORES else ""
        lines.append(
            f"| {run.setup} | {run.nodes} | {run.clients} | {run.invokes_per_s:,.0f} "
            f"| {ranges[(run.setup, run.nodes, run.clients)]} | {run.p50_ms:.1f} ms "
            f"| {run.p99_ms:.1f} ms | {speedup} | {efficiency} "
            f"| {_served(run)} | {run.other_cores:.2f}{note} |"
        )
    return lines


def embedded_ratio_table(runs: list[LoadRun]) -> list[str]:
    """cluster(1 node)/embedded per setup and concurrency: the shared store and the hop."""
    embedded = {run.clients: run for run in runs if run.setup == EMBEDDED}
    lines = [
        "| Setup | Clients | Embedded invokes/s | Cluster (1 node) invokes/s | Ratio "
        "| p50 embedded / cluster | p99 embedded / cluster |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for run in runs:
        base = embedded.get(run.clients)
        if run.setup == EMBEDDED or run.nodes != 1 or base is None or not base.invokes_per_s:
            continue
        lines.append(
            f"| {run.setup} | {run.clients} | {base.invokes_per_s:,.0f} | {run.invokes_per_s:,.0f} "
            f"| {run.invokes_per_s / base.invokes_per_s:.2f} "
            f"| {base.p50_ms:.1f} / {run.p50_ms:.1f} ms | {base.p99_ms:.1f} / {run.p99_ms:.1f} ms |"
        )
    return lines


def cpu_table(runs: list[LoadRun]) -> list[str]:
    """CPU milliseconds per invoke of each part, and the environments the run used."""
    lines = [
        "| Setup | Worker nodes | Clients | Roost servers | Environments | redis-server | wrk "
        "| Total | Environments (count) | Errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        total = run.server_cpu_ms + run.environment_cpu_ms + run.redis_cpu_ms + run.wrk_cpu_ms
        lines.append(
            f"| {run.setup} | {run.nodes} | {run.clients} | {run.server_cpu_ms:.2f} "
            f"| {run.environment_cpu_ms:.2f} | {run.redis_cpu_ms:.2f} | {run.wrk_cpu_ms:.2f} "
            f"| {total:.2f} | {run.environments} | {run.errors} |"
        )
    return lines


def print_report(every_round: list[LoadRun]) -> None:
    """Every table (each row the median round), with a line saying what each is."""
    runs, ranges = median_runs(every_round)
    print("\nSync invoke throughput by worker nodes (wrk spread over the frontends):\n")
    print("\n".join(scaling_table(runs, ranges)))
    print("\nThe shared store and the hop: cluster with 1 worker node against the embedded node:\n")
    print("\n".join(embedded_ratio_table(runs)))
    print("\nCPU milliseconds per invoke (where the time goes):\n")
    print("\n".join(cpu_table(runs)))
    if any(run.errors for run in runs):
        print("\nSome runs saw errors (see the Errors column): their figures are suspect.")


def as_json(runs: list[LoadRun]) -> list[dict[str, Any]]:
    """The runs as plain data."""
    return [asdict(run) for run in runs]
