"""Pollers with tenant buckets and the drain governor, over the in-memory queue store:
a noisy tenant's events are put back while another tenant's run, none is lost, and
being put back costs an event neither a retry nor a longer backoff."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from roost.api.errors import TooManyRequestsException
from roost.async_invoke.assignment import StaticAssignment
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import Decision, FailureKind, RetryLimits, RetryPolicy
from roost.flow.drain_governor import DrainGovernor, DrainSettings
from roost.flow.tenant_buckets import TenantBuckets, TenantConcurrency, TenantSizing
from roost.store.memory import MemoryQueueStore
from tests.async_invoke.test_poller import OK, FixedLimits, RecordingSink

QUEUE = "async-000"
ACCOUNT = "000000000000"


@dataclass
class Reservations:
    """``ConcurrencySource``: reserved concurrency per function (None: unreserved)."""

    reserved: dict[str, int | None]

    async def concurrency(self, account_id: str, function_name: str) -> TenantConcurrency | None:
        return TenantConcurrency(self.reserved.get(function_name), 1000)


@dataclass
class SlowInvoker:
    """Every invoke takes ``seconds``; records (function, request id) in start order."""

    seconds: float
    started: list[tuple[str, str]] = field(default_factory=list)

    async def invoke(self, event: AsyncEvent) -> InvokeResult:
        self.started.append((event.function_name, event.request_id))
        await asyncio.sleep(self.seconds)
        return OK


@dataclass(frozen=True)
class RecordingPolicy(RetryPolicy):
    """The retry policy, recording the throttles-in-a-row it is told."""

    told: list[int] = field(default_factory=list)

    def decide(
        self,
        event: AsyncEvent,
        kind: FailureKind,
        limits: RetryLimits,
        now_ms: int,
        failures_in_row: int = 1,
    ) -> Decision:
        self.told.append(failures_in_row)
        return super().decide(event, kind, limits, now_ms, failures_in_row)


def an_event(function: str, index: int) -> AsyncEvent:
    now_ms = int(time.time() * 1000)
    return AsyncEvent(f"{function}-{index}", ACCOUNT, "us-east-1", function, None, b"{}", now_ms)


def a_stale_event(function: str, index: int) -> AsyncEvent:
    """``stale-{index}``, accepted 2 minutes ago."""
    accepted_ms = int(time.time() * 1000) - 120_000
    return AsyncEvent(f"stale-{index}", ACCOUNT, "us-east-1", function, None, b"{}", accepted_ms)


def poller_for(
    store: MemoryQueueStore,
    invoker: SlowInvoker,
    sink: RecordingSink,
    buckets: TenantBuckets,
    policy: RetryPolicy | None = None,
    limits: RetryLimits | None = None,
    drain: DrainGovernor | None = None,
) -> AsyncPoller:
    deps = PollerDeps(
        queues=store,
        assignment=StaticAssignment([QUEUE], ["p0"]),
        invoker=invoker,
        limits=FixedLimits(limits or RetryLimits()),
        policy=policy or RetryPolicy(scale=0.001),
        sink=sink,
        gauge=DepthGauge(store, [QUEUE]),
        tenants=buckets,
        drain=drain or DrainGovernor(DrainSettings(initial_rate_per_s=1000.0)),
    )
    return AsyncPoller(
        "p0", deps, PollerSettings(concurrency=8, visibility_timeout_s=5, wait_s=0.1)
    )


def test_a_noisy_tenant_is_put_back_while_another_tenants_events_run() -> None:
    async def scenario() -> None:
        # Given a tenant of reserved concurrency 1 with 200 events queued first...
        store, sink, invoker = MemoryQueueStore(), RecordingSink(), SlowInvoker(0.05)
        sizing = TenantSizing(default_duration_s=0.05, max_defer_s=0.5)
        buckets = TenantBuckets(Reservations({"noisy": 1}), sizing)
        for index in range(200):
            await store.send(QUEUE, encode(an_event("noisy", index)))
        # ...and then a few events of another tenant.
        for index in range(5):
            await store.send(QUEUE, encode(an_event("quiet", index)))
        poller = poller_for(store, invoker, sink, buckets)

        poller.start()
        try:
            await asyncio.wait_for(_until_quiet_done(sink), 10)
        finally:
            await poller.stop(grace_s=1)

        # Then the quiet tenant ran long before the noisy backlog drained...
        noisy_done = sum(1 for e in sink.succeeded_events if e.function_name == "noisy")
        assert noisy_done < 100
        assert buckets.figures()[(ACCOUNT, "noisy")].deferred > 0
        # ...and every noisy event put back is still in the queue, none lost.
        depth = await store.depth(QUEUE)
        assert depth.total == 200 - noisy_done

    asyncio.run(scenario())


async def _until_quiet_done(sink: RecordingSink) -> None:
    while sum(1 for e in sink.succeeded_events if e.function_name == "quiet") < 5:
        await asyncio.sleep(0.01)


def test_being_put_back_does_not_lengthen_a_later_throttle_backoff() -> None:
    async def scenario() -> None:
        store, sink = MemoryQueueStore(), RecordingSink()
        policy = RecordingPolicy(scale=0.001)
        sizing = TenantSizing(default_duration_s=1.0, min_defer_s=0.01, max_defer_s=0.05)
        buckets = TenantBuckets(Reservations({"fn": 1}), sizing)
        # The bucket is empty: the event is put back a few times before it gets a token.
        assert await buckets.admit(ACCOUNT, "fn") == 0.0
        invoker = ThrottledOnce()
        await store.send(QUEUE, encode(an_event("fn", 0)))
        poller = poller_for(store, invoker, sink, buckets, policy)

        poller.start()
        try:
            await asyncio.wait_for(sink.done.wait(), 10)
        finally:
            await poller.stop(grace_s=1)

        assert buckets.figures()[(ACCOUNT, "fn")].deferred >= 2
        # Throttled once: the policy heard of 1 throttle, not of every receive.
        assert policy.told == [1]
        assert len(sink.succeeded_events) == 1
        assert sink.succeeded_events[0].invoke_count == 1  # no retry consumed

    asyncio.run(scenario())


@dataclass
class ThrottledOnce(SlowInvoker):
    """Throttles the first attempt (another invoke holds the reservation), then runs."""

    seconds: float = 0.0

    async def invoke(self, event: AsyncEvent) -> InvokeResult:
        self.started.append((event.function_name, event.request_id))
        if len(self.started) == 1:
            raise TooManyRequestsException(
                "Rate Exceeded.",
                fields={"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
            )
        return OK


def test_an_expired_event_goes_to_on_failure_without_waiting_for_its_tenants_token() -> None:
    async def scenario() -> tuple[int, list[str]]:
        # Given a tenant of reserved concurrency 1 with 100 live events queued, and
        # behind them 5 events of the same tenant already older than its maximum age
        store, sink, invoker = MemoryQueueStore(), RecordingSink(), SlowInvoker(0.05)
        sizing = TenantSizing(default_duration_s=0.05, max_defer_s=0.5)
        buckets = TenantBuckets(Reservations({"noisy": 1}), sizing)
        for index in range(100):
            await store.send(QUEUE, encode(an_event("noisy", index)))
        for index in range(5):
            await store.send(QUEUE, encode(a_stale_event("noisy", index)))
        poller = poller_for(
            store, invoker, sink, buckets, limits=RetryLimits(maximum_event_age_s=60)
        )
        poller.start()
        try:
            while len(sink.failed_events) < 5:
                await asyncio.sleep(0.01)
            live_done = len(sink.succeeded_events)
        finally:
            await poller.stop(grace_s=1)
        return live_done, [e.request_id for e, _, _ in sink.failed_events]

    live_done, failed = asyncio.run(asyncio.wait_for(scenario(), 30))

    # Then they reach OnFailure as soon as they are received, while the live events
    # are still running one at a time (they take 5 s), and none of them ran
    assert sorted(failed) == [f"stale-{i}" for i in range(5)]
    assert live_done < 30


def test_expired_events_are_settled_without_using_up_the_drains_tokens() -> None:
    async def scenario() -> tuple[list[str], float]:
        # Given a drain governor with one token, refilled once every 100 s, and
        # 5 events older than their maximum age
        store, sink, invoker = MemoryQueueStore(), RecordingSink(), SlowInvoker(0.0)
        slow = DrainSettings(
            initial_rate_per_s=0.01, min_rate_per_s=0.01, max_rate_per_s=0.01, burst_s=1.0
        )
        governor = DrainGovernor(slow)
        for index in range(5):
            await store.send(QUEUE, encode(a_stale_event("f", index)))
        buckets = TenantBuckets(Reservations({}), TenantSizing())
        limits = RetryLimits(maximum_event_age_s=60)
        poller = poller_for(store, invoker, sink, buckets, limits=limits, drain=governor)
        poller.start()
        try:
            while len(sink.failed_events) < 5:
                await asyncio.sleep(0.01)
        finally:
            await poller.stop(grace_s=1)
        assert invoker.started == []
        return [e.request_id for e, _, _ in sink.failed_events], governor.bucket.available

    failed, tokens_left = asyncio.run(asyncio.wait_for(scenario(), 30))

    # Then all 5 reach OnFailure, none ran, and the drain's token is still there
    # for the first event that will run
    assert sorted(failed) == [f"stale-{i}" for i in range(5)]
    assert tokens_left >= 1.0
