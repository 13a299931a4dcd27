"""Dependency outage (issue 7, scenario a), end to end: the async queue store fails for
a few seconds under steady async load, then recovers.

A Roost process with fault injection takes a steady stream of async invokes from
a few senders that retry what is refused, and a sync probe. The queue store is
failed for ``OUTAGE_S``. Asserted:

- every refused send was refused with 503 ``ServiceUnavailableException`` (no
  202 for an event that was not persisted), and every event acknowledged with
  202 ran (no acknowledged event lost);
- after recovery the senders' error rate stays under ``MAX_ERROR_RATE``;
- the sync probe's p99 during the recovery stays under ``MAX_SYNC_P99_S`` (the
  sync plane shares no queue with the async one);
- the backlog the outage left (the senders' retries) drains in ``DRAIN_S``.

Measured only (printed, not asserted beyond a loose bound): how soon events
acknowledged after recovery ran, while the backlog was still draining — "fresh
events first" depends on backlog recovery (LIFO receive), built separately.
The bounds are behavioural with wide margins for a loaded 2-core machine, not
benchmarks; ``bench/run resilience`` measures the same scenario for longer.

Scenario (d), the control plane down, is ``test_static_stability.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, wait_for
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code, invoke
from tests.resilience.faults import FAULT_ENV, faults
from tests.resilience.outage_load import (
    AsyncSenders,
    MetricsSampler,
    SyncProbe,
    error_rate,
    percentile,
)

SENDERS = 3
RATE_PER_S = 8.0  # per sender
STEADY_S = 3.0
OUTAGE_S = 5.0
RECOVERY_S = 6.0
DRAIN_S = 45.0
MAX_ERROR_RATE = 0.05
MAX_SYNC_P99_S = 2.0
# Loose: fresh events (acknowledged after recovery) must not wait behind the whole
# backlog for ever; the real target (well under a second) needs LIFO receive.
MAX_FRESH_P50_S = 10.0

SYNC_HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


@pytest.fixture
def faulty_roost(tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env={**ASYNC_ENV, **FAULT_ENV})
    process.start()
    yield process
    process.stop()


def _first_runs(recorder: Recorder) -> dict[str, float]:
    runs: dict[str, float] = {}
    for report in list(recorder.reports):
        event_id = str(report["id"])
        runs[event_id] = min(runs.get(event_id, report["t"]), report["t"])
    return runs


def test_no_acknowledged_event_is_lost_through_a_queue_store_outage(
    faulty_roost: RoostProcess, recorder: Recorder
) -> None:
    client = faulty_roost.client()
    deploy_code(client, "worker", {"app.py": REPORTER})
    deploy_code(client, "probe", {"app.py": SYNC_HANDLER})
    invoke(client, "probe")  # Warm: the probe measures the sync path, not a cold start.
    senders = AsyncSenders(
        lambda: faulty_roost.client(read_timeout=10),
        "worker",
        {"port": recorder.port},
        senders=SENDERS,
        rate_per_s=RATE_PER_S,
    )
    probe = SyncProbe(faulty_roost.client(read_timeout=10), "probe")
    sampler = MetricsSampler(faulty_roost.endpoint)
    for part in (senders, probe, sampler):
        part.start()
    try:
        # Given a steady async load
        time.sleep(STEADY_S)
        # When the queue store fails for OUTAGE_S (and ends by itself)
        outage_start = time.time()
        faults(faulty_roost, {"target": "queue-store", "mode": "fail", "for_s": OUTAGE_S})
        time.sleep(OUTAGE_S)
        recovered = time.time()
        time.sleep(RECOVERY_S)
    finally:
        senders.stop()
        probe.stop()
    acked = senders.acked()
    expected = {e.event_id for e in acked}
    try:
        wait_for(lambda: expected <= recorder.ids(), DRAIN_S)
    finally:
        sampler.stop()
    _report(senders, probe, sampler, recorder, outage_start, recovered)

    # Then the outage was seen: sends were refused with 503, none acknowledged
    during = senders.log.between(outage_start + 0.5, recovered - 0.5)
    refused = [a for a in during if not a.ok]
    assert refused, "no send was refused during the outage"
    assert {a.code for a in refused} == {"ServiceUnavailableException"}
    assert not [a for a in during if a.ok]
    # And every acknowledged event ran (the wait above), each event at most once acked
    assert len(expected) == len(acked) == len(senders.events)
    # And after recovery the error rate and the sync p99 stay within their bounds
    after = senders.log.between(recovered + 1.0, float("inf"))
    assert error_rate(after) < MAX_ERROR_RATE
    probe_after = [a for a in probe.log.between(recovered, float("inf"))]
    assert all(a.ok for a in probe_after)
    assert percentile([a.latency_s for a in probe_after], 0.99) < MAX_SYNC_P99_S
    # And fresh events were not stuck behind the backlog for long (measured; loose)
    assert _fresh_p50_s(senders, recorder, recovered) < MAX_FRESH_P50_S


def _fresh_p50_s(senders: AsyncSenders, recorder: Recorder, recovered: float) -> float:
    """Median ack→run of events first tried after recovery (not retried ones)."""
    runs = _first_runs(recorder)
    fresh = [
        runs[e.event_id] - e.acked_s
        for e in senders.acked()
        if e.first_try_s is not None and e.first_try_s >= recovered and e.acked_s is not None
    ]
    return percentile(fresh, 0.5)


def _report(
    senders: AsyncSenders,
    probe: SyncProbe,
    sampler: MetricsSampler,
    recorder: Recorder,
    outage_start: float,
    recovered: float,
) -> None:
    """Print what the scenario measured (pytest shows it with -s or on failure)."""
    runs = _first_runs(recorder)
    latencies = [runs[e.event_id] - (e.acked_s or 0) for e in senders.acked() if e.event_id in runs]
    peak: Any = max((s.depth for s in sampler.samples), default=0)
    print(
        f"\noutage {recovered - outage_start:.1f} s; events {len(senders.events)}, "
        f"acked {len(senders.acked())}, ran {len(runs)}, duplicates "
        f"{len(recorder.reports) - len(runs)}; peak queue depth {peak:.0f}; "
        f"ack->run p50 {percentile(latencies, 0.5):.3f} s p99 {percentile(latencies, 0.99):.3f} s; "
        f"fresh ack->run p50 {_fresh_p50_s(senders, recorder, recovered):.3f} s; "
        f"sync p99 after recovery "
        f"{percentile([a.latency_s for a in probe.log.between(recovered, 1e12)], 0.99):.3f} s"
    )
