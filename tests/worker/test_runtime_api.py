"""The Runtime API of an execution environment: status codes, headers and bodies.

The test plays the runtime client: the environment runs a ``bootstrap`` that
only publishes its ``AWS_LAMBDA_RUNTIME_API`` and sleeps, and the test speaks
HTTP to it. Expected answers are those of AWS's runtime API reference and of its
runtime interface emulator: 200 for ``/next`` with the ``Lambda-Runtime-*``
headers, 202 ``{"status":"OK"}`` when a result or error is accepted, 400
``InvalidRequestID`` for a request id that is not the current invocation's, 403
``InvalidStateTransition`` for a call the runtime's state does not allow, 413
``RequestEntityTooLarge`` for a response over 6291556 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from roost.worker.environment import ExecutionEnvironment, InvokeOutcome, RuntimeStatus
from roost.worker.runtime_api import Invocation
from tests.worker.environments import ARN, invocation, provided_environment, write_code

PREFIX = "/2018-06-01/runtime"
AWS_MAX_PAYLOAD_BYTES = 6291556

Response = tuple[int, dict[str, str], bytes]


class RuntimeClient:
    """A bare HTTP/1.1 client on one keep-alive connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, address: str) -> RuntimeClient:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port), limit=16 << 20)
        return cls(reader, writer)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Response:
        lines = [f"{method} {PREFIX}{path} HTTP/1.1", "Host: runtime"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self._writer.drain()
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        found: dict[str, str] = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                found[name.strip().lower()] = value.strip()
        payload = await self._reader.readexactly(int(found.get("content-length", "0")))
        return status, found, payload

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


Scenario = Callable[[ExecutionEnvironment, RuntimeClient], Awaitable[None]]


def run_as_runtime(tmp_path: Path, scenario: Scenario, *, timeout_s: float = 5.0) -> None:
    """Start an environment whose runtime client is the test itself, then run ``scenario``.

    The scenario starts with the environment initialised (the test's first
    ``/next`` is parked) and must leave no invoke running.
    """
    api_file = tmp_path / "api"
    code = write_code(
        tmp_path / "code",
        {"bootstrap": '#!/bin/sh\necho "$AWS_LAMBDA_RUNTIME_API" > "$API_FILE"\nexec sleep 600\n'},
        executable=("bootstrap",),
    )

    async def main() -> None:
        env = provided_environment(code, timeout_s=timeout_s, extra_env={"API_FILE": str(api_file)})
        starting = asyncio.create_task(env.start())
        client = None
        try:
            address = await _published(api_file)
            client = await RuntimeClient.connect(address)
            await asyncio.wait_for(scenario(env, client), 15)
        finally:
            if not starting.done():
                starting.cancel()
            if client is not None:
                await client.close()
            await env.destroy()

    asyncio.run(main())


async def _published(path: Path) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        await asyncio.sleep(0.01)
    raise TimeoutError("the bootstrap never published AWS_LAMBDA_RUNTIME_API")


async def first_event(
    env: ExecutionEnvironment, client: RuntimeClient, event: Invocation
) -> tuple[asyncio.Task[InvokeOutcome], Response]:
    """Park the first ``/next`` (init completes), invoke, and return the ``/next`` reply."""
    next_call = asyncio.create_task(client.request("GET", "/invocation/next"))
    while env.status is RuntimeStatus.STARTING:
        await asyncio.sleep(0.005)
    running = asyncio.create_task(env.invoke(event))
    return running, await next_call


def test_next_delivers_the_event_with_the_lambda_runtime_headers(tmp_path: Path) -> None:
    client_context = json.dumps({"custom": {"k": "v"}})
    event = Invocation(
        request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd",
        payload=b'{"hello": "world"}',
        deadline_ms=1_542_409_706_888,
        invoked_function_arn=ARN,
        trace_id="Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        client_context=client_context,
        cognito_identity='{"cognitoIdentityId": "id", "cognitoIdentityPoolId": "pool"}',
    )

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        before_ms = time.time() * 1000
        running, (status, headers, body) = await first_event(env, client, event)
        after_ms = time.time() * 1000
        assert status == 200
        assert body == b'{"hello": "world"}'
        assert headers["lambda-runtime-aws-request-id"] == event.request_id
        # The deadline counts from when the environment took the event, not the
        # (here long past) one the invoke arrived with.
        deadline_ms = int(headers["lambda-runtime-deadline-ms"])
        timeout_ms = env.timeout_s * 1000
        assert before_ms + timeout_ms - 1 <= deadline_ms <= after_ms + timeout_ms + 1
        assert headers["lambda-runtime-invoked-function-arn"] == ARN
        assert headers["lambda-runtime-trace-id"] == event.trace_id
        assert headers["lambda-runtime-client-context"] == client_context
        assert json.loads(headers["lambda-runtime-cognito-identity"])["cognitoIdentityId"] == "id"
        await client.request("POST", f"/invocation/{event.request_id}/response", b"null")
        await running

    run_as_runtime(tmp_path, scenario)


def test_a_client_context_as_sent_is_passed_on_as_one_line_of_ascii(tmp_path: Path) -> None:
    # As an async event queued by an older Roost carries it: a line break and a
    # character outside latin-1 that a header cannot hold.
    event = dataclasses.replace(
        invocation(), client_context='{"custom": {"note": "caf\u00e9 \u2615",\n "n": 1}}'
    )

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, (status, headers, _) = await first_event(env, client, event)
        assert status == 200
        passed = headers["lambda-runtime-client-context"]
        assert passed.isascii() and "\n" not in passed
        assert json.loads(passed) == {"custom": {"note": "caf\u00e9 \u2615", "n": 1}}
        await client.request("POST", f"/invocation/{event.request_id}/response", b"1")
        await running

    run_as_runtime(tmp_path, scenario)


def test_next_leaves_out_the_client_context_and_identity_when_there_are_none(
    tmp_path: Path,
) -> None:
    event = invocation()

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, (_, headers, _) = await first_event(env, client, event)
        assert "lambda-runtime-client-context" not in headers
        assert "lambda-runtime-cognito-identity" not in headers
        await client.request("POST", f"/invocation/{event.request_id}/response", b"1")
        await running

    run_as_runtime(tmp_path, scenario)


def test_a_response_is_accepted_with_202_and_becomes_the_invoke_result(tmp_path: Path) -> None:
    event = invocation()

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        status, headers, body = await client.request(
            "POST", f"/invocation/{event.request_id}/response", b'{"answer": 42}'
        )
        assert status == 202
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"status": "OK"}
        outcome = await running
        assert outcome.payload == b'{"answer": 42}'
        assert outcome.function_error is None

    run_as_runtime(tmp_path, scenario)


