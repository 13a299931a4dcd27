"""Invocation records and dead-letter messages, field by field against AWS's documented shapes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from roost.destinations.records import (
    DLQ_ERROR_MESSAGE_MAX_BYTES,
    AsyncEvent,
    Condition,
    InvocationResult,
    dead_letter_message,
    encode_record,
    invocation_record,
    record_timestamp,
)

FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:orders:$LATEST"
REQUEST_ID = "3f1c2a4e-6b0d-4c1e-9a57-0c2d1e8b7a11"
NOW = dt.datetime(2026, 11, 27, 13, 45, 1, 234567, tzinfo=dt.UTC)
EVENT = AsyncEvent(
    request_id=REQUEST_ID,
    function_arn=FUNCTION_ARN,
    payload=b'{"order_ids": ["a-1", "b-2"]}',
    approximate_invoke_count=1,
)


def test_timestamp_is_utc_with_milliseconds_and_z() -> None:
    assert record_timestamp(NOW) == "2026-11-27T13:45:01.234Z"
    paris = dt.timezone(dt.timedelta(hours=1))
    assert record_timestamp(NOW.astimezone(paris)) == "2026-11-27T13:45:01.234Z"


def test_success_record_has_aws_shape() -> None:
    # Given an event that ran once on $LATEST and returned a JSON object
    result = InvocationResult(payload=b'{"status": "ok"}', executed_version="$LATEST")

    # When its record is built
    record = invocation_record(EVENT, Condition.SUCCESS, result, now=NOW)

    # Then it has exactly AWS's fields, with no functionError
    assert list(record) == [
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    ]
    assert record["version"] == "1.0"
    assert record["timestamp"] == "2026-11-27T13:45:01.234Z"
    assert record["requestContext"] == {
        "requestId": REQUEST_ID,
        "functionArn": FUNCTION_ARN,
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"order_ids": ["a-1", "b-2"]}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"status": "ok"}


def test_retries_exhausted_record_matches_the_documented_failure_example() -> None:
    # Given an event whose three attempts all ended in an unhandled error
    event = AsyncEvent(REQUEST_ID, FUNCTION_ARN, EVENT.payload, approximate_invoke_count=3)
    error = {"errorMessage": f"RequestId: {REQUEST_ID} Process exited before completing request"}
    result = InvocationResult(
        status_code=200,
        payload=json.dumps(error).encode(),
        function_error="Unhandled",
        executed_version="$LATEST",
    )

    # When its record is built
    record = invocation_record(event, Condition.RETRIES_EXHAUSTED, result, now=NOW)

    # Then every field is where AWS's example (Lambda developer guide, "Capturing
    # records of Lambda asynchronous invocations") puts it
    assert record == {
        "version": "1.0",
        "timestamp": "2026-11-27T13:45:01.234Z",
        "requestContext": {
            "requestId": REQUEST_ID,
            "functionArn": FUNCTION_ARN,
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"order_ids": ["a-1", "b-2"]},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": error,
    }


def test_event_age_exceeded_after_an_attempt_reports_that_attempt() -> None:
    event = AsyncEvent(REQUEST_ID, FUNCTION_ARN, EVENT.payload, approximate_invoke_count=2)
    error = {"errorType": "ValueError", "errorMessage": "boom", "stackTrace": []}
    result = InvocationResult(
        payload=json.dumps(error).encode(), function_error="Unhandled", executed_version="7"
    )

    record = invocation_record(event, Condition.EVENT_AGE_EXCEEDED, result, now=NOW)

    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "7",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"] == error


def test_event_age_exceeded_without_an_attempt_has_no_response() -> None:
    # Given an event that expired while throttled: nothing ever ran
    event = AsyncEvent(REQUEST_ID, FUNCTION_ARN, EVENT.payload, approximate_invoke_count=0)

    record = invocation_record(event, Condition.EVENT_AGE_EXCEEDED, None, now=NOW)

    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    assert "responsePayload" not in record


def test_throttled_last_attempt_has_its_status_and_no_version() -> None:
    result = InvocationResult(status_code=429, payload=b'{"Reason": "ReservedFunctionConcurrency"}')

    record = invocation_record(EVENT, Condition.EVENT_AGE_EXCEEDED, result, now=NOW)

    assert record["responseContext"] == {"statusCode": 429}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"null", None), (b"", None), (b'"text"', "text"), (b"not json", "not json"), (b"42", 42)],
)
def test_payloads_that_are_not_objects(payload: bytes, expected: object) -> None:
    result = InvocationResult(payload=payload, executed_version="$LATEST")
    event = AsyncEvent(REQUEST_ID, FUNCTION_ARN, payload, 1)

    record = invocation_record(event, Condition.SUCCESS, result, now=NOW)

    assert record["requestPayload"] == expected
    assert record["responsePayload"] == expected


def test_encoded_record_is_compact_json_that_round_trips() -> None:
    record = invocation_record(EVENT, Condition.SUCCESS, InvocationResult(), now=NOW)
    text = encode_record(record)

    assert json.loads(text) == record
    assert "\n" not in text


def test_condition_knows_failures() -> None:
    assert not Condition.SUCCESS.is_failure
    assert Condition.RETRIES_EXHAUSTED.is_failure
    assert Condition.EVENT_AGE_EXCEEDED.is_failure
    assert Condition("RetriesExhausted") is Condition.RETRIES_EXHAUSTED


def test_dead_letter_message_is_the_event_with_documented_attributes() -> None:
    # Given an event that failed with an unhandled error
    result = InvocationResult(
        payload=b'{"errorMessage": "boom", "errorType": "ValueError"}',
        function_error="Unhandled",
        executed_version="$LATEST",
    )

    message = dead_letter_message(EVENT, Condition.RETRIES_EXHAUSTED, result)

    # Then the body is the event unchanged and the attributes are AWS's three
    assert message.body == '{"order_ids": ["a-1", "b-2"]}'
    assert message.attributes == {
        "RequestID": {"DataType": "String", "StringValue": REQUEST_ID},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
    }


def test_dead_letter_error_message_is_truncated_to_1_kb_on_a_character_boundary() -> None:
    long_message = "é" * 2000  # two bytes each in UTF-8
    result = InvocationResult(payload=json.dumps({"errorMessage": long_message}).encode())

    message = dead_letter_message(EVENT, Condition.RETRIES_EXHAUSTED, result)

    text = message.attributes["ErrorMessage"]["StringValue"]
    assert len(text.encode()) == DLQ_ERROR_MESSAGE_MAX_BYTES
    assert set(text) == {"é"}


def test_dead_letter_without_an_attempt_reports_a_throttle() -> None:
    message = dead_letter_message(EVENT, Condition.EVENT_AGE_EXCEEDED, None)

    assert message.attributes["ErrorCode"]["StringValue"] == "429"
    assert "EventAgeExceeded" in message.attributes["ErrorMessage"]["StringValue"]


def test_dead_letter_error_message_of_a_non_error_payload_is_its_text() -> None:
    result = InvocationResult(status_code=500, payload=b'{"Message": "internal"}')

    message = dead_letter_message(EVENT, Condition.RETRIES_EXHAUSTED, result)

    assert message.attributes["ErrorCode"]["StringValue"] == "500"
    assert json.loads(message.attributes["ErrorMessage"]["StringValue"]) == {"Message": "internal"}
