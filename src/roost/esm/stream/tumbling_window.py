"""Tumbling windows of Kinesis and DynamoDB Streams mappings (``TumblingWindowInSeconds``).

Followed: AWS Lambda Developer Guide, "Time windows" of *Using AWS Lambda with
Amazon Kinesis* (``with-kinesis.html#services-kinesis-windows``, today
``services-kinesis-windows.html``) and its DynamoDB twin
(``services-ddb-windows.html``). What is implemented, per lane of a shard:

- **Boundaries.** A window is ``[start, start + length)`` with ``start`` a
  multiple of the length in epoch seconds ("distinct time windows that open and
  close at regular intervals"). A record belongs to the window of its
  approximate arrival time (``SourceRecord.attributes["ApproximateArrivalTimestamp"]``:
  Kinesis' arrival, DynamoDB's ``ApproximateCreationDateTime``), as AWS bases
  "boundary determinations" on that timestamp. ``runs`` cuts an ordered batch
  into per-window runs (``runs``/``split``): an invoke never spans two windows.
  Windows of a lane never go backwards: a record stamped earlier than the
  window in progress (stamps are approximate), or than the window last closed,
  joins the window in progress or the one after the closed one.
- **Event.** The source's normal payload plus ``window`` (``{"start", "end"}``,
  ISO 8601 UTC to the second with a ``Z``, as in AWS's example event),
  ``state`` (``{}`` at a window's first invoke), ``shardId``, ``eventSourceARN``,
  ``isFinalInvokeForWindow`` and ``isWindowTerminatedEarly``.
- **State.** The function must answer ``{"state": {...}}`` (plus optional
  ``batchItemFailures``); "if the response does not contain a state property,
  Lambda considers this a failed invocation". The state answered is what the
  next invoke of the same window receives. With ``batchItemFailures`` the state
  is still taken: the function is the authority on what it aggregated.
- **Final invoke.** When the window ends (the lane reads a record of a later
  window, the shard ends - "when the shard ends, Lambda considers the window
  closed" - or the wall clock passes the window's end while the lane is caught
  up), the function is invoked once more with ``isFinalInvokeForWindow: true``,
  the accumulated state and no records (every record of the window went to an
  aggregation invoke already). A failed final invoke is retried: processing of
  the lane "suspends until a successful invocation". After it, the state is
  dropped and the next window starts from ``{}``.
- **Early termination.** State is limited to 1 MB; when a response's state is
  larger, the window is terminated early: a final invoke with
  ``isFinalInvokeForWindow: true`` and ``isWindowTerminatedEarly: true`` hands
  the function that state to flush, and later invokes of the same window start
  again from ``{}`` (and end with a final invoke of their own).

The class keeps no I/O and no clock: the shard worker reads, invokes and
passes ``now``; it calls ``event`` before each invoke and ``absorb`` after each
successful one. State lives in memory, so a restarted worker starts windows
afresh from its checkpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roost.esm.connector import SourceRecord
from roost.esm.stream.record_age import arrival_s

MIN_WINDOW_S = 1
MAX_WINDOW_S = 900
MAX_STATE_BYTES = 1024 * 1024
"""AWS: "Your state can be a maximum of 1 MB per shard" (compact JSON, UTF-8)."""
DEFAULT_CLOSE_DELAY_S = 1.0
"""How long past a window's end the wall clock must be before it is closed for
lack of new records: records stamped just before the end may not be readable yet."""


def window_timestamp(epoch_s: int) -> str:
    """A window bound as AWS writes it: ``2020-12-09T07:04:00Z``."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, order=True)
class Window:
    """One tumbling window, ``[start_s, end_s)`` in epoch seconds."""

    start_s: int
    end_s: int

    @classmethod
    def containing(cls, epoch_s: float, length_s: int) -> Window:
        """The window of length ``length_s`` that ``epoch_s`` falls in."""
        start = math.floor(epoch_s / length_s) * length_s
        return cls(start, start + length_s)

    def to_event(self) -> dict[str, str]:
        """The event's ``window`` member."""
        return {"start": window_timestamp(self.start_s), "end": window_timestamp(self.end_s)}


