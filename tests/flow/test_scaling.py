"""The token bucket and the per-function scaling limit built on it."""

from __future__ import annotations

import pytest

from roost.api.errors import TooManyRequestsException
from roost.flow.scaling import ScalingLimiter
from roost.flow.token_bucket import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=2.0, burst=3, clock=clock)

    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5
    assert bucket.try_take() is True
    assert bucket.try_take() is False
    clock.now += 100
    assert bucket.available == 3


def test_scaling_limit_throttles_new_environments_per_function() -> None:
    clock = Clock()
    limiter = ScalingLimiter(new_environments=2, window_s=10.0, clock=clock)
    limiter.admit_new_environment("a", "fn")
    limiter.admit_new_environment("a", "fn")

    with pytest.raises(TooManyRequestsException) as caught:
        limiter.admit_new_environment("a", "fn")

    assert caught.value.fields["Reason"] == "FunctionInvocationRateLimitExceeded"
    limiter.admit_new_environment("a", "other")
    clock.now += 5
    limiter.admit_new_environment("a", "fn")
