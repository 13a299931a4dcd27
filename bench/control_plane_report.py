"""The control-plane benchmark's results: the report of one run, Roost's and moto's rows
paired up, and the markdown tables and notes it prints."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from common import NOISY_CORES, package_versions
from control_plane_measure import PAGE_SIZE, Measurement


def versions(moto_version: str) -> dict[str, str]:
    return {
        "moto": moto_version,
        **package_versions(("roost", "boto3", "botocore", "httptools", "werkzeug")),
    }


def _ratio(roost: float, moto: float) -> str:
    return f"{roost / moto:.2f}x" if moto > 0 else "n/a"


def pairs(results: Sequence[Measurement]) -> Iterator[tuple[str, int, Measurement, Measurement]]:
    """(operation, threads, Roost's, moto's) in the order they were measured."""
    by_key = {(m.server, m.operation, m.threads): m for m in results}
    done: set[tuple[str, int]] = set()
    for m in results:
        key = (m.operation, m.threads)
        roost, moto = by_key.get(("Roost", *key)), by_key.get(("moto", *key))
        if key in done or roost is None or moto is None:
            continue
        done.add(key)
        yield m.operation, m.threads, roost, moto


def markdown_table(results: Sequence[Measurement]) -> str:
    """Roost and moto side by side, one row per operation and concurrency."""
    lines = [
        "| Operation | Threads | Roost calls/s | Roost p50 ms | Roost p99 ms "
        "| moto calls/s | moto p50 ms | moto p99 ms | Roost/moto calls/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for operation, threads, roost, moto in pairs(results):
        lines.append(
            f"| {operation} | {threads} | {roost.calls_per_s:,.1f} | {roost.p50_ms:.2f} "
            f"| {roost.p99_ms:.2f} | {moto.calls_per_s:,.1f} | {moto.p50_ms:.2f} "
            f"| {moto.p99_ms:.2f} | {_ratio(roost.calls_per_s, moto.calls_per_s)} |"
        )
    return "\n".join(lines)


def cpu_table(results: Sequence[Measurement]) -> str:
    """CPU milliseconds per call (server process, benchmark client) and the wire shape."""
    lines = [
        "| Operation | Threads | server CPU ms/call Roost / moto "
        "| client CPU ms/call Roost / moto | HTTP requests/call Roost / moto "
        "| functions/call Roost / moto | other processes, cores busy Roost / moto |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for operation, threads, r, m in pairs(results):
        lines.append(
            f"| {operation} | {threads} "
            f"| {r.server_cpu_ms_per_call:.2f} / {m.server_cpu_ms_per_call:.2f} "
            f"| {r.client_cpu_ms_per_call:.2f} / {m.client_cpu_ms_per_call:.2f} "
            f"| {r.http_requests_per_call:g} / {m.http_requests_per_call:g} "
            f"| {r.functions_per_call:g} / {m.functions_per_call:g} "
            f"| {r.other_processes_cores:.2f} / {m.other_processes_cores:.2f} |"
        )
    return "\n".join(lines)


@dataclass
class Report:
    date: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    settings: dict[str, Any]
    results: list[Measurement] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratios_roost_over_moto"] = [
            {
                "operation": operation,
                "threads": threads,
                "calls_per_s": round(r.calls_per_s / m.calls_per_s, 3) if m.calls_per_s else None,
            }
            for operation, threads, r, m in pairs(self.results)
        ]
        return data


def print_notes(results: Sequence[Measurement]) -> None:
    """Notes on rows whose figures do not compare like with like or are low."""
    oversized = {
        m.server
        for m in results
        if "first page" in m.operation and m.functions_per_call > PAGE_SIZE
    }
    for label in sorted(oversized):
        print(
            f"NOTE: {label} ignored MaxItems={PAGE_SIZE} (see functions/call): its first-page "
            "and full-walk rows do different work from the other server's."
        )
    noisy = [m for m in results if m.other_processes_cores > NOISY_CORES]
    if noisy:
        print(
            f"NOTE: other processes kept more than {NOISY_CORES} cores busy during "
            f"{len(noisy)} of {len(results)} measurements (last column above): "
            "those figures are low; run again on a quiet machine."
        )


def print_report(report: Report) -> list[Measurement]:
    """Print the tables, the method and the notes; the measurements that saw errors."""
    failed = [m for m in report.results if m.errors]
    print()
    print(markdown_table(report.results))
    print()
    print(
        "Where the time goes: CPU time per call of the server process (/proc) and of this "
        "client process (process_time), and what one call moved over the wire:"
    )
    print()
    print(cpu_table(report.results))
    print()
    print(
        "calls/s = calls completed / wall time; p50/p99 = per-call latency seen by boto3. "
        "'all' follows NextMarker with MaxItems=50 until the end and counts as one op. "
        "Ratio > 1 means Roost is faster. "
        f"Client and server share the same {report.machine['cpus']} cores."
    )
    print_notes(report.results)
    for m in failed:
        print(
            f"WARNING: {m.server} {m.operation} x{m.threads}: {m.errors} errors, "
            f"first: {m.first_error}",
            file=sys.stderr,
        )
    return failed