def test_an_error_is_accepted_with_202_and_is_an_unhandled_function_error(
    tmp_path: Path,
) -> None:
    event = invocation()
    document = {"errorMessage": "bad", "errorType": "MyError", "stackTrace": []}

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        status, _, body = await client.request(
            "POST",
            f"/invocation/{event.request_id}/error",
            json.dumps(document).encode(),
            {"Lambda-Runtime-Function-Error-Type": "MyError"},
        )
        assert status == 202
        assert json.loads(body) == {"status": "OK"}
        outcome = await running
        assert outcome.function_error == "Unhandled"
        assert json.loads(outcome.payload) == document

    run_as_runtime(tmp_path, scenario)


def test_a_second_response_to_the_same_invocation_is_a_forbidden_state_transition(
    tmp_path: Path,
) -> None:
    event = invocation()

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        path = f"/invocation/{event.request_id}/response"
        first, _, _ = await client.request("POST", path, b"1")
        second, _, body = await client.request("POST", path, b"2")
        error, _, _ = await client.request("POST", f"/invocation/{event.request_id}/error", b"{}")
        assert (first, second, error) == (202, 403, 403)
        assert json.loads(body)["errorType"] == "InvalidStateTransition"
        assert (await running).payload == b"1"

    run_as_runtime(tmp_path, scenario)


def test_a_response_for_another_request_id_is_a_bad_request(tmp_path: Path) -> None:
    event = invocation()

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        status, _, _ = await client.request("POST", "/invocation/not-this-one/response", b"1")
        error_status, _, _ = await client.request("POST", "/invocation/not-this-one/error", b"{}")
        assert (status, error_status) == (400, 400)
        await client.request("POST", f"/invocation/{event.request_id}/response", b"1")
        assert (await running).payload == b"1"

    run_as_runtime(tmp_path, scenario)


