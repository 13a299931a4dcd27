"""Async invokes whose outcomes land in their destinations, end to end: Roost's
pollers, the destination sink and a moto server standing in for SQS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.async_invoke.support import ASYNC_ENV, REPORTER, Recorder, send_event, wait_for
from tests.fixtures.moto_server import MOTO_CREDENTIALS, MotoServer
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code


@pytest.fixture(scope="module")
def roost_with_aws(
    tmp_path_factory: pytest.TempPathFactory, moto_server: MotoServer
) -> Iterator[RoostProcess]:
    """A Roost whose destinations are reached on the moto server."""
    env = {
        **ASYNC_ENV,
        "ROOST_AWS_ENDPOINT_URL": moto_server.endpoint,
        "AWS_ACCESS_KEY_ID": MOTO_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": MOTO_CREDENTIALS["aws_secret_access_key"],
    }
    process = RoostProcess(tmp_path_factory.mktemp("destinations") / "data", env=env)
    process.start()
    yield process
    process.stop()


def queue(moto_server: MotoServer) -> tuple[str, str]:
    """A fresh moto SQS queue: (URL, ARN)."""
    sqs = moto_server.client("sqs")
    url = sqs.create_queue(QueueName=f"dest-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def records(moto_server: MotoServer, url: str) -> list[dict[str, Any]]:
    messages = moto_server.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.mark.parametrize("fail", [False, True], ids=["success", "failure"])
def test_an_async_outcome_lands_in_its_sqs_destination(
    roost_with_aws: RoostProcess, moto_server: MotoServer, function_name: str, fail: bool
) -> None:
    client = roost_with_aws.client()
    deploy_code(client, function_name, {"app.py": REPORTER})
    url, arn = queue(moto_server)
    key = "OnFailure" if fail else "OnSuccess"
    client.put_function_event_invoke_config(
        FunctionName=function_name,
        MaximumRetryAttempts=1,
        DestinationConfig={key: {"Destination": arn}},
    )
    recorder = Recorder()
    try:
        response = send_event(
            client, function_name, {"id": "d1", "port": recorder.port, "fail": fail}
        )
        request_id = response["ResponseMetadata"]["RequestId"]
        found: list[dict[str, Any]] = []
        wait_for(lambda: bool(found.extend(records(moto_server, url)) or found))
    finally:
        recorder.close()

    [record] = found
    context = record["requestContext"]
    assert record["version"] == "1.0"
    assert context["requestId"] == request_id
    assert context["functionArn"].endswith(f":function:{function_name}:$LATEST")
    assert context["condition"] == ("RetriesExhausted" if fail else "Success")
    assert context["approximateInvokeCount"] == (2 if fail else 1)
    assert record["requestPayload"]["id"] == "d1"
    assert record["responseContext"]["statusCode"] == 200
    if fail:
        assert record["responseContext"]["functionError"] == "Unhandled"
        assert record["responsePayload"]["errorMessage"] == "failing on purpose"
    else:
        assert record["responsePayload"] == "done"


def test_a_failed_event_lands_in_the_dead_letter_queue(
    roost_with_aws: RoostProcess, moto_server: MotoServer, function_name: str
) -> None:
    client = roost_with_aws.client()
    deploy_code(client, function_name, {"app.py": REPORTER})
    url, arn = queue(moto_server)
    client.update_function_configuration(
        FunctionName=function_name, DeadLetterConfig={"TargetArn": arn}
    )
    client.get_waiter("function_updated_v2").wait(
        FunctionName=function_name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    client.put_function_event_invoke_config(FunctionName=function_name, MaximumRetryAttempts=0)
    recorder = Recorder()
    sqs = moto_server.client("sqs")
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        reply = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1)
        found.extend(reply.get("Messages", []))
        return bool(found)

    try:
        event = {"id": "dlq", "port": recorder.port, "fail": True}
        response = send_event(client, function_name, event)
        wait_for(arrived)
    finally:
        recorder.close()

    [message] = found
    attributes = message["MessageAttributes"]
    assert json.loads(message["Body"]) == event
    assert attributes["RequestID"]["StringValue"] == response["ResponseMetadata"]["RequestId"]
    assert attributes["ErrorMessage"]["StringValue"] == "failing on purpose"
    assert attributes["ErrorCode"]["DataType"] == "Number"
