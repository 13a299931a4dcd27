"""The invoke benchmark's results: what one run measured, the summary rows against the
Execution issue's targets, and the markdown tables and notes it prints."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from common import NOISY_CORES
from invoke_cold import Burst, Latencies
from invoke_memory import Memory
from invoke_peer import PEER
from invoke_profile import profile_text
from invoke_wrk import WarmRun


@dataclass
class Report:
    date: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    settings: dict[str, Any]
    warm: list[WarmRun] = field(default_factory=list)
    cold: list[Latencies] = field(default_factory=list)
    create_to_response: Latencies | None = None
    bursts: list[Burst] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    profile: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["table"] = rows(self)
        return data


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _row(
    metric: str,
    roost: float | None,
    peer: float | None,
    target: str = "",
    met: bool | None = None,
    digits: int = 2,
) -> dict[str, Any]:
    ratio = roost / peer if roost is not None and peer else None
    return {
        "metric": metric,
        "roost": roost,
        "peer": peer,
        "ratio": ratio,
        "target": target,
        "met": met,
        "digits": digits,
    }


def _warm_rows(report: Report) -> list[dict[str, Any]]:
    """invokes/s for each concurrency, then p50 and p99 for each."""
    out: list[dict[str, Any]] = []
    warm = {(w.server, w.clients): w for w in report.warm}
    clients = sorted({w.clients for w in report.warm})
    pairs: list[tuple[int, WarmRun, WarmRun]] = []
    for c in clients:
        r, p = warm.get(("Roost", c)), warm.get((PEER, c))
        if r is not None and p is not None:
            pairs.append((c, r, p))
    for c, r, p in pairs:
        ratio = r.invokes_per_s / p.invokes_per_s if p.invokes_per_s else 0.0
        target, met = ("≥ 3x peer", ratio >= 3) if c in (8, 32) else ("", None)
        name = f"Warm invokes/s, {c} client{'s' if c > 1 else ''}"
        out.append(_row(name, r.invokes_per_s, p.invokes_per_s, target, met, 0))
    for c, r, p in pairs:
        target, met = ("< 0.5 ms", r.p50_ms < 0.5) if c == 1 else ("", None)
        suffix = f"{c} client{'s' if c > 1 else ''}"
        out.append(_row(f"Warm p50 ms, {suffix}", r.p50_ms, p.p50_ms, target, met))
        out.append(_row(f"Warm p99 ms, {suffix}", r.p99_ms, p.p99_ms))
    return out


def _fresh_rows(report: Report) -> list[dict[str, Any]]:
    """Cold starts, CreateFunction to response, environments/s and memory."""
    out: list[dict[str, Any]] = []
    cold = {c.server: c for c in report.cold}
    if "Roost" in cold and PEER in cold:
        roost_cold, peer_cold = cold["Roost"], cold[PEER]
        out.append(
            _row(
                "Cold start p50 ms (first invoke of a fresh function)",
                roost_cold.p50_ms,
                peer_cold.p50_ms,
                "< 10 ms (pre-warmed pool)",
                roost_cold.p50_ms < 10,
            )
        )
        out.append(_row("Cold start p99 ms", roost_cold.p99_ms, peer_cold.p99_ms))
    if report.create_to_response is not None:
        total = report.create_to_response
        out.append(
            _row("Roost CreateFunction → Active → first response, p50 ms", total.p50_ms, None)
        )
    bursts = {b.server: b for b in report.bursts}
    if "Roost" in bursts and PEER in bursts:
        roost_burst, peer_burst = bursts["Roost"], bursts[PEER]
        out.append(
            _row(
                f"Environments created/s ({roost_burst.functions} fresh functions at once)",
                roost_burst.environments_per_s,
                peer_burst.environments_per_s,
                digits=1,
            )
        )
    mem = {m.server: m for m in report.memory}
    if "Roost" in mem and PEER in mem:
        roost_mem, peer_mem = mem["Roost"], mem[PEER]
        out.append(
            _row(
                "USS MiB per idle warm environment (median)",
                roost_mem.uss_median_mib,
                peer_mem.uss_median_mib,
                "< 3 MB (2.86 MiB)",
                roost_mem.uss_median_mib * 1.048576 < 3,
            )
        )
    return out


def rows(report: Report) -> list[dict[str, Any]]:
    """The summary rows: metric, Roost, peer, ratio, target, met."""
    return [*_warm_rows(report), *_fresh_rows(report)]


def summary_table(report: Report) -> str:
    lines = [
        f"| Metric | Roost | {PEER} | Roost/peer | Target | Met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows(report):
        met = {True: "met", False: "**not met**", None: ""}[row["met"]]
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "n/a"
        lines.append(
            f"| {row['metric']} | {_fmt(row['roost'], row['digits'])} "
            f"| {_fmt(row['peer'], row['digits'])} | {ratio} | {row['target']} | {met} |"
        )
    return "\n".join(lines)


def cpu_table(report: Report) -> str:
    lines = [
        "| Server | Clients | invokes/s | p50 / p90 / p99 ms | server CPU ms/invoke "
        "| environments CPU ms/invoke | wrk CPU ms/invoke | other processes, cores "
        "| environments | errors |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w in report.warm:
        lines.append(
            f"| {w.server} | {w.clients} | {w.invokes_per_s:,.0f} "
            f"| {w.p50_ms:.2f} / {w.p90_ms:.2f} / {w.p99_ms:.2f} "
            f"| {w.server_cpu_ms_per_invoke:.3f} | {w.environment_cpu_ms_per_invoke:.3f} "
            f"| {w.wrk_cpu_ms_per_invoke:.3f} | {w.other_processes_cores:.2f} "
            f"| {w.environments} | {w.errors} |"
        )
    return "\n".join(lines)


def detail_table(report: Report) -> str:
    lines = [
        "| Server | cold starts (n) p50 / p99 / max ms | burst: functions, wall s, p50 / max ms "
        "| environments measured, processes each | USS MiB median / mean / min / max "
        "| python process alone, median MiB | server process USS MiB "
        "| zygotes, their USS MiB (once, not per environment) |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    cold = {c.server: c for c in report.cold}
    bursts = {b.server: b for b in report.bursts}
    for m in report.memory:
        c, b = cold.get(m.server), bursts.get(m.server)
        cold_text = (
            f"({len(c.samples_ms)}) {c.p50_ms:.1f} / {c.p99_ms:.1f} / {max(c.samples_ms):.1f}"
            if c
            else "n/a"
        )
        burst_text = (
            f"{b.functions}, {b.wall_s:.2f}, {b.p50_ms:.0f} / {b.max_ms:.0f}" if b else "n/a"
        )
        lines.append(
            f"| {m.server} | {cold_text} | {burst_text} "
            f"| {m.environments}, {m.processes_per_environment:g} "
            f"| {m.uss_median_mib:.2f} / {m.uss_mean_mib:.2f} / {m.uss_min_mib:.2f} / "
            f"{m.uss_max_mib:.2f} | {m.python_only_median_mib:.2f} | {m.server_uss_mib:.1f} "
            f"| {m.zygotes}, {m.zygote_uss_mib:.2f} |"
        )
    return "\n".join(lines)


def print_report(report: Report, cold: int) -> list[WarmRun]:
    """Print the tables, the method and the notes; the warm runs that saw errors."""
    print()
    print(summary_table(report))
    print()
    print("Warm runs: where the CPU went (per invoke, from /proc and wrk's rusage):")
    print()
    print(cpu_table(report))
    print()
    print(detail_table(report))
    if report.profile:
        print()
        print(profile_text(report.profile))
    print()
    print(
        "Warm: wrk -t1 replaying one SigV4-signed Invoke (p50/p99 from wrk's histogram); "
        "cold: first invoke of a never-invoked function, signing and connecting untimed "
        "(Roost: after CreateFunction reached Active; peer: a function defined in "
        "serverless.yml whose Python process is spawned by that invoke); p99 of "
        f"{cold} samples is their maximum. USS = Private_Clean + Private_Dirty of "
        "every process of an environment. Roost/peer > 1 is better for invokes/s and "
        "environments/s, < 1 for latency and memory."
    )
    noisy = [w for w in report.warm if w.other_processes_cores > NOISY_CORES]
    if noisy:
        print(
            f"NOTE: other processes kept more than {NOISY_CORES} cores busy during "
            f"{len(noisy)} of {len(report.warm)} warm runs (column 'other processes'): those "
            "figures are low; run again on a quiet machine."
        )
    failed = [w for w in report.warm if w.errors]
    for w in failed:
        print(
            f"WARNING: {w.server} x{w.clients}: {w.errors} errors {w.error_detail}", file=sys.stderr
        )
    return failed
