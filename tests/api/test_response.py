"""Tests for ``render_output`` and ``render_error``, read back with botocore's parser."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import botocore.awsrequest
import botocore.parsers
import pytest

from roost.api.errors import (
    AwsError,
    InvalidParameterValueException,
    ResourceNotFoundException,
    ServiceException,
    TooManyRequestsException,
    UnsupportedOperationException,
    ValidationException,
)
from roost.api.model import Operation, operation_table, service_model
from roost.api.response import WireResponse, render_error, render_output

MOMENT = dt.datetime(2024, 5, 1, 12, 0, 30, tzinfo=dt.UTC)
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"


def operation(name: str) -> Operation:
    return operation_table().by_name[name]


def botocore_reads(wire: WireResponse, shape: Any) -> dict[str, Any]:
    """What a botocore client parses from ``wire`` (``shape`` None for an error)."""
    response = {
        "status_code": wire.status,
        "headers": botocore.awsrequest.HeadersDict(wire.headers),
        "body": wire.body,
    }
    parsed: dict[str, Any] = botocore.parsers.create_parser("rest-json").parse(response, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def botocore_reads_error(wire: WireResponse) -> dict[str, Any]:
    """The error as a client sees it: generic parse plus the modeled fields, as botocore does."""
    parsed = botocore_reads(wire, service_model().operation_model("GetFunction").output_shape)
    shape = service_model().shape_for_error_code(parsed["Error"]["Code"])
    if shape is not None:
        parsed.update(botocore_reads(wire, shape))
    return parsed


# --- render_output --------------------------------------------------------------------


def test_invoke_payload_is_the_raw_body_and_members_are_headers() -> None:
    payload = b'{"ok": true, "bytes": "\\u00ff"}'
    output = {
        "StatusCode": 200,
        "Payload": payload,
        "ExecutedVersion": "$LATEST",
        "FunctionError": "Unhandled",
        "LogResult": "bG9n",
    }

    wire = render_output(operation("Invoke"), output)

    assert wire.status == 200
    assert wire.body == payload
    assert wire.headers["X-Amz-Executed-Version"] == "$LATEST"
    assert wire.headers["X-Amz-Function-Error"] == "Unhandled"
    assert wire.headers["X-Amz-Log-Result"] == "bG9n"
    parsed = botocore_reads(wire, operation("Invoke").model.output_shape)
    assert parsed.pop("Payload") == payload.decode()  # The parser decodes non-streaming blobs.
    assert parsed == {k: v for k, v in output.items() if k != "Payload"}


def test_binary_invoke_payload_is_not_reencoded() -> None:
    payload = bytes(range(256))

    wire = render_output(operation("Invoke"), {"StatusCode": 200, "Payload": payload})

    assert wire.body == payload


def test_status_code_member_sets_the_http_status() -> None:
    wire = render_output(operation("Invoke"), {"StatusCode": 202, "Payload": b""})

    assert wire.status == 202
    assert wire.body == b""
    assert botocore_reads(wire, operation("Invoke").model.output_shape)["StatusCode"] == 202


def test_204_has_an_empty_body_even_with_a_payload() -> None:
    wire = render_output(
        operation("Invoke"),
        {"StatusCode": 204, "Payload": b"ignored", "ExecutedVersion": "1"},
    )

    assert wire.status == 204
    assert wire.body == b""
    assert wire.headers == {"X-Amz-Executed-Version": "1"}


def test_delete_function_status_code_member_gives_204_without_body() -> None:
    wire = render_output(operation("DeleteFunction"), {"StatusCode": 204})

    assert (wire.status, wire.body) == (204, b"")


@pytest.mark.parametrize("name", ["DeleteAlias", "TagResource", "UntagResource"])
def test_operation_without_output_shape_gets_its_model_status_and_no_body(name: str) -> None:
    wire = render_output(operation(name), {})

    assert wire.status == 204
    assert wire.body == b""
    assert wire.headers == {}


def test_json_output_uses_the_model_success_status() -> None:
    output = {"AliasArn": FUNCTION_ARN + ":live", "Name": "live", "FunctionVersion": "1"}

    wire = render_output(operation("CreateAlias"), output)

    assert wire.status == 201
    assert wire.headers["Content-Type"] == "application/json"
    assert json.loads(wire.body) == output
    assert botocore_reads(wire, operation("CreateAlias").model.output_shape) == output


def test_none_and_unknown_members_are_left_out() -> None:
    output = {"Name": "live", "Description": None, "NotInTheModel": "x"}

    wire = render_output(operation("GetAlias"), output)

    assert json.loads(wire.body) == {"Name": "live"}


def test_empty_json_output_is_an_empty_object() -> None:
    wire = render_output(operation("GetFunctionConcurrency"), {})

    assert (wire.status, wire.body) == (200, b"{}")


def test_datetime_is_rendered_as_epoch_seconds() -> None:
    output = {"FunctionArn": FUNCTION_ARN, "LastModified": MOMENT, "MaximumRetryAttempts": 1}

    wire = render_output(operation("GetFunctionEventInvokeConfig"), output)

    body = json.loads(wire.body)
    assert body["LastModified"] == MOMENT.timestamp() == 1714564830
    assert isinstance(body["LastModified"], int | float)
    parsed = botocore_reads(wire, operation("GetFunctionEventInvokeConfig").model.output_shape)
    assert parsed["LastModified"] == MOMENT


def test_datetime_inside_a_list_of_structures_is_rendered_too() -> None:
    mappings = [
        {"UUID": "14e0db71-5d35-4eb5-b481-8945cf9d10c2", "LastModified": MOMENT, "BatchSize": 10},
        {"UUID": "24e0db71-5d35-4eb5-b481-8945cf9d10c2", "State": "Enabled"},
    ]

    wire = render_output(operation("ListEventSourceMappings"), {"EventSourceMappings": mappings})

    body = json.loads(wire.body)
    assert body["EventSourceMappings"][0]["LastModified"] == MOMENT.timestamp()
    parsed = botocore_reads(wire, operation("ListEventSourceMappings").model.output_shape)
    assert parsed["EventSourceMappings"] == mappings


def test_nested_maps_and_lists_round_trip_through_botocore() -> None:
    output = {
        "FunctionName": "my-fn",
        "Environment": {"Variables": {"A": "1", "B": "héllo"}},
        "Architectures": ["arm64"],
        "Layers": [{"Arn": "arn:aws:lambda:us-east-1:123456789012:layer:l:1", "CodeSize": 5}],
        "Timeout": 3,
    }

    wire = render_output(operation("GetFunctionConfiguration"), output)

    shape = operation("GetFunctionConfiguration").model.output_shape
    assert botocore_reads(wire, shape) == output


# --- render_error ---------------------------------------------------------------------


def body_of(wire: WireResponse) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(wire.body)
    return document


def test_error_headers() -> None:
    wire = render_error(ResourceNotFoundException("Function not found: x"), "req-1")

    assert wire.status == 404
    assert wire.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert wire.headers["x-amzn-RequestId"] == "req-1"
    assert wire.headers["Content-Type"] == "application/json"
    assert "Retry-After" not in wire.headers


def test_resource_not_found_uses_capital_message_as_its_shape_does() -> None:
    wire = render_error(ResourceNotFoundException(f"Function not found: {FUNCTION_ARN}"), "r")

    assert body_of(wire) == {"Type": "User", "Message": f"Function not found: {FUNCTION_ARN}"}


def test_invalid_parameter_value_uses_lowercase_message_as_its_shape_does() -> None:
    wire = render_error(InvalidParameterValueException("bad value"), "r")

    assert wire.status == 400
    assert body_of(wire) == {"Type": "User", "message": "bad value"}


def test_error_code_outside_the_model_uses_lowercase_message() -> None:
    wire = render_error(ValidationException("1 validation error detected: ..."), "r")

    assert wire.status == 400
    assert wire.headers["x-amzn-ErrorType"] == "ValidationException"
    assert body_of(wire) == {"Type": "User", "message": "1 validation error detected: ..."}


@pytest.mark.parametrize(
    ("error", "status"),
    [(ServiceException("Internal failure."), 500), (UnsupportedOperationException("X"), 501)],
)
def test_5xx_errors_are_server_type(error: AwsError, status: int) -> None:
    wire = render_error(error, "r")

    assert wire.status == status
    assert body_of(wire)["Type"] == "Server"


def test_service_exception_uses_capital_message() -> None:
    assert body_of(render_error(ServiceException("Internal failure."), "r")) == {
        "Type": "Server",
        "Message": "Internal failure.",
    }


def test_too_many_requests_carries_reason_and_retry_after() -> None:
    error = TooManyRequestsException(
        "Rate Exceeded.",
        fields={
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            "retryAfterSeconds": "1",
        },
    )

    wire = render_error(error, "r")

    assert wire.status == 429
    assert wire.headers["Retry-After"] == "1"
    assert body_of(wire) == {
        "Type": "User",
        "message": "Rate Exceeded.",
        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        "retryAfterSeconds": "1",
    }


def test_extra_fields_without_retry_after_add_no_header() -> None:
    error = TooManyRequestsException("Rate Exceeded.", fields={"Reason": "CallerRateLimitExceeded"})

    wire = render_error(error, "r")

    assert "Retry-After" not in wire.headers
    assert body_of(wire)["Reason"] == "CallerRateLimitExceeded"


@pytest.mark.parametrize(
    "error",
    [
        ResourceNotFoundException("Function not found: x"),
        InvalidParameterValueException("bad value"),
        ServiceException("Internal failure."),
        ValidationException("1 validation error detected: ..."),
    ],
    ids=lambda e: type(e).__name__,
)
def test_botocore_reads_the_code_and_message(error: AwsError) -> None:
    parsed = botocore_reads_error(render_error(error, "r"))

    assert parsed["Error"]["Code"] == error.error_code
    assert parsed["Error"]["Message"] == error.message


def test_botocore_reads_the_modeled_fields_of_a_throttle() -> None:
    error = TooManyRequestsException(
        "Rate Exceeded.",
        fields={"Reason": "ConcurrentInvocationLimitExceeded", "retryAfterSeconds": "2"},
    )

    parsed = botocore_reads_error(render_error(error, "r"))

    assert parsed["Error"]["Code"] == "TooManyRequestsException"
    assert parsed["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert parsed["retryAfterSeconds"] == "2"
    assert parsed["Type"] == "User"
