"""The noisy tenant, end to end through boto3 (issue 7, scenario b).

Tenant A (reserved concurrency 1, a slow function) has 50,000 queued async
events in the shared queue, the issue's figure; tenant B then sends a few
events to the same queue. B's events must all run within a bound while most of
A's backlog is still queued.

How the 50,000 are queued: as an outage leaves them. The node is started to
deploy both functions, stopped, and A's events are written into the data
directory's queue store (``SqliteQueueStore.send_batch``, the bodies encoded by
``roost.async_invoke.event.encode``, exactly what the front end writes); then
the node starts again on that data. Sending 50,000 invokes through the API
would take minutes on a 2-core machine, and what is tested is what the node
does with a backlog, not how it was accepted.

With backlog shards on (the default), the pollers see A's backlog cross
``ROOST_ASYNC_BACKLOG_SHARD_DEPTH`` and open A's shard queue, into which they
move A's events as they receive them (each once); B's events are received
newest-first from the shared queue in backlog, and run at once. The test also
asserts that A's events stop being put back once the shard is open: with
``ROOST_ASYNC_BACKLOG_SHARD_DEPTH=0`` the pollers put about 4,500 of them back
every second, forever, in front of B's (that run fails the shard assertions).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roost.async_invoke.event import AsyncEvent, encode
from roost.store.sqlite.queues import QUEUE_DATABASE_NAME, SqliteQueueStore
from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess, metric
from tests.frontend.invoke.support import deploy_code

ACCOUNT = "000000000000"
BACKLOG = 50_000
SEED_BATCH = 1_000
QUIET_EVENTS = 5
# B's events must run within this after they are sent (they take well under 1 s
# when all goes well; the bound is generous for slow CI machines).
BOUND_S = 20.0
# After B ran: how long A's put-backs are watched, and how many are allowed then
# (its shard queue is received from at its bucket's pace: about 5 a second).
CHURN_WINDOW_S = 3.0
MAX_PUT_BACK = 500
SLOW = REPORTER.replace('    return "done"', '    time.sleep(0.2)\n    return "done"')
NOISY_ENV = {
    **ASYNC_ENV,
    # One shared queue, so A and B certainly share it; no express lane, so A is
    # not sidelined by its rate: its bucket and its backlog shard isolate it.
    "ROOST_ASYNC_QUEUES": "1",
    "ROOST_ASYNC_EXPRESS_RATE": "1000000",
    "ROOST_ASYNC_VISIBILITY_TIMEOUT_S": "10",
}


async def seed_backlog(data_dir: Path, port: int) -> None:
    """Write A's 50,000 events into the stopped node's shared queue, as an outage
    would have left them."""
    store = await SqliteQueueStore.open(data_dir / QUEUE_DATABASE_NAME)
    try:
        now_ms = int(time.time() * 1000)
        for start in range(0, BACKLOG, SEED_BATCH):
            bodies = [
                encode(
                    AsyncEvent(
                        str(uuid.uuid4()),
                        ACCOUNT,
                        "us-east-1",
                        "noisy",
                        None,
                        json.dumps({"id": f"a{index}", "port": port}).encode(),
                        now_ms,
                    )
                )
                for index in range(start, start + SEED_BATCH)
            ]
            await store.send_batch("async-000", bodies)
    finally:
        await store.close()


@pytest.fixture
def roost(tmp_path: Path) -> Iterator[RoostProcess]:
    process = RoostProcess(tmp_path / "data", env=NOISY_ENV)
    process.start()
    yield process
    process.stop()


def test_a_noisy_tenant_does_not_delay_another_tenants_events(
    roost: RoostProcess, recorder: Recorder
) -> None:
    client: Any = roost.client()
    # Given tenant A: reserved concurrency 1, 0.2 s per event, 50,000 events queued
    deploy_code(client, "noisy", {"app.py": SLOW})
    client.put_function_concurrency(FunctionName="noisy", ReservedConcurrentExecutions=1)
    deploy_code(client, "quiet", {"app.py": REPORTER})
    roost.stop()
    seeded = time.monotonic()
    asyncio.run(seed_backlog(roost.data_dir, recorder.port))
    print(f"seeded {BACKLOG} events in {time.monotonic() - seeded:.1f} s")
    roost.start()
    wait_for(lambda: len(recorder.ids()) >= 3)  # A's backlog is being drained

    # When tenant B sends a few events into the same queue
    sent_at = time.time()
    for index in range(QUIET_EVENTS):
        send_event(client, "quiet", {"id": f"b{index}", "port": recorder.port})

    # Then all of B's events run within the bound...
    quiet = {f"b{index}" for index in range(QUIET_EVENTS)}
    wait_for(lambda: quiet <= recorder.ids(), timeout_s=BOUND_S)
    latest = max(recorder.of(event_id)[0]["t"] for event_id in quiet)
    noisy_done = len(recorder.ids() - quiet)
    print(f"B done {latest - sent_at:.2f} s after sending; A ran {noisy_done} of {BACKLOG}")
    assert latest - sent_at < BOUND_S
    # ...while most of A's backlog is still queued (A runs one event at a time)
    assert noisy_done < BACKLOG / 10
    # And A's backlog got a shard queue of its own, into which its events move...
    shard = {"account": ACCOUNT, "function": "noisy", "qualifier": "$LATEST"}
    tenant = {"account": ACCOUNT, "function": "noisy"}
    assert metric(roost, "roost_async_backlog_shards_opened_total") >= 1
    moved = metric(roost, "roost_async_backlog_shard_events_moved_total", **shard)
    deferred = metric(roost, "roost_async_tenant_deferred_total", **tenant)
    time.sleep(CHURN_WINDOW_S)
    moved_later = metric(roost, "roost_async_backlog_shard_events_moved_total", **shard)
    deferred_later = metric(roost, "roost_async_tenant_deferred_total", **tenant)
    print(
        f"in {CHURN_WINDOW_S:.0f} s: {moved_later - moved:.0f} moved, "
        f"{deferred_later - deferred:.0f} put back ({deferred_later:.0f} in all)"
    )
    assert moved_later > moved > 0
    # ...once each, where without the shard its events are received and put back
    # over and over (about 4,500 a second on a 2-core machine, all in front of B's)
    assert deferred_later - deferred < MAX_PUT_BACK
    assert metric(roost, "roost_async_drain_rate") > 0
