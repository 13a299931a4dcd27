"""Retry policy of async invokes, as AWS documents it.

- A **function error** (the handler raised, timed out or crashed) is retried
  ``MaximumRetryAttempts`` times (0-2, default 2), about 1 minute after the
  first attempt and 2 minutes after the second.
- A **throttle** (reserved concurrency, account limit) or a **system error**
  (Roost could not run the function) does not count as an attempt: it is
  retried with exponential backoff (1 s doubling up to 5 minutes) for as long
  as the event is younger than ``MaximumEventAgeInSeconds`` (60 s - 6 h,
  default 6 h).

Every delay is multiplied by ``scale`` (``ROOST_ASYNC_RETRY_SCALE``) so tests
can run retries in milliseconds; event ages are not scaled.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roost.async_invoke.event import AsyncEvent

DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_S = 21_600
# Delay before retry n (1-based) of a function error, unscaled.
FUNCTION_ERROR_DELAYS_S = (60.0, 120.0)
THROTTLE_FIRST_DELAY_S = 1.0
THROTTLE_MAX_DELAY_S = 300.0
# A scaled delay never goes below this: a retry loop must not spin.
MIN_DELAY_S = 0.01


class FailureKind(enum.Enum):
    """Why an attempt did not succeed."""

    FUNCTION_ERROR = "function-error"
    THROTTLED = "throttled"
    SYSTEM_ERROR = "system-error"


class Condition(enum.StrEnum):
    """Why an event was given up (AWS's ``requestContext.condition``)."""

    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"


@dataclass(frozen=True)
class RetryLimits:
    """A function's (qualifier's) ``EventInvokeConfig`` retry settings."""

    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_s: int = DEFAULT_MAXIMUM_EVENT_AGE_S

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> RetryLimits:
        """The limits of a stored EventInvokeConfig (AWS's defaults for what is unset)."""
        document = document or {}
        retries = document.get("MaximumRetryAttempts")
        age = document.get("MaximumEventAgeInSeconds")
        return cls(
            DEFAULT_MAXIMUM_RETRY_ATTEMPTS if retries is None else int(retries),
            DEFAULT_MAXIMUM_EVENT_AGE_S if age is None else int(age),
        )


@dataclass(frozen=True)
class Retry:
    """Try again after ``delay_s``."""

    delay_s: float


@dataclass(frozen=True)
class GiveUp:
    """Stop: report the event as failed with ``condition``."""

    condition: Condition


Decision = Retry | GiveUp


@dataclass(frozen=True)
class RetryPolicy:
    """Turns a failed attempt into a retry delay or a final condition."""

    scale: float = 1.0

    def _scaled(self, delay_s: float) -> float:
        return max(MIN_DELAY_S, delay_s * self.scale)

    def expired(self, event: AsyncEvent, limits: RetryLimits, now_ms: int) -> bool:
        """Whether the event is older than its maximum age."""
        return event.age_s(now_ms) >= limits.maximum_event_age_s

    def function_error_delay_s(self, retry: int) -> float:
        """The delay before retry ``retry`` (1-based) of a function error."""
        index = min(retry, len(FUNCTION_ERROR_DELAYS_S)) - 1
        return self._scaled(FUNCTION_ERROR_DELAYS_S[index])

    def backoff_delay_s(self, failures: int) -> float:
        """The delay after ``failures`` (1-based) throttles or system errors in a row."""
        exponent = min(max(failures, 1) - 1, 16)  # 2**16 s is far above the cap anyway
        return self._scaled(min(THROTTLE_FIRST_DELAY_S * 2**exponent, THROTTLE_MAX_DELAY_S))

    def decide(
        self,
        event: AsyncEvent,
        kind: FailureKind,
        limits: RetryLimits,
        now_ms: int,
        failures_in_row: int = 1,
    ) -> Decision:
        """What follows a failed attempt.

        ``event.invoke_count`` already counts the attempt that failed when it
        ran the function; ``failures_in_row`` counts throttles and system errors
        (for the backoff).
        """
        if kind is FailureKind.FUNCTION_ERROR:
            retries_done = event.invoke_count - 1
            if retries_done >= limits.maximum_retry_attempts:
                return GiveUp(Condition.RETRIES_EXHAUSTED)
            delay_s = self.function_error_delay_s(retries_done + 1)
        else:
            delay_s = self.backoff_delay_s(failures_in_row)
        due_ms = now_ms + int(delay_s * 1000)
        if event.age_s(due_ms) >= limits.maximum_event_age_s:
            # The retry would run past the event's maximum age: AWS drops it then.
            return GiveUp(Condition.EVENT_AGE_EXCEEDED)
        return Retry(delay_s)
