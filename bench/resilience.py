"""Outage and recovery (issue 7, scenario a, for longer): backlog and latency over time.

    bench/run resilience [--steady 20] [--outage 15] [--recovery 40] [--senders 4]
                         [--rate 10] [--png docs/resilience-outage.png] [--csv PATH]

Starts ``python -m roost up`` with ``ROOST_FAULT_INJECTION=1``, deploys a function
that reports each run to a recorder and a sync probe function, then runs a steady
async load (``--senders`` threads at ``--rate`` events/s each, retrying what is
refused, as an SDK caller does) and a sync probe (10 invokes/s). After
``--steady`` seconds the queue store fails for ``--outage`` seconds
(``POST /_roost/faults``), then the run goes on for ``--recovery`` seconds and
waits for every acknowledged event to run.

Sampled over time, per second: events waiting at the senders (refused, to be
retried) and in Roost's queues (``/metrics``: depth, oldest age), the async
event latency (acknowledged→run, and first try→run), the sync probe's p99 and
the errors seen. Writes a CSV and a PNG (matplotlib, installed here with pip
if missing) and prints a summary table. Reuses the load threads of
``tests/resilience/outage_load.py`` (the same scenario as the test).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # The repository: tests.* holds the shared load.

from common import machine  # noqa: E402
from tests.async_invoke.support import REPORTER, Recorder  # noqa: E402
from tests.fixtures.roost_process import RoostProcess  # noqa: E402
from tests.frontend.invoke.support import deploy_code, invoke  # noqa: E402
from tests.resilience.faults import FAULT_ENV, faults  # noqa: E402
from tests.resilience.outage_load import (  # noqa: E402
    AsyncSenders,
    MetricsSampler,
    SyncProbe,
    percentile,
)

PLOT_REQUIREMENT = "matplotlib>=3.7"
# How long acknowledged events may take to run once the load has stopped.
DRAIN_WAIT_S = 120.0
SYNC_HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
# Pollers' in-flight events come back this soon if their delete failed in the outage.
ROOST_ENV = {**FAULT_ENV, "ROOST_ASYNC_VISIBILITY_TIMEOUT_S": "5"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steady", type=float, default=20.0, help="seconds before the outage")
    parser.add_argument("--outage", type=float, default=15.0, help="seconds of queue store outage")
    parser.add_argument("--recovery", type=float, default=40.0, help="seconds of load after it")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rate", type=float, default=10.0, help="events/s per sender")
    parser.add_argument("--png", type=Path, default=HERE.parent / "docs/resilience-outage.png")
    parser.add_argument("--csv", type=Path, default=None, help="default: next to the PNG")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra Roost setting"
    )
    return parser.parse_args(argv)


def ensure_matplotlib() -> None:
    """Install matplotlib into this environment if it is missing (the plot's only need)."""
    if importlib.util.find_spec("matplotlib") is None:
        print(f"installing: pip install '{PLOT_REQUIREMENT}'", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", PLOT_REQUIREMENT], check=True
        )
        importlib.invalidate_caches()


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The scenario against a fresh Roost; every raw observation, on Unix seconds."""
    extra = dict(item.split("=", 1) for item in args.env)
    roost = RoostProcess(workdir / "data", env={**ROOST_ENV, **extra})
    recorder = Recorder()
    roost.start()
    try:
        client = roost.client()
        deploy_code(client, "worker", {"app.py": REPORTER})
        deploy_code(client, "probe", {"app.py": SYNC_HANDLER})
        invoke(client, "probe")
        senders = AsyncSenders(
            lambda: roost.client(read_timeout=10),
            "worker",
            {"port": recorder.port},
            senders=args.senders,
            rate_per_s=args.rate,
        )
        probe = SyncProbe(roost.client(read_timeout=10), "probe")
        sampler = MetricsSampler(roost.endpoint)
        start = time.time()
        for part in (senders, probe, sampler):
            part.start()
        time.sleep(args.steady)
        outage = time.time()
        faults(roost, {"target": "queue-store", "mode": "fail", "for_s": args.outage})
        time.sleep(args.outage)
        recovered = time.time()
        time.sleep(args.recovery)
        senders.stop()
        expected = {e.event_id for e in senders.acked()}
        deadline = time.time() + DRAIN_WAIT_S
        while not expected <= recorder.ids() and time.time() < deadline:
            time.sleep(0.2)
        probe.stop()
        sampler.stop()
        runs: dict[str, float] = {}
        for report in list(recorder.reports):
            runs[str(report["id"])] = min(runs.get(str(report["id"]), 1e12), report["t"])
        return {
            "start": start,
            "outage": outage,
            "recovered": recovered,
            "senders": senders,
            "probe": probe,
            "samples": sampler.samples,
            "runs": runs,
            "duplicates": len(recorder.reports) - len(runs),
            "lost": len(expected - set(runs)),
        }
    finally:
        roost.stop()
        recorder.close()


def timeline(result: dict[str, Any]) -> list[dict[str, float]]:
    """One row per second since the start: what the plot and the CSV show."""
    start, senders, runs = result["start"], result["senders"], result["runs"]
    end = max([*runs.values(), time.time() - 1]) if runs else start
    rows = []
    for second in range(int(end - start) + 1):
        lo, hi = start + second, start + second + 1
        ran = [e for e in senders.acked() if lo <= runs.get(e.event_id, -1) < hi]
        waiting = sum(
            1 for e in senders.events if e.due_s < hi and (e.acked_s is None or e.acked_s >= hi)
        )
        samples = [s for s in result["samples"] if lo <= s.at_s < hi]
        sends = senders.log.between(lo, hi)
        syncs = result["probe"].log.between(lo, hi)
        rows.append(
            {
                "t_s": second,
                "sender_backlog": waiting,
                "queue_depth": max((s.depth for s in samples), default=0.0),
                "queue_oldest_age_s": max((s.oldest_age_s for s in samples), default=0.0),
                "queue_store_up": min((1.0 if s.store_up else 0.0 for s in samples), default=1.0),
                "ran": len(ran),
                "ack_to_run_p50_s": percentile([runs[e.event_id] - e.acked_s for e in ran], 0.5),
                "first_try_to_run_max_s": max(
                    (runs[e.event_id] - e.first_try_s for e in ran), default=0.0
                ),
                "sync_p99_s": percentile([a.latency_s for a in syncs], 0.99),
                "send_errors": sum(1 for a in sends if not a.ok),
                "sync_errors": sum(1 for a in syncs if not a.ok),
            }
        )
    return rows


def write_csv(rows: list[dict[str, float]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(rows: list[dict[str, float]], result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] for r in rows]
    fig, (top, mid, low) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    outage = (result["outage"] - result["start"], result["recovered"] - result["start"])
    for axis in (top, mid, low):
        axis.axvspan(*outage, color="tab:red", alpha=0.12, label="queue store down")
        axis.grid(alpha=0.3)
    top.plot(t, [r["sender_backlog"] for r in rows], label="waiting at senders (refused)")
    top.plot(t, [r["queue_depth"] for r in rows], label="in Roost's async queues")
    top.plot(t, [r["ran"] for r in rows], label="events run per second", alpha=0.7)
    top.set_ylabel("events")
    top.legend(loc="upper right")
    mid.plot(t, [r["first_try_to_run_max_s"] for r in rows], label="first try → run, max")
    mid.plot(t, [r["ack_to_run_p50_s"] for r in rows], label="acknowledged → run, p50")
    mid.plot(t, [r["queue_oldest_age_s"] for r in rows], label="oldest queued event age")
    mid.set_ylabel("seconds")
    mid.legend(loc="upper right")
    low.plot(t, [r["sync_p99_s"] * 1000 for r in rows], label="sync invoke p99 (ms)")
    low.bar(t, [r["send_errors"] for r in rows], color="tab:red", alpha=0.5, label="send errors")
    low.set_ylabel("ms / errors per s")
    low.set_xlabel("seconds since the load started")
    low.legend(loc="upper right")
    fig.suptitle("Roost: async queue store outage under steady load, and recovery")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def summary(rows: list[dict[str, float]], result: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's rows: phase figures from the raw observations."""
    senders, probe, runs = result["senders"], result["probe"], result["runs"]
    outage, recovered = result["outage"], result["recovered"]
    acked = senders.acked()
    backlog_gone = next(
        (
            r["t_s"]
            for r in rows
            if r["t_s"] > recovered - result["start"] and r["sender_backlog"] == 0
        ),
        None,
    )
    fresh = [
        runs[e.event_id] - e.acked_s
        for e in acked
        if e.event_id in runs and e.first_try_s >= recovered
    ]

    def sync_p99(lo: float, hi: float) -> str:
        return f"{percentile([a.latency_s for a in probe.log.between(lo, hi)], 0.99) * 1000:.1f} ms"

    after = senders.log.between(recovered + 1, 1e12)
    return [
        (
            "events sent / acknowledged (202) / run",
            f"{len(senders.events)} / {len(acked)} / {len(runs)}",
        ),
        (
            f"acknowledged events not run {DRAIN_WAIT_S:.0f} s after the load stopped",
            str(result["lost"]),
        ),
        ("duplicate runs (at-least-once)", str(result["duplicates"])),
        (
            "sends refused during the outage (503)",
            str(sum(1 for a in senders.log.between(outage, recovered) if not a.ok)),
        ),
        (
            "send error rate after recovery",
            f"{sum(1 for a in after if not a.ok) / max(1, len(after)):.2%}",
        ),
        ("peak backlog at the senders", str(max(r["sender_backlog"] for r in rows))),
        ("peak async queue depth", f"{max(r['queue_depth'] for r in rows):.0f}"),
        (
            "senders' backlog gone after recovery",
            "-"
            if backlog_gone is None
            else f"{backlog_gone - (recovered - result['start']):.0f} s",
        ),
        (
            "sync p99 before / during / after the outage",
            " / ".join(
                (
                    sync_p99(result["start"], outage),
                    sync_p99(outage, recovered),
                    sync_p99(recovered, 1e12),
                )
            ),
        ),
        (
            "fresh events (first tried after recovery) ack→run p50 / p99",
            f"{percentile(fresh, 0.5) * 1000:.1f} ms / {percentile(fresh, 0.99) * 1000:.1f} ms",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_matplotlib()
    with tempfile.TemporaryDirectory(prefix="roost-resilience-") as workdir:
        result = run(args, Path(workdir))
    rows = timeline(result)
    csv_path = args.csv or args.png.with_suffix(".csv")
    write_csv(rows, csv_path)
    plot(rows, result, args.png)
    info = machine()
    print(
        f"\n{dt.date.today()} · {info['cpu_model'] or '?'} · {info['cpus']} cores · "
        f"{info['memory_gib']} GiB · {info['os']} · Python {info['python']}"
    )
    print(
        f"steady {args.steady:g} s, queue store down {args.outage:g} s, "
        f"recovery {args.recovery:g} s; {args.senders} senders x {args.rate:g} events/s; "
        "sync probe 10/s\n"
    )
    print("| Figure | Value |\n|---|---|")
    for name, value in summary(rows, result):
        print(f"| {name} | {value} |")
    print(f"\nwrote {args.png} and {csv_path}")
    return 1 if result["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