@dataclass(frozen=True)
class WindowResponse:
    """What ``absorb`` made of a function's answer.

    ``succeeded`` False: the answer had no ``state`` object, so the invoke counts
    as failed (``error`` says why) and the worker retries the batch as after a
    function error. ``batch_item_failures`` is the answer's list, if it had one,
    for the worker's partial-failure handling. ``window_closed``: this was the
    final invoke and its window is done. ``terminated_early``: the state passed
    the limit; ``due_final`` now returns the window until its final invoke.
    """

    succeeded: bool
    error: str | None = None
    batch_item_failures: list[Any] | None = None
    window_closed: bool = False
    terminated_early: bool = False


_NO_WINDOW = Window(-1, -1)
"""Before every window: the floor of a lane that has seen none."""


@dataclass(frozen=True)
class WindowRun:
    """Consecutive records of a lane in one window; a batch takes records of one run only."""

    window: Window
    records: list[SourceRecord]


@dataclass(frozen=True)
class _Pending:
    """The event last handed out, awaiting its answer."""

    window: Window
    final: bool


def state_size(state: Mapping[str, Any]) -> int:
    """Bytes of ``state`` as compact UTF-8 JSON (what the 1 MB limit counts)."""
    return len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())


class TumblingWindows:
    """The tumbling-window state of one lane of one shard.

    Call order per batch: cut the records read into ``runs``; for each run, first
    ``due_final(now_s, next_window=...)`` (and make that final invoke, with
    ``event(..., final=True)`` then ``absorb``), then ``event`` and, once the
    invoke succeeded, ``absorb``. While idle, call ``due_final(now_s)`` when the
    lane is caught up, and ``due_final(now_s, shard_ended=True)`` at shard end.
    Not thread-safe: one lane, one task.
    """

    def __init__(
        self,
        length_s: int,
        shard_id: str,
        event_source_arn: str,
        *,
        max_state_bytes: int = MAX_STATE_BYTES,
        close_delay_s: float = DEFAULT_CLOSE_DELAY_S,
    ) -> None:
        if not MIN_WINDOW_S <= length_s <= MAX_WINDOW_S:
            raise ValueError(f"TumblingWindowInSeconds must be 1-900 here, not {length_s}")
        self.length_s = length_s
        self.shard_id = shard_id
        self.event_source_arn = event_source_arn
        self._max_state_bytes = max_state_bytes
        self._close_delay_s = close_delay_s
        # The window that has had a successful aggregation invoke and no final yet.
        self._open: Window | None = None
        self._state: dict[str, Any] = {}
        # Set by an oversized state: the open window's final is due at once.
        self._terminated_early = False
        self._pending: _Pending | None = None
        # The earliest window a record may still open: after a window closed,
        # a late record of it goes to the next one instead of reopening it.
        self._reopen_from = _NO_WINDOW

    @property
    def open_window(self) -> Window | None:
        """The window being aggregated (a final invoke will close it), if any."""
        return self._open

    @property
    def state(self) -> dict[str, Any]:
        """A copy of the open window's state (``{}`` when none)."""
        return dict(self._state)

    def window_of(self, record: SourceRecord, floor: Window | None = None) -> Window:
        """The window ``record`` belongs to: that of its arrival, but never before
        ``floor`` nor before the open window (windows of a lane never go back)."""
        floor = max(w for w in (floor, self._open, self._reopen_from) if w is not None)
        arrived = arrival_s(record)
        if arrived is None:
            # No stamp (a DynamoDB record without ApproximateCreationDateTime):
            # it stays in the window in progress, or goes to that of its read time.
            arrived = _wall_time_of(record.received_at_s) if floor == _NO_WINDOW else floor.start_s
        return max(Window.containing(arrived, self.length_s), floor)

    def runs(self, records: Sequence[SourceRecord]) -> list[WindowRun]:
        """``records`` (in shard order) cut into runs of one window each, in order.

        Pure but for reading the open window: a batch read again after a rewind
        is cut the same way.
        """
        runs: list[WindowRun] = []
        for record in records:
            window = self.window_of(record, runs[-1].window if runs else None)
            if not runs or runs[-1].window != window:
                runs.append(WindowRun(window, []))
            runs[-1].records.append(record)
        return runs

    def split(self, records: Sequence[SourceRecord]) -> list[list[SourceRecord]]:
        """The records of each run of ``runs(records)``, when the windows are not needed."""
        return [run.records for run in self.runs(records)]

    def due_final(
        self, now_s: float, *, next_window: Window | None = None, shard_ended: bool = False
    ) -> Window | None:
        """The window whose final invoke must come before anything else, if any.

        It is the open window when its state outgrew the limit, when
        ``next_window`` (the window of the run about to be invoked) is later,
        when the shard ended, or when ``now_s`` (epoch seconds) is past its end.
        Pass ``now_s`` only when the lane has read everything there is: a lagging
        lane may still hold records of the window unread.
        """
        window = self._open
        if window is None:
            return None
        if self._terminated_early or shard_ended:
            return window
        if next_window is not None and next_window > window:
            return window
        if now_s >= window.end_s + self._close_delay_s:
            return window
        return None

    def event(
        self, base_payload: Mapping[str, Any], window: Window, *, final: bool = False
    ) -> dict[str, Any]:
        """The invoke event: ``base_payload`` (``{"Records": [...]}``) plus the window members.

        A final event carries the open window's state and is meant to have no
        records; an aggregation event carries the state of ``window`` so far.
        """
        if final and window != self._open:
            raise ValueError(f"no open window {window} to finalize")
        state = self._state if window == self._open else {}
        self._pending = _Pending(window, final)
        return {
            **base_payload,
            "window": window.to_event(),
            "state": dict(state),
            "shardId": self.shard_id,
            "eventSourceARN": self.event_source_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": final and self._terminated_early,
        }

    def absorb(self, response: bytes) -> WindowResponse:
        """Take the answer of the last ``event``'s successful invoke.

        Not called after a failed invoke: the batch is retried with the state
        it had, which ``event`` hands out again.
        """
        pending = self._pending
        if pending is None:
            raise RuntimeError("absorb without an event awaiting its answer")
        answer, error = _parse_answer(response)
        if error is not None:
            return WindowResponse(succeeded=False, error=error)
        self._pending = None
        failures = answer.get("batchItemFailures")
        failures_list = list(failures) if isinstance(failures, list) else None
        if pending.final:
            self._close(pending.window)
            return WindowResponse(True, batch_item_failures=failures_list, window_closed=True)
        self._open = pending.window
        self._state = dict(answer["state"])
        if state_size(self._state) > self._max_state_bytes:
            self._terminated_early = True
        return WindowResponse(
            True, batch_item_failures=failures_list, terminated_early=self._terminated_early
        )

    def _close(self, window: Window) -> None:
        # After an early termination the same window goes on, from a fresh
        # state, and is closed again by a final of its own.
        if self._terminated_early:
            self._reopen_from = window
        else:
            self._reopen_from = Window(window.end_s, window.end_s + self.length_s)
        self._open = None
        self._state = {}
        self._terminated_early = False


def _parse_answer(response: bytes) -> tuple[dict[str, Any], str | None]:
    """The answer as an object with a ``state`` object, or why it is not one."""
    try:
        answer = json.loads(response) if response else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        # Nested too deep for the parser is no more usable than invalid JSON.
        return {}, "the function's response is not JSON"
    if not isinstance(answer, dict) or not isinstance(answer.get("state"), dict):
        return {}, "the function's response has no state object (required with tumbling windows)"
    return answer, None


def _wall_time_of(monotonic_s: float) -> float:
    """The epoch time of a ``time.monotonic()`` reading (a record's read time)."""
    return time.time() - (time.monotonic() - monotonic_s)