def test_a_response_for_another_request_id_says_invalid_request_id(tmp_path: Path) -> None:
    event = invocation()

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        try:
            _, _, body = await client.request("POST", "/invocation/not-this-one/response", b"1")
            assert json.loads(body) == {
                "errorMessage": "Invalid request ID",
                "errorType": "InvalidRequestID",
            }
        finally:
            await client.request("POST", f"/invocation/{event.request_id}/response", b"1")
            await running

    run_as_runtime(tmp_path, scenario)


def test_a_response_before_any_event_is_a_forbidden_state_transition(tmp_path: Path) -> None:
    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        status, _, _ = await client.request("POST", "/invocation/whatever/response", b"1")
        assert status == 403

    run_as_runtime(tmp_path, scenario)


def test_an_init_error_during_init_is_accepted_and_answers_the_first_invoke(
    tmp_path: Path,
) -> None:
    document = {"errorMessage": "no config", "errorType": "Runtime.Custom", "stackTrace": []}

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        status, _, body = await client.request(
            "POST",
            "/init/error",
            json.dumps(document).encode(),
            {"Lambda-Runtime-Function-Error-Type": "Runtime.Custom"},
        )
        assert status == 202
        assert json.loads(body) == {"status": "OK"}
        again, _, _ = await client.request("POST", "/init/error", b"{}")
        assert again == 403
        outcome = await env.invoke(invocation())
        assert outcome.function_error == "Unhandled"
        assert json.loads(outcome.payload) == document

    run_as_runtime(tmp_path, scenario)


def test_an_init_error_after_init_is_a_forbidden_state_transition(tmp_path: Path) -> None:
    event = invocation()

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        status, _, body = await client.request("POST", "/init/error", b"{}")
        assert status == 403
        assert json.loads(body)["errorType"] == "InvalidStateTransition"
        await client.request("POST", f"/invocation/{event.request_id}/response", b"1")
        await running

    run_as_runtime(tmp_path, scenario)


def test_an_unknown_path_is_not_found(tmp_path: Path) -> None:
    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        status, _, _ = await client.request("GET", "/invocation/elsewhere")
        assert status == 404

    run_as_runtime(tmp_path, scenario)


@pytest.mark.parametrize("report", ["response", "error"])
@pytest.mark.parametrize("size", [6_500_000, 8 * 1024 * 1024])  # kept whole; cut while read
def test_an_oversize_response_is_refused_with_413_and_is_response_size_too_large(
    tmp_path: Path, report: str, size: int
) -> None:
    # An oversize error report too: it used to reach the caller cut at 7 MB.
    event = invocation()

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        status, _, body = await client.request(
            "POST", f"/invocation/{event.request_id}/{report}", b"x" * size
        )
        assert status == 413
        assert json.loads(body)["errorType"] == "RequestEntityTooLarge"
        outcome = await running
        assert outcome.function_error == "Unhandled"
        error = json.loads(outcome.payload)
        assert error["errorType"] == "Function.ResponseSizeTooLarge"
        assert error["errorMessage"].startswith(
            f"Response payload size ({size} bytes) exceeded maximum allowed payload size ("
        )

    run_as_runtime(tmp_path, scenario)


def test_the_response_limit_and_its_413_body_are_awss(tmp_path: Path) -> None:
    event = invocation()
    at_limit = AWS_MAX_PAYLOAD_BYTES

    async def scenario(env: ExecutionEnvironment, client: RuntimeClient) -> None:
        running, _ = await first_event(env, client, event)
        try:
            status, _, body = await client.request(
                "POST", f"/invocation/{event.request_id}/response", b"x" * (at_limit + 1)
            )
            assert status == 413
            assert json.loads(body) == {
                "errorMessage": f"Exceeded maximum allowed payload size ({at_limit} bytes).",
                "errorType": "RequestEntityTooLarge",
            }
        finally:
            await running
        second = invocation()
        running, _ = await _next_and_invoke(env, client, second)
        status, _, _ = await client.request(
            "POST", f"/invocation/{second.request_id}/response", b"x" * at_limit
        )
        assert status == 202
        assert len((await running).payload) == at_limit

    run_as_runtime(tmp_path, scenario)


async def _next_and_invoke(
    env: ExecutionEnvironment, client: RuntimeClient, event: Invocation
) -> tuple[asyncio.Task[InvokeOutcome], Response]:
    next_call = asyncio.create_task(client.request("GET", "/invocation/next"))
    running = asyncio.create_task(env.invoke(event))
    return running, await next_call
