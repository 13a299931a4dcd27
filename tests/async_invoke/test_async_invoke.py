"""Async invokes through boto3 against a running Roost."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code

# Long enough for a wrongly scheduled extra retry (0.06-0.12 s scaled) to show up.
QUIET_S = 1.5


@pytest.fixture(scope="module")
def async_roost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostProcess]:
    """A Roost with retry delays scaled down a thousandfold."""
    process = RoostProcess(tmp_path_factory.mktemp("async") / "data", env=ASYNC_ENV)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(async_roost: RoostProcess) -> Any:
    return async_roost.client()


@pytest.fixture
def reporter(client: Any, function_name: str) -> str:
    deploy_code(client, function_name, {"app.py": REPORTER})
    return function_name


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    response: dict[str, Any] = caught.value.response
    return response


def test_an_event_invoke_answers_202_and_the_handler_runs_later(
    client: Any, reporter: str, recorder: Recorder
) -> None:
    response = send_event(client, reporter, {"id": "e1", "port": recorder.port})

    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    assert "FunctionError" not in response
    wait_for(lambda: bool(recorder.of("e1")))
    [report] = recorder.of("e1")
    assert report["rid"] == response["ResponseMetadata"]["RequestId"]


def test_invoke_async_answers_status_202_and_runs(
    client: Any, reporter: str, recorder: Recorder
) -> None:
    response = client.invoke_async(
        FunctionName=reporter, InvokeArgs=json.dumps({"id": "legacy", "port": recorder.port})
    )

    assert response["Status"] == 202
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    wait_for(lambda: bool(recorder.of("legacy")))


def test_an_event_invoke_of_an_alias_runs_its_version(
    client: Any, reporter: str, recorder: Recorder
) -> None:
    version = client.publish_version(FunctionName=reporter)["Version"]
    client.create_alias(FunctionName=reporter, Name="live", FunctionVersion=version)

    response = send_event(
        client, reporter, {"id": "aliased", "port": recorder.port}, Qualifier="live"
    )

    assert response["StatusCode"] == 202
    wait_for(lambda: bool(recorder.of("aliased")))


def padded(size: int) -> str:
    """A JSON document of exactly ``size`` bytes."""
    return json.dumps({"pad": "x" * (size - len('{"pad": ""}'))})


@pytest.mark.parametrize("size", [1_048_577, 7 * 1024 * 1024])
def test_a_payload_over_1_mb_is_refused_with_413(client: Any, reporter: str, size: int) -> None:
    payload = padded(size)

    event = error_of(
        lambda: client.invoke(FunctionName=reporter, InvocationType="Event", Payload=payload)
    )
    legacy = error_of(lambda: client.invoke_async(FunctionName=reporter, InvokeArgs=payload))

    for error in (event, legacy):
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
        assert error["Error"]["Code"] == "RequestTooLargeException"
        assert error["Error"]["Message"] == (
            "Request must be smaller than 1048576 bytes for the InvokeFunction operation"
        )


def test_a_payload_of_exactly_1_mb_is_accepted(client: Any, reporter: str) -> None:
    payload = padded(1_048_576)
    assert len(payload) == 1_048_576

    response = client.invoke(FunctionName=reporter, InvocationType="Event", Payload=payload)

    assert response["StatusCode"] == 202


def test_a_payload_that_is_not_json_is_refused(client: Any, reporter: str) -> None:
    error = error_of(
        lambda: client.invoke(FunctionName=reporter, InvocationType="Event", Payload=b"{nope")
    )

    assert error["Error"]["Code"] == "InvalidRequestContentException"


def test_an_unknown_function_is_404(client: Any) -> None:
    event = error_of(lambda: send_event(client, "no-such-function", {}))
    legacy = error_of(lambda: client.invoke_async(FunctionName="no-such-function", InvokeArgs="{}"))
    qualifier = error_of(lambda: send_event(client, "no-such-function", {}, Qualifier="9"))

    for error in (event, legacy, qualifier):
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert error["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_a_failing_function_runs_one_plus_maximum_retry_attempts_times(
    client: Any, reporter: str, recorder: Recorder, retries: int
) -> None:
    client.put_function_event_invoke_config(FunctionName=reporter, MaximumRetryAttempts=retries)

    send_event(client, reporter, {"id": "failing", "port": recorder.port, "fail": True})

    wait_for(lambda: len(recorder.of("failing")) >= 1 + retries)
    time.sleep(QUIET_S)
    runs = recorder.of("failing")
    assert len(runs) == 1 + retries
    assert len({r["rid"] for r in runs}) == 1  # the same request id on every attempt
    gaps = [later["t"] - earlier["t"] for earlier, later in itertools.pairwise(runs)]
    # About 1 and 2 minutes on AWS, scaled by 0.001 here: at least 60 and 120 ms.
    for gap, minimum in zip(gaps, (0.06, 0.12), strict=False):
        assert gap >= minimum


def test_the_default_is_two_retries(client: Any, reporter: str, recorder: Recorder) -> None:
    send_event(client, reporter, {"id": "default", "port": recorder.port, "fail": True})

    wait_for(lambda: len(recorder.of("default")) >= 3)
    time.sleep(QUIET_S)
    assert len(recorder.of("default")) == 3


def test_reserved_concurrency_zero_keeps_events_queued_until_lifted(
    client: Any, reporter: str, recorder: Recorder
) -> None:
    # Given: a function that may not run at all
    client.put_function_concurrency(FunctionName=reporter, ReservedConcurrentExecutions=0)
    ids = [f"held-{i}" for i in range(3)]

    # When: events arrive, and are accepted
    for event_id in ids:
        assert (
            send_event(client, reporter, {"id": event_id, "port": recorder.port})["StatusCode"]
            == 202
        )
    time.sleep(QUIET_S)

    # Then: none ran while throttled, and all run once the limit is lifted
    assert recorder.ids() == set()
    client.delete_function_concurrency(FunctionName=reporter)
    wait_for(lambda: recorder.ids() == set(ids))
    assert all(len(recorder.of(event_id)) == 1 for event_id in ids)


def test_sync_invokes_still_work_beside_async_ones(
    client: Any, reporter: str, recorder: Recorder
) -> None:
    send_event(client, reporter, {"id": "async-one", "port": recorder.port})

    response = client.invoke(
        FunctionName=reporter, Payload=json.dumps({"id": "sync-one", "port": recorder.port})
    )

    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read()) == "done"
    wait_for(lambda: recorder.ids() >= {"async-one", "sync-one"})
