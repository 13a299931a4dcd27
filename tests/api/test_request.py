"""Tests for ``parse_input``: URI, query, header and body members per the model.

Most requests are built by botocore (see ``tests.api``), so what is parsed is what
a real SDK sends; malformed input is then written by hand.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from roost.api.errors import InvalidParameterValueException, InvalidRequestContentException
from roost.api.model import RouteMatch, operation_table
from roost.api.request import parse_input
from tests.api import SentRequest, botocore_request

ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def route(sent: SentRequest) -> RouteMatch:
    found = operation_table().match(sent.method, sent.raw_path, sent.query)
    assert found is not None
    return found


def parse_sent(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """What Roost parses from the request botocore sends for ``params``."""
    sent = botocore_request(operation, params)
    found = route(sent)
    assert found.operation.name == operation
    return parse_input(found, sent.query, sent.headers, sent.body)


def parse_raw(
    method: str,
    path: str,
    body: bytes = b"",
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What Roost parses from a hand-written request."""
    query = query or {}
    found = operation_table().match(method, path, query)
    assert found is not None
    return parse_input(found, query, headers or {}, body)


# --- round trips of what botocore sends ------------------------------------------------


def test_create_function_body_round_trips_with_the_zip_decoded() -> None:
    zip_bytes = b"PK\x03\x04\x00\xff binary zip"
    params = {
        "FunctionName": "my-fn",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": zip_bytes},
        "Timeout": 30,
        "MemorySize": 256,
        "Publish": True,
        "Environment": {"Variables": {"GREETING": "héllo"}},
        "Architectures": ["arm64"],
        "EphemeralStorage": {"Size": 1024},
        "Tags": {"team": "core"},
    }

    parsed = parse_sent("CreateFunction", params)

    assert parsed == params
    assert isinstance(parsed["Code"]["ZipFile"], bytes)


def test_update_function_code_decodes_a_top_level_blob() -> None:
    params = {"FunctionName": "my-fn", "ZipFile": b"\x00\x01\x02", "Publish": False}

    assert parse_sent("UpdateFunctionCode", params) == params


def test_uri_label_is_decoded_and_wins_over_a_body_member_of_the_same_name() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod"
    sent = botocore_request("UpdateFunctionConfiguration", {"FunctionName": arn, "Timeout": 5})
    body = json.dumps({"FunctionName": "someone-else", "Timeout": 5}).encode()

    parsed = parse_input(route(sent), sent.query, sent.headers, body)

    assert parsed == {"FunctionName": arn, "Timeout": 5}


def test_invoke_reads_headers_query_and_the_raw_payload() -> None:
    payload = b"\x00\xff not json at all"
    params = {
        "FunctionName": "my-fn",
        "InvocationType": "Event",
        "LogType": "Tail",
        "ClientContext": base64.b64encode(b'{"custom":{}}').decode(),
        "Qualifier": "live",
        "Payload": payload,
    }

    parsed = parse_sent("Invoke", params)

    assert parsed == params
    assert parsed["Payload"] is not None and parsed["Payload"] == payload


def test_invoke_without_payload_gets_empty_bytes() -> None:
    assert parse_sent("Invoke", {"FunctionName": "my-fn"}) == {
        "FunctionName": "my-fn",
        "Payload": b"",
    }


def test_headers_are_looked_up_by_their_lowercased_wire_name() -> None:
    parsed = parse_raw(
        "POST",
        "/2015-03-31/functions/my-fn/invocations",
        body=b"{}",
        headers={"x-amz-invocation-type": "DryRun", "x-amz-log-type": "None"},
    )

    assert parsed["InvocationType"] == "DryRun"
    assert parsed["LogType"] == "None"


def test_invoke_async_takes_the_raw_body_as_its_streaming_blob() -> None:
    params = {"FunctionName": "my-fn", "InvokeArgs": b'{"key": "value"}'}

    assert parse_sent("InvokeAsync", params) == params


def test_structure_payload_is_parsed_as_json() -> None:
    error = {"ErrorMessage": "boom", "ErrorType": "Crash", "StackTrace": ["a", "b"]}
    params = {"CallbackId": "Y2Fs/bGJh+Y2s==", "Error": error}

    assert parse_sent("SendDurableExecutionCallbackFailure", params) == params


def test_empty_body_gives_only_the_uri_members() -> None:
    assert parse_raw("POST", "/2015-03-31/functions/my-fn/versions") == {"FunctionName": "my-fn"}


