"""Per-tenant buckets: sizing from concurrency settings, deferral delays, the ledger."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from roost.flow.tenant_buckets import (
    DeferralLedger,
    TenantBuckets,
    TenantConcurrency,
    TenantSizing,
)

ACCOUNT = "000000000000"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Settings:
    """A ``ConcurrencySource`` with settings per function; counts lookups."""

    by_function: dict[str, TenantConcurrency] = field(default_factory=dict)
    lookups: int = 0

    async def concurrency(self, account_id: str, function_name: str) -> TenantConcurrency | None:
        self.lookups += 1
        return self.by_function.get(function_name)


def test_concurrency_is_the_reservation_or_a_share_of_the_unreserved_pool() -> None:
    sizing = TenantSizing(share=0.5)
    assert sizing.concurrency_of(TenantConcurrency(reserved=3, account_limit=1000)) == 3
    assert sizing.concurrency_of(TenantConcurrency(None, 1000, reserved_in_account=200)) == 400
    assert sizing.concurrency_of(TenantConcurrency(None, 1, reserved_in_account=1)) == 1


def test_rate_is_concurrency_over_duration_and_burst_is_concurrency() -> None:
    rate, burst = TenantSizing().rate_and_burst(concurrency=4, mean_duration_s=0.5)
    assert (rate, burst) == (8.0, 4.0)


def test_a_tenant_starts_up_to_its_concurrency_then_is_put_back() -> None:
    async def scenario() -> None:
        clock = Clock()
        source = Settings({"slow": TenantConcurrency(2, 1000)})
        buckets = TenantBuckets(source, TenantSizing(default_duration_s=1.0), clock)

        # Given a tenant of concurrency 2 and 1 s invokes: 2 at once, then 2/s.
        assert await buckets.admit(ACCOUNT, "slow") == 0.0
        assert await buckets.admit(ACCOUNT, "slow") == 0.0
        # When a third comes at once, it is put back until a token is due...
        first = await buckets.admit(ACCOUNT, "slow")
        assert first == pytest.approx(0.5)
        # ...and the next ones a token later each, not all at the same time.
        second = await buckets.admit(ACCOUNT, "slow")
        assert second == pytest.approx(1.0)
        assert buckets.figures()[(ACCOUNT, "slow")].deferred == 2

    asyncio.run(scenario())


def test_deferrals_are_capped_at_max_defer_s() -> None:
    async def scenario() -> None:
        clock = Clock()
        source = Settings({"slow": TenantConcurrency(1, 1000)})
        sizing = TenantSizing(default_duration_s=10.0, max_defer_s=2.0)
        buckets = TenantBuckets(source, sizing, clock)
        assert await buckets.admit(ACCOUNT, "slow") == 0.0

        delays = [await buckets.admit(ACCOUNT, "slow") for _ in range(5)]

        assert max(delays) == pytest.approx(2.0)
        assert min(delays) >= sizing.min_defer_s

    asyncio.run(scenario())


def test_other_tenants_are_not_held_by_a_noisy_one() -> None:
    async def scenario() -> None:
        clock = Clock()
        source = Settings(
            {"noisy": TenantConcurrency(1, 1000), "quiet": TenantConcurrency(None, 1000)}
        )
        buckets = TenantBuckets(source, TenantSizing(), clock)
        noisy = [await buckets.admit(ACCOUNT, "noisy") for _ in range(100)]
        assert noisy.count(0.0) == 1

        assert await buckets.admit(ACCOUNT, "quiet") == 0.0

    asyncio.run(scenario())


def test_the_rate_follows_the_recent_duration() -> None:
    async def scenario() -> None:
        clock = Clock()
        source = Settings({"fn": TenantConcurrency(1, 1000)})
        buckets = TenantBuckets(source, TenantSizing(default_duration_s=0.1), clock)
        await buckets.admit(ACCOUNT, "fn")
        assert buckets.figures()[(ACCOUNT, "fn")].rate_per_s == pytest.approx(10.0)

        for _ in range(50):
            buckets.ran(ACCOUNT, "fn", 2.0)

        assert buckets.figures()[(ACCOUNT, "fn")].rate_per_s == pytest.approx(0.5, rel=0.01)

    asyncio.run(scenario())


def test_settings_are_looked_up_again_only_after_refresh_s() -> None:
    async def scenario() -> None:
        clock = Clock()
        source = Settings({"fn": TenantConcurrency(1, 1000)})
        buckets = TenantBuckets(source, TenantSizing(refresh_s=5.0), clock)
        for _ in range(10):
            await buckets.admit(ACCOUNT, "fn")
        assert source.lookups == 1

        # The reservation changes: seen at the next refresh.
        source.by_function["fn"] = TenantConcurrency(8, 1000)
        clock.now += 5.0
        await buckets.admit(ACCOUNT, "fn")

        assert source.lookups == 2
        assert buckets.figures()[(ACCOUNT, "fn")].concurrency == 8

    asyncio.run(scenario())


def test_reserved_zero_and_unknown_functions_are_left_to_the_invoke_path() -> None:
    async def scenario() -> None:
        source = Settings({"off": TenantConcurrency(0, 1000)})
        buckets = TenantBuckets(source, TenantSizing(), Clock())
        assert [await buckets.admit(ACCOUNT, "off") for _ in range(3)] == [0.0] * 3
        assert await buckets.admit(ACCOUNT, "missing") == 0.0

    asyncio.run(scenario())


def test_the_ledger_takes_deferrals_out_of_the_receive_count() -> None:
    ledger = DeferralLedger(size=2)
    for _ in range(3):
        ledger.deferred("m1")
    # Received 4 times: 3 put back, 1 real attempt.
    assert ledger.failures_in_row("m1", 4) == 1
    assert ledger.failures_in_row("m1", 6) == 3
    assert ledger.failures_in_row("other", 2) == 2

    ledger.deferred("m2")
    ledger.deferred("m3")  # over the size: the oldest is forgotten
    assert len(ledger) == 2
    assert ledger.failures_in_row("m1", 4) == 4

    ledger.settled("m2")
    assert len(ledger) == 1


def test_headroom_tells_tokens_and_the_wait_without_taking() -> None:
    async def scenario() -> None:
        clock = Clock()
        source = Settings({"slow": TenantConcurrency(1, 1000)})
        buckets = TenantBuckets(source, TenantSizing(default_duration_s=0.5), clock)
        # Not sized yet: no bound.
        assert buckets.headroom(ACCOUNT, "slow") == (float("inf"), 0.0)

        assert await buckets.admit(ACCOUNT, "slow") == 0.0

        # The only token is taken: the next comes in 0.5 s; asking takes none.
        assert buckets.headroom(ACCOUNT, "slow") == (0.0, pytest.approx(0.5))
        clock.now += 0.5
        assert buckets.headroom(ACCOUNT, "slow") == (pytest.approx(1.0), 0.0)
        assert buckets.headroom(ACCOUNT, "slow") == (pytest.approx(1.0), 0.0)

    asyncio.run(scenario())
