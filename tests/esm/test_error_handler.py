"""The error handler: commit, retry in place, leave to the visibility timeout, FIFO groups."""

from __future__ import annotations

from roost.esm.error_handler import ErrorHandler, failed_in_order
from roost.esm.orchestrator import BatchOutcome, BatchVerdict
from tests.esm.support import record


def ids(records: tuple[object, ...]) -> list[str]:
    return [r.record_id for r in records]  # type: ignore[attr-defined]


def test_success_commits_everything() -> None:
    batch = [record("a"), record("b")]
    disposition = ErrorHandler().dispose(
        batch, BatchOutcome(BatchVerdict.SUCCEEDED, frozenset()), ordered=False, attempt=1
    )
    assert ids(disposition.commit) == ["a", "b"]
    assert not disposition.leave and not disposition.retry


def test_a_partial_response_commits_the_rest() -> None:
    batch = [record("a"), record("b"), record("c")]
    outcome = BatchOutcome(BatchVerdict.PARTIAL, frozenset({"b"}))
    disposition = ErrorHandler().dispose(batch, outcome, ordered=False, attempt=1)
    assert ids(disposition.commit) == ["a", "c"]
    assert ids(disposition.leave) == ["b"]


def test_a_function_error_leaves_the_batch_to_the_visibility_timeout() -> None:
    batch = [record("a"), record("b")]
    outcome = BatchOutcome(BatchVerdict.FUNCTION_ERROR, frozenset({"a", "b"}))
    disposition = ErrorHandler().dispose(batch, outcome, ordered=False, attempt=1)
    assert not disposition.commit and not disposition.retry
    assert ids(disposition.leave) == ["a", "b"]


def test_a_throttle_is_retried_while_the_records_stay_hidden() -> None:
    now = [0.0]
    handler = ErrorHandler(first_retry_delay_s=1, max_retry_delay_s=8, clock=lambda: now[0])
    batch = [record("a", visible_until_s=10.0)]
    throttled = BatchOutcome(BatchVerdict.THROTTLED, frozenset({"a"}))
    first = handler.dispose(batch, throttled, ordered=False, attempt=1)
    assert ids(first.retry) == ["a"] and first.retry_delay_s == 1
    assert handler.dispose(batch, throttled, ordered=False, attempt=3).retry_delay_s == 4
    # Too close to the visibility timeout: left to come back.
    now[0] = 6.0
    late = handler.dispose(batch, throttled, ordered=False, attempt=3)
    assert ids(late.leave) == ["a"] and not late.retry


def test_fifo_a_failure_fails_the_rest_of_its_group_only() -> None:
    batch = [
        record("a1", group="a"),
        record("b1", group="b"),
        record("a2", group="a"),
        record("b2", group="b"),
        record("a3", group="a"),
    ]
    assert failed_in_order(batch, frozenset({"a2"})) == {"a2", "a3"}
    outcome = BatchOutcome(BatchVerdict.PARTIAL, frozenset({"a2"}))
    disposition = ErrorHandler().dispose(batch, outcome, ordered=True, attempt=1)
    assert ids(disposition.commit) == ["a1", "b1", "b2"]
    # The group's first failure stays hidden; the rest go back behind it at once.
    assert ids(disposition.leave) == ["a2"]
    assert ids(disposition.release) == ["a3"]
