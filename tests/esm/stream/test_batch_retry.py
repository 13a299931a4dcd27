"""``batch_retry``: what a batch that expires during its retries is given up with."""

from __future__ import annotations

from roost.async_invoke.outcome import InvokeResult
from roost.esm.connector import SourceRecord
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE
from roost.esm.orchestrator import BatchOutcome, BatchVerdict
from roost.esm.stream.batch_retry import Attempt, RetryLimits, decide, expire
from roost.esm.stream.failure_record import StreamFailureCondition

NOW_S = 1_000_000.0


def record(record_id: str, arrival_s: float) -> SourceRecord:
    return SourceRecord(
        record_id=record_id,
        event_record={},
        size_bytes=2,
        handle="shard",
        attributes={ARRIVAL_ATTRIBUTE: repr(arrival_s)},
    )


def function_error(records: tuple[SourceRecord, ...]) -> BatchOutcome:
    result = InvokeResult(200, b'{"errorMessage": "poison"}', "Unhandled", "$LATEST")
    ids = frozenset(r.record_id for r in records)
    return BatchOutcome(BatchVerdict.FUNCTION_ERROR, ids, "poison", result=result)


def test_records_expiring_after_invokes_are_given_up_with_the_last_response() -> None:
    # Given a batch that failed twice while it was young
    limits = RetryLimits(maximum_record_age_s=60)
    records = (record("1", NOW_S - 30),)
    attempt = Attempt(records)
    for _ in range(2):
        (attempt,) = decide(attempt, function_error(records), limits).then

    # When it is older than the maximum age before its next try
    left, give_up = expire(attempt, limits, NOW_S + 60)

    # Then it is given up for its age, with its invokes and the last response
    assert left.records == ()
    assert give_up is not None
    assert give_up.condition is StreamFailureCondition.RECORD_AGE_EXCEEDED
    assert give_up.invokes == 2
    assert give_up.outcome is not None
    assert give_up.outcome.result is not None
    assert give_up.outcome.result.function_error == "Unhandled"


def test_records_expiring_before_any_invoke_have_no_response() -> None:
    limits = RetryLimits(maximum_record_age_s=60)
    _, give_up = expire(Attempt((record("1", NOW_S - 120),)), limits, NOW_S)
    assert give_up is not None
    assert (give_up.invokes, give_up.outcome) == (0, None)


def test_a_failed_record_past_the_retention_is_given_up_whatever_the_maximum_age() -> None:
    old = record("1", NOW_S - 90_000)  # 25 hours
    for maximum_age_s in (-1, 604_800):
        limits = RetryLimits(maximum_record_age_s=maximum_age_s, retention_s=86_400.0)
        left, give_up = expire(Attempt((old,), retries=1, invokes=1, failures=1), limits, NOW_S)
        assert left.records == ()
        assert give_up is not None
        assert give_up.condition is StreamFailureCondition.RECORD_AGE_EXCEEDED


def test_a_record_read_for_the_first_time_is_invoked_though_past_the_retention() -> None:
    # The stream trims late (DynamoDB Streams: "at any moment" after 24 hours):
    # a record it still handed out is still there to process.
    old = record("1", NOW_S - 90_000)
    attempt = Attempt((old,))
    left, give_up = expire(attempt, RetryLimits(retention_s=86_400.0), NOW_S)
    assert (left, give_up) == (attempt, None)


def test_the_lesser_of_maximum_age_and_retention_bounds_a_record() -> None:
    assert RetryLimits(maximum_record_age_s=60, retention_s=86_400.0).record_lifetime_s == 60
    assert RetryLimits(maximum_record_age_s=-1, retention_s=86_400.0).record_lifetime_s == 86_400
    assert RetryLimits(maximum_record_age_s=-1).record_lifetime_s == -1
    young = record("1", NOW_S - 3_600)
    failed = Attempt((young,), failures=1)
    left, give_up = expire(failed, RetryLimits(retention_s=86_400.0), NOW_S)
    assert (left.records, give_up) == ((young,), None)