def test_unknown_body_members_are_ignored() -> None:
    body = json.dumps({"Description": "d", "NotAMember": 1}).encode()

    parsed = parse_raw("POST", "/2015-03-31/functions/my-fn/versions", body)

    assert parsed == {"FunctionName": "my-fn", "Description": "d"}


# --- query conversion ----------------------------------------------------------------


def test_integer_query_member_is_converted() -> None:
    parsed = parse_sent("ListFunctions", {"MaxItems": 5, "Marker": "abc"})

    assert parsed == {"MaxItems": 5, "Marker": "abc"}


def test_non_integer_max_items_is_an_invalid_parameter_value() -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        parse_raw("GET", "/2015-03-31/functions", query={"MaxItems": ["abc"]})

    assert caught.value.status == 400
    assert caught.value.error_code == "InvalidParameterValueException"
    assert "MaxItems" in caught.value.message
    assert "abc" in caught.value.message


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("FALSE", False), ("True", True)])
def test_boolean_query_member_is_converted(raw: str, value: bool) -> None:
    path = "/2025-12-01/durable-executions/exec/history"

    parsed = parse_raw("GET", path, query={"IncludeExecutionData": [raw]})

    assert parsed["IncludeExecutionData"] is value


def test_botocore_booleans_in_the_query_are_understood() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn:1/durable-execution/run-1/ab12"
    params = {"DurableExecutionArn": arn, "IncludeExecutionData": True, "ReverseOrder": False}

    assert parse_sent("GetDurableExecutionHistory", params) == params


def test_non_boolean_query_value_is_an_invalid_parameter_value() -> None:
    with pytest.raises(InvalidParameterValueException):
        parse_raw(
            "GET",
            "/2025-12-01/durable-executions/exec/history",
            query={"IncludeExecutionData": ["yes"]},
        )


def test_list_query_member_collects_every_value() -> None:
    resource = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
    params = {"Resource": resource, "TagKeys": ["team", "cost center"]}

    assert parse_sent("UntagResource", params) == params


def test_last_value_of_a_repeated_scalar_query_member_wins() -> None:
    parsed = parse_raw("GET", "/2015-03-31/functions", query={"MaxItems": ["1", "7"]})

    assert parsed == {"MaxItems": 7}


def test_query_literals_are_not_input_members() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3"

    assert parse_sent("GetLayerVersionByArn", {"Arn": arn}) == {"Arn": arn}


# --- malformed bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"Timeout": }', b"\xff\xfe\x00garbage", b'{"a": 1'],
    ids=["bare-word", "missing-value", "not-utf8", "unterminated"],
)
def test_malformed_json_is_invalid_request_content(body: bytes) -> None:
    with pytest.raises(InvalidRequestContentException) as caught:
        parse_raw("PUT", "/2015-03-31/functions/my-fn/configuration", body)

    assert caught.value.status == 400
    assert caught.value.message.startswith("Could not parse request body into json")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null", b"42"])
def test_body_that_is_not_an_object_is_invalid_request_content(body: bytes) -> None:
    with pytest.raises(InvalidRequestContentException):
        parse_raw("PUT", "/2015-03-31/functions/my-fn/configuration", body)


@pytest.mark.parametrize("zip_file", ["not base64!", "QU=JD", "QUJ"])
def test_invalid_base64_in_a_blob_is_invalid_request_content(zip_file: str) -> None:
    body = json.dumps({"FunctionName": "my-fn", "Role": ROLE, "Code": {"ZipFile": zip_file}})

    with pytest.raises(InvalidRequestContentException):
        parse_raw("POST", "/2015-03-31/functions", body.encode())


def test_blob_with_a_non_string_value_is_left_for_validation() -> None:
    body = json.dumps({"FunctionName": "my-fn", "ZipFile": 123}).encode()

    parsed = parse_raw("PUT", "/2015-03-31/functions/my-fn/code", body)

    assert parsed["ZipFile"] == 123


def test_malformed_json_payload_of_a_structure_payload_is_invalid_request_content() -> None:
    with pytest.raises(InvalidRequestContentException):
        parse_raw("POST", "/2025-12-01/durable-execution-callbacks/cb/fail", b"{oops")


def test_malformed_invoke_payload_is_passed_through_untouched() -> None:
    parsed = parse_raw("POST", "/2015-03-31/functions/my-fn/invocations", b"{oops")

    assert parsed["Payload"] == b"{oops"
