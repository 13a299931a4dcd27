"""The internal invoke request between nodes: what a frontend sends and a worker host answers."""

from __future__ import annotations

import json

import pytest

from roost.api.errors import AwsError
from roost.cluster.invoke_wire import (
    RemoteInvocation,
    UnauthorizedNode,
    check_secret,
    parse_request,
    parse_response,
    request_headers,
    response_of,
)
from roost.worker.environment import InvokeOutcome
from roost.worker.runtime_api import Invocation

REMOTE = RemoteInvocation(
    account_id="111111111111",
    function_name="fn",
    version="3",
    revision_id="rev-1",
    network=False,
    invocation=Invocation(
        request_id="req-1",
        payload=b'{"x": 1}',
        deadline_ms=1_767_225_600_000,
        invoked_function_arn="arn:aws:lambda:us-east-1:111111111111:function:fn:live",
        trace_id="Root=1-abc",
        client_context='{"custom": {"ü": 1}}',
    ),
)


def test_a_request_round_trips_with_its_client_context() -> None:
    headers = request_headers(REMOTE, "s3cret")

    parsed = parse_request(headers, REMOTE.invocation.payload)

    assert parsed == REMOTE
    check_secret(headers, "s3cret")


@pytest.mark.parametrize("secret", ["", "other"])
def test_a_request_without_the_clusters_secret_is_refused(secret: str) -> None:
    headers = request_headers(REMOTE, "s3cret")

    with pytest.raises(UnauthorizedNode) as caught:
        check_secret(headers, secret) if secret else check_secret({}, "s3cret")

    assert caught.value.status == 403


def test_a_malformed_request_is_an_aws_error() -> None:
    headers = request_headers(REMOTE, "s")
    del headers["x-roost-deadline-ms"]

    with pytest.raises(AwsError) as caught:
        parse_request(headers, b"")

    assert caught.value.error_code == "InvalidRequestContentException"


def test_an_outcome_round_trips_payload_log_and_error() -> None:
    outcome = InvokeOutcome(
        payload=b'{"errorType": "Boom"}',
        function_error="Unhandled",
        log=b"START RequestId: req-1\nEND\n",
        duration_ms=12.5,
        init_duration_ms=80.25,
    )
    headers, body = response_of(outcome)

    assert parse_response(200, headers, body) == outcome


def test_an_error_answer_becomes_the_same_aws_error() -> None:
    body = json.dumps(
        {"Type": "User", "message": "Rate Exceeded.", "Reason": "ConcurrentInvocationLimitExceeded"}
    ).encode()
    headers = {"x-amzn-errortype": "TooManyRequestsException"}

    with pytest.raises(AwsError) as caught:
        parse_response(429, headers, body)

    assert caught.value.error_code == "TooManyRequestsException"
    assert caught.value.status == 429
    assert caught.value.fields == {"Reason": "ConcurrentInvocationLimitExceeded"}
