"""What the event source mapping pollers did, per mapping, for ``/metrics``.

Counters live in memory, owned by the node (like ``AsyncMetrics``): batches by
how their invoke went, records by what became of them (invoked, dropped by the
filters), and, read when scraped, each running mapping's batches in flight and
the autoscaler's target.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from roost.esm.orchestrator import BatchVerdict


@dataclass(frozen=True)
class MappingKey:
    """A mapping as ``/metrics`` labels it."""

    uuid: str
    function_arn: str


@dataclass
class MappingFigures:
    """Counters of one mapping since the node started."""

    batches: Counter[BatchVerdict] = field(default_factory=Counter)
    records_invoked: int = 0
    records_failed: int = 0
    records_filtered: int = 0
    records_given_up: int = 0  # stream records sent to OnFailure (or dropped without one)


@dataclass(frozen=True)
class ShardFigures:
    """A stream shard's gauges: its iterator age and, if the source says, its lag.

    ``iterator_age_s``: now minus the arrival of the newest record invoked (0
    once everything read is processed and the reader is at the shard's tip).
    ``millis_behind_latest``: the last read's distance from the tip (Kinesis);
    ``records_behind``: records left after the last read (a Kafka partition's lag).
    """

    shard_id: str
    iterator_age_s: float
    millis_behind_latest: int | None = None
    records_behind: int | None = None


@dataclass(frozen=True)
class RunningFigures:
    """A running mapping's gauges, read when scraped (``shards``: stream mappings)."""

    in_flight: int
    target_batches: int
    shards: tuple[ShardFigures, ...] = ()


class EsmMetrics:
    """Per-mapping counters of every poller of the node."""

    def __init__(self) -> None:
        self._mappings: dict[MappingKey, MappingFigures] = {}

    def _of(self, key: MappingKey) -> MappingFigures:
        figures = self._mappings.get(key)
        if figures is None:
            figures = self._mappings[key] = MappingFigures()
        return figures

    def invoked(self, key: MappingKey, records: int, verdict: BatchVerdict, failed: int) -> None:
        """A batch of ``records`` was invoked; ``failed`` of them must be tried again."""
        figures = self._of(key)
        figures.batches[verdict] += 1
        figures.records_invoked += records
        figures.records_failed += failed

    def filtered(self, key: MappingKey, records: int) -> None:
        """``records`` matched no filter: committed without an invoke."""
        if records:
            self._of(key).records_filtered += records

    def given_up(self, key: MappingKey, records: int) -> None:
        """A stream lane gave ``records`` up (retries or record age exhausted)."""
        self._of(key).records_given_up += records

    def mappings(self) -> dict[MappingKey, MappingFigures]:
        """A copy of every mapping's counters."""
        return dict(self._mappings)
