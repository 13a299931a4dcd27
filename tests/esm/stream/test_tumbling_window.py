"""Tumbling windows: boundaries, the event a function sees, state carried, final invokes."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

from roost.esm.connector import SourceRecord, json_size, records_payload
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE, SHARD_ID_ATTRIBUTE
from roost.esm.stream.tumbling_window import (
    MAX_STATE_BYTES,
    TumblingWindows,
    Window,
    window_timestamp,
)

SHARD = "shardId-000000000006"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/lambda-stream"
# 2020-12-09T07:04:00Z, the start of the window in AWS's example event.
T0 = 1607497440


def record(seq: int, arrived_s: float | None) -> SourceRecord:
    event = {"kinesis": {"sequenceNumber": str(seq), "partitionKey": "1"}, "eventSource": "x"}
    attributes = {SHARD_ID_ATTRIBUTE: SHARD}
    if arrived_s is not None:
        attributes[ARRIVAL_ATTRIBUTE] = repr(arrived_s)
    return SourceRecord(str(seq), event, json_size(event), SHARD, attributes=attributes)


def answer(state: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"state": state, **extra}).encode()


def windows(length_s: int = 120, **kwargs: Any) -> TumblingWindows:
    return TumblingWindows(length_s, SHARD, STREAM_ARN, **kwargs)


def test_window_is_aligned_to_epoch_multiples_of_its_length() -> None:
    window = Window.containing(T0 + 35.5, 120)

    assert window == Window(T0, T0 + 120)
    assert window.to_event() == {"start": "2020-12-09T07:04:00Z", "end": "2020-12-09T07:06:00Z"}
    # The end is exclusive: a record stamped on it opens the next window.
    assert Window.containing(T0 + 120, 120) == Window(T0 + 120, T0 + 240)
    assert window_timestamp(0) == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("length_s", [0, -1, 901])
def test_window_length_outside_1_to_900_is_refused(length_s: int) -> None:
    with pytest.raises(ValueError, match="1-900"):
        windows(length_s)


def test_a_batch_spanning_windows_is_split_into_one_run_per_window() -> None:
    records = [
        record(1, T0 + 1),
        record(2, T0 + 119.999),
        record(3, T0 + 120),
        record(4, T0 + 500),
    ]

    runs = windows().runs(records)

    assert [run.window.start_s for run in runs] == [T0, T0 + 120, T0 + 480]
    assert [[r.record_id for r in run.records] for run in runs] == [["1", "2"], ["3"], ["4"]]
    assert windows().split(records) == [run.records for run in runs]


def test_a_record_stamped_before_the_window_in_progress_joins_it() -> None:
    # Arrival stamps are approximate: a late stamp must not reopen a past window.
    runs = windows().runs([record(1, T0 + 130), record(2, T0 + 110), record(3, T0 + 131)])

    assert len(runs) == 1
    assert runs[0].window == Window(T0 + 120, T0 + 240)


def test_first_invoke_of_a_window_gets_empty_state_and_aws_members() -> None:
    lanes = windows()
    [run] = lanes.runs([record(1, T0 + 5)])

    event = lanes.event(records_payload(run.records), run.window)

    assert event["Records"] == [run.records[0].event_record]
    assert {k: v for k, v in event.items() if k != "Records"} == {
        "window": {"start": "2020-12-09T07:04:00Z", "end": "2020-12-09T07:06:00Z"},
        "state": {},
        "shardId": SHARD,
        "eventSourceARN": STREAM_ARN,
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }


def test_state_returned_is_carried_into_the_next_invoke_of_the_same_window() -> None:
    lanes = windows()
    first, second = (lanes.runs([record(n, T0 + n)])[0] for n in (1, 2))

    lanes.event(records_payload(first.records), first.window)
    outcome = lanes.absorb(answer({"1": 282}))
    event = lanes.event(records_payload(second.records), second.window)

    assert outcome.succeeded and not outcome.window_closed
    assert event["state"] == {"1": 282}
    assert lanes.open_window == first.window


def test_a_failed_invoke_is_retried_with_the_state_it_had() -> None:
    lanes = windows()
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)
    lanes.absorb(answer({"n": 1}))

    # The worker builds the event, the invoke fails, so it never calls absorb.
    lanes.event({"Records": []}, window)
    retry = lanes.event({"Records": []}, window)

    assert retry["state"] == {"n": 1}


@pytest.mark.parametrize(
    "response",
    [b"", b"null", b'{"batchItemFailures": []}', b'{"state": [1]}', b"not json"],
)
def test_a_response_without_a_state_object_is_a_failed_invoke(response: bytes) -> None:
    lanes = windows()
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)

    outcome = lanes.absorb(response)

    assert not outcome.succeeded
    assert outcome.error is not None
    assert lanes.open_window is None
    # The batch is retried: the same event can be answered properly afterwards.
    assert lanes.absorb(answer({"n": 1})).succeeded


def test_batch_item_failures_are_passed_back_and_state_kept() -> None:
    lanes = windows()
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)

    outcome = lanes.absorb(answer({"n": 2}, batchItemFailures=[{"itemIdentifier": "7"}]))

    assert outcome.succeeded
    assert outcome.batch_item_failures == [{"itemIdentifier": "7"}]
    assert lanes.state == {"n": 2}


def test_reading_a_later_window_makes_the_final_invoke_due_with_the_state() -> None:
    lanes = windows()
    [first] = lanes.runs([record(1, T0 + 1)])
    lanes.event(records_payload(first.records), first.window)
    lanes.absorb(answer({"count": 1}))
    [later] = lanes.runs([record(2, T0 + 125)])

    due = lanes.due_final(T0 + 125, next_window=later.window)
    final = lanes.event(records_payload([]), first.window, final=True)
    closed = lanes.absorb(answer({}))
    after = lanes.event(records_payload(later.records), later.window)

    assert due == first.window
    assert final["Records"] == []
    assert final["state"] == {"count": 1}
    assert final["isFinalInvokeForWindow"] is True
    assert final["isWindowTerminatedEarly"] is False
    assert closed.window_closed
    assert after["state"] == {}
    assert after["window"]["start"] == "2020-12-09T07:06:00Z"


def test_final_invoke_comes_when_the_clock_passes_the_window_end() -> None:
    lanes = windows(close_delay_s=1.0)
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)
    lanes.absorb(answer({"count": 1}))

    assert lanes.due_final(T0 + 119) is None
    assert lanes.due_final(T0 + 120.5) is None  # records stamped 07:05:59 may be unread
    assert lanes.due_final(T0 + 121) == window
    assert lanes.due_final(T0 + 5, next_window=window) is None  # same window: no final


def test_final_invoke_comes_when_the_shard_ends() -> None:
    lanes = windows()
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)
    lanes.absorb(answer({"count": 1}))

    assert lanes.due_final(T0 + 10, shard_ended=True) == window


def test_no_final_invoke_without_an_aggregation_invoke() -> None:
    lanes = windows()

    assert lanes.due_final(T0 + 10_000, shard_ended=True) is None
    with pytest.raises(ValueError, match="no open window"):
        lanes.event({"Records": []}, Window.containing(T0, 120), final=True)


def test_failed_final_invoke_is_retried_with_the_same_state() -> None:
    lanes = windows()
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)
    lanes.absorb(answer({"count": 3}))

    lanes.event({"Records": []}, window, final=True)  # the invoke fails
    again = lanes.event({"Records": []}, window, final=True)

    assert again["state"] == {"count": 3}
    assert lanes.due_final(T0 + 200) == window


def test_a_late_record_of_a_closed_window_goes_to_the_next_window() -> None:
    lanes = windows()
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)
    lanes.absorb(answer({}))
    lanes.event({"Records": []}, window, final=True)
    lanes.absorb(answer({}))

    [run] = lanes.runs([record(9, T0 + 100)])

    assert run.window == Window(T0 + 120, T0 + 240)


def test_state_over_1_mb_terminates_the_window_early_and_it_goes_on_afresh() -> None:
    lanes = windows(max_state_bytes=64)
    window = Window.containing(T0, 120)
    big = {"blob": "x" * 100}
    lanes.event({"Records": []}, window)

    outcome = lanes.absorb(answer(big))
    due = lanes.due_final(T0 + 1)
    final = lanes.event({"Records": []}, window, final=True)
    lanes.absorb(answer({}))
    [run] = lanes.runs([record(5, T0 + 2)])
    next_invoke = lanes.event(records_payload(run.records), run.window)

    assert outcome.succeeded and outcome.terminated_early
    assert due == window
    assert final["isFinalInvokeForWindow"] is True
    assert final["isWindowTerminatedEarly"] is True
    assert final["state"] == big
    # The same window continues with a fresh state, and is closed normally later.
    assert run.window == window
    assert next_invoke["state"] == {}
    assert next_invoke["isWindowTerminatedEarly"] is False
    lanes.absorb(answer({"n": 1}))
    assert lanes.due_final(T0 + 10) is None
    assert lanes.due_final(T0 + 200) == window


def test_default_state_limit_is_one_megabyte() -> None:
    lanes = windows()
    window = Window.containing(T0, 120)
    lanes.event({"Records": []}, window)

    under = lanes.absorb(answer({"s": "x" * (MAX_STATE_BYTES - 100)}))
    lanes.event({"Records": []}, window)
    over = lanes.absorb(answer({"s": "x" * MAX_STATE_BYTES}))

    assert not under.terminated_early
    assert over.terminated_early


def test_records_without_an_arrival_stamp_stay_in_the_window_in_progress() -> None:
    runs = windows().runs([record(1, T0 + 3), record(2, None)])

    assert len(runs) == 1
    assert runs[0].window == Window(T0, T0 + 120)


def test_absorb_without_an_event_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        windows().absorb(answer({}))


def test_a_record_without_an_arrival_stamp_opens_the_window_of_its_read_time() -> None:
    # Read now (adapters stamp reads with time.monotonic()), no window in progress.
    unstamped = dataclasses.replace(record(1, None), received_at_s=time.monotonic())

    [run] = windows().runs([unstamped])

    assert run.window == Window.containing(time.time(), 120)
