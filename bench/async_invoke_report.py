"""The results of the async invoke benchmark: one system's run of N events, the summary table
against the issue's targets, and the isolation table."""

from __future__ import annotations

from dataclasses import dataclass

from async_invoke_http import Sent
from async_invoke_isolation import SyncSpan
from async_invoke_load import Load
from common import NOISY_CORES, percentile

THROUGHPUT_TARGET_X = 5.0
ACK_P50_TARGET_MS = 1.0
ISOLATION_TARGET_X = 2.0


@dataclass
class EventRun:
    """N events sent to one system and what the recorder saw of them."""

    system: str
    ids: list[str]
    sent: Sent
    done_s: dict[str, float]
    duplicates: int
    load: Load
    senders: int = 0

    @property
    def acked(self) -> int:
        return sum(1 for status in self.sent.status if 200 <= status < 300)

    @property
    def done(self) -> int:
        return sum(1 for event_id in self.ids if event_id in self.done_s)

    def throughput(self) -> float:
        """Events per second from the first ack to the last handler done."""
        if not self.done_s:
            return 0.0
        span = max(self.done_s.values()) - min(self.sent.ack_wall_s)
        return self.done / span if span > 0 else 0.0

    def enqueue_rate(self) -> float:
        """Acks per second from the first send to the last ack."""
        span = max(self.sent.ack_wall_s) - min(self.sent.start_s)
        return self.acked / span if span > 0 else 0.0

    def ack_ms(self, q: float) -> float:
        return percentile(sorted(s * 1000 for s in self.sent.ack_s), q)

    def end_to_end_ms(self, q: float) -> float:
        """Send started -> handler ran, of every event that ran."""
        values = [
            (self.done_s[event_id] - start) * 1000
            for event_id, start in zip(self.ids, self.sent.start_s, strict=True)
            if event_id in self.done_s
        ]
        return percentile(sorted(values), q)

    def summary(self) -> dict[str, object]:
        return {
            "system": self.system,
            "events": len(self.ids),
            "acked": self.acked,
            "done": self.done,
            "duplicates": self.duplicates,
            "throughput_per_s": round(self.throughput(), 1),
            "enqueue_per_s": round(self.enqueue_rate(), 1),
            "ack_p50_ms": round(self.ack_ms(50), 3),
            "ack_p99_ms": round(self.ack_ms(99), 3),
            "end_to_end_p50_ms": round(self.end_to_end_ms(50), 1),
            "end_to_end_p99_ms": round(self.end_to_end_ms(99), 1),
            "wall_s": round(self.load.wall_s, 2),
            "own_cores": round(self.load.own_cores, 2),
            "other_cores": round(self.load.other_cores, 2),
        }


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def summary_table(
    roost: EventRun, celery: EventRun, roost_probe: EventRun, celery_probe: EventRun
) -> list[str]:
    """The issue's figures side by side, with the ratio and the targets. The ack target is
    judged on the 1-sender probe: with many senders the ack waits behind the others (Little's
    law: senders / acks per second), which measures the load, not the durable write."""
    ratio = roost.throughput() / celery.throughput() if celery.throughput() else 0.0
    rp50 = roost_probe.ack_ms(50)
    lines = [
        "| Metric | Roost | Celery | Roost/Celery | Target | Met |",
        "|---|---:|---:|---:|---|---|",
        _row("End-to-end events/s (first ack -> last handler done)",
             roost.throughput(), celery.throughput(),
             f">= {THROUGHPUT_TARGET_X:g}x Celery", _met(ratio >= THROUGHPUT_TARGET_X)),
        _row("Enqueue acks/s (first send -> last ack)",
             roost.enqueue_rate(), celery.enqueue_rate()),
        _row("Ack p50 ms, 1 sender (durable)", rp50, celery_probe.ack_ms(50),
             f"< {ACK_P50_TARGET_MS:g} ms", _met(rp50 < ACK_P50_TARGET_MS)),
        _row("Ack p99 ms, 1 sender", roost_probe.ack_ms(99), celery_probe.ack_ms(99)),
        _row("Ack p50 ms, all senders", roost.ack_ms(50), celery.ack_ms(50)),
        _row("Ack p99 ms, all senders", roost.ack_ms(99), celery.ack_ms(99)),
        _row("End-to-end p50 ms (send -> handler ran)",
             roost.end_to_end_ms(50), celery.end_to_end_ms(50)),
        _row("End-to-end p99 ms", roost.end_to_end_ms(99), celery.end_to_end_ms(99)),
    ]  # fmt: skip
    return lines


def _row(name: str, roost: float, celery: float, target: str = "", met: str = "") -> str:
    return f"| {name} | {roost:,.2f} | {celery:,.2f} | {_x(roost, celery)} | {target} | {met} |"


def _x(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def detail_table(runs: list[EventRun]) -> list[str]:
    """Counts, wall time and load of each run (the probes' rows: 1 sender)."""
    lines = [
        "| System | senders | events | acked | ran | ran twice | wall s | cores ours "
        "| other processes, cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.system} | {run.senders} | {len(run.ids):,} | {run.acked:,} | {run.done:,} | "
            f"{run.duplicates} | {run.load.wall_s:.2f} | {run.load.own_cores:.2f} | "
            f"{run.load.other_cores:.2f} |"
        )
    return lines


def isolation_table(idle: SyncSpan, flooded: SyncSpan) -> list[str]:
    ratio = flooded.p(99) / idle.p(99) if idle.p(99) else 0.0
    lines = [
        "| Sync invokes of account A | invokes | p50 ms | p99 ms | errors | flood acks/s "
        "| cores ours | other processes, cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for span, flood_rate in ((idle, 0.0), (flooded, flooded.flood_acks_per_s())):
        lines.append(
            f"| {span.label} | {len(span.latencies_ms):,} | {span.p(50):.2f} | {span.p(99):.2f} "
            f"| {span.errors} | {flood_rate:,.0f} | {span.load.own_cores:.2f} "
            f"| {span.load.other_cores:.2f} |"
        )
    lines.append("")
    lines.append(
        f"Flooded p99 / idle p99: **{ratio:.2f}x** (target <= {ISOLATION_TARGET_X:g}x: "
        f"{_met(ratio <= ISOLATION_TARGET_X)})."
    )
    return lines


def noise_notes(loads: list[tuple[str, Load]]) -> list[str]:
    return [
        f"Note: other processes kept {load.other_cores:.2f} cores busy during {label}; "
        "its figures are low."
        for label, load in loads
        if load.other_cores > NOISY_CORES
    ]
