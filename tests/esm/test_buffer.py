"""The in-memory buffer: filtering, batch size, window and the 6 MB payload split."""

from __future__ import annotations

import json

from roost.esm.buffer import BatchPolicy, RecordBuffer, payload_bytes
from roost.esm.connector import records_payload
from roost.esm.filtering import EventSourceKind, parse_filter_criteria
from tests.esm.support import record


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_batch_is_ready_at_batch_size() -> None:
    buffer = RecordBuffer(BatchPolicy(batch_size=3, window_s=60), clock=Clock())
    buffer.add([record("a"), record("b")])
    assert not buffer.ready()
    buffer.add([record("c"), record("d")])
    assert buffer.ready()
    assert [r.record_id for r in buffer.take()] == ["a", "b", "c"]
    assert buffer.pending == 1


def test_a_batch_is_ready_when_the_window_closes() -> None:
    clock = Clock()
    buffer = RecordBuffer(BatchPolicy(batch_size=100, window_s=5), clock=clock)
    buffer.add([record("a")])
    clock.now += 4
    assert not buffer.ready()
    assert buffer.remaining_window_s() == 1
    clock.now += 1
    assert buffer.ready()
    assert [r.record_id for r in buffer.take()] == ["a"]


def test_without_a_window_any_record_makes_a_batch() -> None:
    buffer = RecordBuffer(BatchPolicy(batch_size=10, window_s=0), clock=Clock())
    assert not buffer.ready()
    buffer.add([record("a")])
    assert buffer.ready()


def test_the_payload_limit_splits_a_batch() -> None:
    big = "x" * 1000
    records = [record(f"r{i}", json.dumps(big)) for i in range(10)]
    limit = payload_bytes(records[:4])
    buffer = RecordBuffer(BatchPolicy(batch_size=10, window_s=60, max_payload_bytes=limit))
    buffer.add(records)
    assert buffer.ready()
    first = buffer.take()
    assert len(first) == 4
    # The size we count is the size of the event the function gets.
    assert len(json.dumps(records_payload(first), separators=(",", ":"))) == limit
    assert buffer.pending == 6


def test_a_record_larger_than_the_limit_still_goes_alone() -> None:
    buffer = RecordBuffer(BatchPolicy(batch_size=10, window_s=0, max_payload_bytes=10))
    buffer.add([record("a"), record("b")])
    assert [r.record_id for r in buffer.take()] == ["a"]


def test_records_no_filter_accepts_are_returned_not_buffered() -> None:
    criteria = parse_filter_criteria(
        {"Filters": [{"Pattern": json.dumps({"body": {"keep": [True]}})}]}, EventSourceKind.SQS
    )
    buffer = RecordBuffer(BatchPolicy(), criteria)
    dropped = buffer.add([record("a", '{"keep": true}'), record("b", '{"keep": false}')])
    assert [r.record_id for r in dropped] == ["b"]
    assert [r.record_id for r in buffer.take()] == ["a"]


def test_reconfigure_changes_the_batch_size_of_the_next_batch() -> None:
    buffer = RecordBuffer(BatchPolicy(batch_size=1, window_s=60))
    buffer.add([record("a"), record("b")])
    buffer.reconfigure(BatchPolicy(batch_size=2, window_s=60), None)
    assert [r.record_id for r in buffer.take()] == ["a", "b"]
