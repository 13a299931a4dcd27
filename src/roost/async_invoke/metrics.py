"""Counters of the async plane, per function: what the front end accepted and what
the pollers did with it.

``AsyncMetrics`` is a plain in-memory registry that the node creates and hands
to the async front end and the pollers (no module-level state, so tests and
several nodes in one process each have their own). Updates are O(1) dict
operations on the event loop: cheap enough for every event. Queue depth and the
oldest message's age are not counted here: they are read from the
``QueueStore`` when ``/metrics`` is scraped (``roost.observability``).

The figures count since the node started. ``queued`` is an estimate from
them (accepted minus finished); events left in the queues by an earlier run of
the node are visible only in the per-queue depth.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from roost.async_invoke.retry import Condition, FailureKind


class RetryReason(enum.StrEnum):
    """Why an event is run again."""

    FUNCTION_ERROR = "function-error"
    THROTTLE = "throttle"
    SYSTEM = "system"

    @classmethod
    def of(cls, failure: FailureKind) -> RetryReason:
        """The retry reason of a failed attempt."""
        return _RETRY_REASONS[failure]


_RETRY_REASONS = {
    FailureKind.FUNCTION_ERROR: RetryReason.FUNCTION_ERROR,
    FailureKind.THROTTLED: RetryReason.THROTTLE,
    FailureKind.SYSTEM_ERROR: RetryReason.SYSTEM,
}


class DropReason(enum.StrEnum):
    """Why an event was given up (AWS's conditions, and a deleted function)."""

    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    FUNCTION_DELETED = "FunctionDeleted"

    @classmethod
    def of(cls, condition: Condition) -> DropReason:
        """The drop reason of a destination condition."""
        return cls(condition.value)


@dataclass(frozen=True, order=True)
class FunctionKey:
    """A function as the async plane counts it: versions and aliases together."""

    account_id: str
    function_name: str


@dataclass
class FunctionFigures:
    """One function's async counters (events, not messages)."""

    accepted: int = 0
    started: int = 0
    in_flight: int = 0
    succeeded: int = 0
    retried: dict[RetryReason, int] = field(default_factory=dict)
    dropped: dict[DropReason, int] = field(default_factory=dict)
    # Event age when an attempt starts (AWS's AsyncEventAge): sum for a mean,
    # and the latest, which follows a backlog as it builds and drains.
    start_age_sum_s: float = 0.0
    last_start_age_s: float = 0.0

    @property
    def queued(self) -> int:
        """Accepted events not yet finished (succeeded or dropped); an estimate."""
        return max(0, self.accepted - self.succeeded - sum(self.dropped.values()))

    def copy(self) -> FunctionFigures:
        """A snapshot that later updates do not change."""
        return replace(self, retried=dict(self.retried), dropped=dict(self.dropped))


class AsyncMetrics:
    """In-memory async counters per function and per queue; owned by the node."""

    def __init__(self) -> None:
        self._functions: dict[FunctionKey, FunctionFigures] = {}
        self._sent_by_queue: dict[str, int] = {}

    def _of(self, account_id: str, function_name: str) -> FunctionFigures:
        key = FunctionKey(account_id, function_name)
        figures = self._functions.get(key)
        if figures is None:
            figures = self._functions[key] = FunctionFigures()
        return figures

    def accepted(self, account_id: str, function_name: str, queue: str) -> None:
        """The front end made an event durable in ``queue`` (and answered 202)."""
        self._of(account_id, function_name).accepted += 1
        self.sent(queue)

    def sent(self, queue: str) -> None:
        """A message was sent to ``queue`` (a new event or a retry's copy)."""
        self._sent_by_queue[queue] = self._sent_by_queue.get(queue, 0) + 1

    def started(self, account_id: str, function_name: str, age_s: float) -> None:
        """A poller starts an attempt of an event ``age_s`` seconds old."""
        figures = self._of(account_id, function_name)
        figures.started += 1
        figures.in_flight += 1
        figures.start_age_sum_s += age_s
        figures.last_start_age_s = age_s

    def ended(self, account_id: str, function_name: str) -> None:
        """The attempt ``started`` counted is over, whatever its outcome."""
        figures = self._of(account_id, function_name)
        figures.in_flight = max(0, figures.in_flight - 1)

    def succeeded(self, account_id: str, function_name: str) -> None:
        """An event ran without error and is done."""
        self._of(account_id, function_name).succeeded += 1

    def retried(self, account_id: str, function_name: str, reason: RetryReason) -> None:
        """An event will run again later."""
        retried = self._of(account_id, function_name).retried
        retried[reason] = retried.get(reason, 0) + 1

    def dropped(self, account_id: str, function_name: str, reason: DropReason) -> None:
        """An event is given up (sent to its failure destination, if any)."""
        dropped = self._of(account_id, function_name).dropped
        dropped[reason] = dropped.get(reason, 0) + 1

    def functions(self) -> dict[FunctionKey, FunctionFigures]:
        """A snapshot of every function's figures, sorted by account and name."""
        return {key: self._functions[key].copy() for key in sorted(self._functions)}

    def function(self, account_id: str, function_name: str) -> FunctionFigures | None:
        """A snapshot of one function's figures; None if it saw no async event."""
        figures = self._functions.get(FunctionKey(account_id, function_name))
        return figures.copy() if figures is not None else None

    def sent_by_queue(self) -> dict[str, int]:
        """Messages sent per queue since the node started."""
        return dict(sorted(self._sent_by_queue.items()))
