"""Rounds of the async invoke benchmark (``--rounds N``): each round runs both systems
afresh; the report shows every round and the medians, since one run on a shared VM moves
by more than the changes it is meant to judge."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from async_invoke_isolation import SyncSpan
from async_invoke_report import EventRun


@dataclass
class Round:
    """One round: Roost's phase (its runs and isolation spans) and Celery's."""

    roost: dict[str, Any]
    celery: EventRun
    celery_probe: EventRun

    @property
    def roost_run(self) -> EventRun:
        return self.roost["run"]  # type: ignore[no-any-return]

    def ratio(self) -> float:
        """Roost's end-to-end throughput over Celery's."""
        celery = self.celery.throughput()
        return self.roost_run.throughput() / celery if celery else 0.0

    def isolation(self) -> float:
        """Flooded over idle sync p99."""
        idle: SyncSpan = self.roost["idle"]
        flooded: SyncSpan = self.roost["flooded"]
        return flooded.p(99) / idle.p(99) if idle.p(99) else 0.0

    def other_cores(self) -> float:
        """The most cores other processes kept busy during any of the round's parts."""
        loads = [self.roost_run.load, self.celery.load, self.roost["idle"].load]
        return max(load.other_cores for load in [*loads, self.roost["flooded"].load])

    def summary(self) -> dict[str, object]:
        return {
            "roost_per_s": round(self.roost_run.throughput(), 1),
            "celery_per_s": round(self.celery.throughput(), 1),
            "ratio_throughput": round(self.ratio(), 2),
            "roost_ack_p50_ms_1_sender": round(self.roost["probe"].ack_ms(50), 3),
            "celery_ack_p50_ms_1_sender": round(self.celery_probe.ack_ms(50), 3),
            "isolation_ratio": round(self.isolation(), 2),
            "other_cores_max": round(self.other_cores(), 2),
        }


def median_round(rounds: list[Round]) -> Round:
    """The round whose throughput ratio is the median (the lower one of an even count)."""
    ordered = sorted(rounds, key=Round.ratio)
    return ordered[(len(ordered) - 1) // 2]


def rounds_table(rounds: list[Round]) -> list[str]:
    """Every round, then the median of each column on its own (the tables above are the
    median round's)."""
    rows = [r.summary() for r in rounds]
    lines = [
        f"Rounds ({len(rounds)}; the detailed tables above are the round with the median ratio):",
        "",
        "| Round | Roost events/s | Celery events/s | Roost/Celery | 1-sender ack p50 Roost / "
        "Celery | Flooded/idle sync p99 | Other processes, cores (max) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for number, row in enumerate(rows, 1):
        lines.append(_row(str(number), row))
    medians = {key: statistics.median(float(row[key]) for row in rows) for key in rows[0]}  # type: ignore[arg-type]
    lines.append(_row("median", medians))
    return lines


def _row(label: str, row: dict[str, Any]) -> str:
    return (
        f"| {label} | {row['roost_per_s']:,.0f} | {row['celery_per_s']:,.0f} "
        f"| {row['ratio_throughput']:.2f}x | {row['roost_ack_p50_ms_1_sender']:.2f} / "
        f"{row['celery_ack_p50_ms_1_sender']:.2f} ms | {row['isolation_ratio']:.2f}x "
        f"| {row['other_cores_max']:.2f} |"
    )
