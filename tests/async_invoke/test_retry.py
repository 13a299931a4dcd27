"""The retry policy: function-error retries, backoff, event age."""

from __future__ import annotations

import pytest

from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.retry import (
    Condition,
    FailureKind,
    GiveUp,
    Retry,
    RetryLimits,
    RetryPolicy,
)

T0 = 1_700_000_000_000


def event_after(invokes: int) -> AsyncEvent:
    return AsyncEvent("rid", "000000000000", "us-east-1", "fn", None, b"{}", T0, invokes)


def test_function_errors_are_retried_after_about_one_then_two_minutes() -> None:
    policy, limits = RetryPolicy(), RetryLimits()

    first = policy.decide(event_after(1), FailureKind.FUNCTION_ERROR, limits, T0)
    second = policy.decide(event_after(2), FailureKind.FUNCTION_ERROR, limits, T0 + 60_000)
    third = policy.decide(event_after(3), FailureKind.FUNCTION_ERROR, limits, T0 + 180_000)

    assert first == Retry(60.0)
    assert second == Retry(120.0)
    assert third == GiveUp(Condition.RETRIES_EXHAUSTED)


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_maximum_retry_attempts_bounds_the_invokes(retries: int) -> None:
    policy, limits = RetryPolicy(scale=0.001), RetryLimits(maximum_retry_attempts=retries)
    invokes = 0
    while True:
        invokes += 1
        decision = policy.decide(event_after(invokes), FailureKind.FUNCTION_ERROR, limits, T0)
        if isinstance(decision, GiveUp):
            break

    assert invokes == 1 + retries
    assert decision.condition is Condition.RETRIES_EXHAUSTED


def test_the_scale_shrinks_every_delay_but_not_below_a_floor() -> None:
    assert RetryPolicy(scale=0.001).function_error_delay_s(1) == pytest.approx(0.06)
    assert RetryPolicy(scale=0.001).function_error_delay_s(2) == pytest.approx(0.12)
    assert RetryPolicy(scale=0.0).backoff_delay_s(1) == 0.01


def test_throttles_back_off_exponentially_up_to_five_minutes() -> None:
    policy = RetryPolicy()

    delays = [policy.backoff_delay_s(n) for n in range(1, 12)]

    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == 300.0
    assert delays == sorted(delays)


def test_throttles_do_not_use_up_retry_attempts() -> None:
    policy, limits = RetryPolicy(), RetryLimits(maximum_retry_attempts=0)

    decision = policy.decide(event_after(0), FailureKind.THROTTLED, limits, T0, 50)

    assert decision == Retry(300.0)


def test_a_retry_past_the_maximum_age_gives_the_event_up() -> None:
    policy, limits = RetryPolicy(), RetryLimits(maximum_event_age_s=60)

    early = policy.decide(event_after(0), FailureKind.SYSTEM_ERROR, limits, T0 + 10_000, 1)
    late = policy.decide(event_after(0), FailureKind.THROTTLED, limits, T0 + 59_500, 1)
    error = policy.decide(event_after(1), FailureKind.FUNCTION_ERROR, limits, T0 + 1_000)

    assert early == Retry(1.0)
    assert late == GiveUp(Condition.EVENT_AGE_EXCEEDED)
    assert error == GiveUp(Condition.EVENT_AGE_EXCEEDED)


def test_expiry_counts_from_acceptance() -> None:
    policy, limits = RetryPolicy(), RetryLimits(maximum_event_age_s=120)

    assert not policy.expired(event_after(0), limits, T0 + 119_999)
    assert policy.expired(event_after(0), limits, T0 + 120_000)


def test_limits_default_as_aws_documents() -> None:
    assert RetryLimits.from_document(None) == RetryLimits(2, 21_600)
    assert RetryLimits.from_document({"MaximumRetryAttempts": 0}) == RetryLimits(0, 21_600)
    assert RetryLimits.from_document({"MaximumEventAgeInSeconds": 60}) == RetryLimits(2, 60)
