"""Admission control: a plane's slots with a bounded waiting line in front.

The talk's third stability layer: "throttle requests when you're full, just
like a store locking the door at capacity". A plane holds ``max_in_flight``
requests at once; beyond that a request may wait in line, but only while the
line is shorter than ``max_waiting`` and only for ``max_wait_s``. A request the
line cannot take, or that waited its whole allowance, is refused at once with
``TooManyRequestsException`` (Reason ``ConcurrentInvocationLimitExceeded``)
and a ``Retry-After``: a full node answers quickly instead of building a queue
whose every member would time out anyway, and memory stays bounded by
``max_in_flight + max_waiting`` requests whatever the offered load.

``max_waiting``/``max_wait_s`` of None keep the line unbounded (planes whose
work is deferrable, such as the async plane narrowed by ``flow.sync_first``).
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from roost.api.errors import TooManyRequestsException
from roost.cancellation import within
from roost.flow.adaptive_semaphore import AdaptiveSemaphore
from roost.flow.counting import RATE_EXCEEDED, RETRY_AFTER_S


class RejectReason(enum.StrEnum):
    """Why admission refused a request (the ``reason`` label in ``/metrics``)."""

    LINE_FULL = "line_full"
    WAIT_EXCEEDED = "wait_exceeded"


@dataclass(frozen=True)
class AdmissionSettings:
    """A plane's bound on requests in flight and on its waiting line."""

    max_in_flight: int
    max_waiting: int | None = None
    max_wait_s: float | None = None
    retry_after_s: int = RETRY_AFTER_S

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, not {self.max_in_flight}")
        if self.max_waiting is not None and self.max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, not {self.max_waiting}")
        if self.max_wait_s is not None and self.max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, not {self.max_wait_s}")


@dataclass(frozen=True)
class AdmissionFigures:
    """What ``/metrics`` shows of one admission control, read at once."""

    max_in_flight: int
    max_waiting: int | None
    max_wait_s: float | None
    in_flight: int
    waiting: int
    admitted: int
    rejected: dict[RejectReason, int]
    waited: int
    wait_sum_s: float
    wait_max_s: float


class AdmissionControl:
    """Up to ``max_in_flight`` holders; a bounded line, in arrival order, behind them.

    Used from one event loop. ``limit`` narrows the slots while the node needs
    it (it maps ``max_in_flight`` to the slots allowed right now).
    """

    def __init__(
        self,
        settings: AdmissionSettings,
        limit: Callable[[int], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        full = settings.max_in_flight
        self._limit = limit
        self.slots = AdaptiveSemaphore(
            (lambda: limit(full)) if limit is not None else (lambda: full)
        )
        self._clock = clock
        self._admitted = 0
        self._rejected: Counter[RejectReason] = Counter()
        # Admitted requests that had to wait, and how long, for the summary.
        self._waited = 0
        self._wait_sum_s = 0.0
        self._wait_max_s = 0.0
        # Requests between their arrival and a slot, counted here rather than
        # read from the semaphore: the line's bound covers every one of them,
        # including one whose slot was granted but that has not resumed yet.
        self._in_line = 0

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self.slots.in_use

    @property
    def waiting(self) -> int:
        """Requests in line now."""
        return self._in_line

    async def acquire(self) -> None:
        """Take a slot, waiting in line if allowed; else raise ``TooManyRequestsException``.

        Cancellation-safe: a request cancelled in line leaves it without a slot.
        """
        if not self._in_line and not self.slots.locked():
            await self.slots.acquire()  # Free now, nobody ahead: does not wait.
            self._admitted += 1
            return
        line = self.settings.max_waiting
        if line is not None and self._in_line >= line:
            raise self._reject(RejectReason.LINE_FULL)
        started = self._clock()
        self._in_line += 1
        try:
            await within(self.slots.acquire(), self.settings.max_wait_s)
        except TimeoutError:
            raise self._reject(RejectReason.WAIT_EXCEEDED) from None
        finally:
            self._in_line -= 1
        waited_s = self._clock() - started
        self._admitted += 1
        self._waited += 1
        self._wait_sum_s += waited_s
        self._wait_max_s = max(self._wait_max_s, waited_s)

    def release(self) -> None:
        """Give a slot back (the first in line gets it)."""
        self.slots.release()

    def _reject(self, reason: RejectReason) -> TooManyRequestsException:
        self._rejected[reason] += 1
        return TooManyRequestsException(
            RATE_EXCEEDED,
            fields={
                "Reason": "ConcurrentInvocationLimitExceeded",
                "retryAfterSeconds": str(self.settings.retry_after_s),
            },
        )

    def figures(self) -> AdmissionFigures:
        """Caps, occupancy and totals since start."""
        settings = self.settings
        full = settings.max_in_flight
        return AdmissionFigures(
            max_in_flight=self._limit(full) if self._limit is not None else full,
            max_waiting=settings.max_waiting,
            max_wait_s=settings.max_wait_s,
            in_flight=self.in_flight,
            waiting=self.waiting,
            admitted=self._admitted,
            rejected={reason: self._rejected[reason] for reason in RejectReason},
            waited=self._waited,
            wait_sum_s=self._wait_sum_s,
            wait_max_s=self._wait_max_s,
        )
