"""The scaling limit: how fast one function may add execution environments.

Modelled on AWS's: each function can add up to 1,000 environments every 10
seconds (configurable); an invoke that would need a new environment beyond that
is throttled, while invokes served by warm environments are not affected.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from roost.flow.counting import throttled
from roost.flow.token_bucket import TokenBucket

DEFAULT_NEW_ENVIRONMENTS = 1000
DEFAULT_WINDOW_S = 10.0


class ScalingLimiter:
    """One token bucket per function, a token per new environment."""

    def __init__(
        self,
        new_environments: int = DEFAULT_NEW_ENVIRONMENTS,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = new_environments
        self._rate_per_s = new_environments / window_s
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def admit_new_environment(self, account_id: str, function_name: str) -> None:
        """Allow one more environment, or raise ``TooManyRequestsException`` (429)."""
        key = (account_id, function_name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self._rate_per_s, self._burst, self._clock)
            self._buckets[key] = bucket
        if not bucket.try_take():
            raise throttled("FunctionInvocationRateLimitExceeded")
