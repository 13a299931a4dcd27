"""AWS's create-time check: the queue's visibility timeout covers the function's timeout."""

from __future__ import annotations

import pytest

from roost.api.errors import InvalidParameterValueException
from roost.esm.sqs.visibility_check import check_visibility_timeout
from tests.esm.sqs.support import create_queue, deploy_reporter, wait_state
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess
from tests.frontend.control.support import raises_aws


def test_a_queue_hiding_messages_shorter_than_the_function_runs_is_refused(
    esm_roost: RoostProcess, moto_server: MotoServer, function_name: str
) -> None:
    client = esm_roost.client()
    deploy_reporter(client, function_name)  # Timeout 30 s.
    _, short = create_queue(moto_server, VisibilityTimeout="10")
    _, long_enough = create_queue(moto_server, VisibilityTimeout="30")

    with raises_aws("InvalidParameterValueException", 400) as caught:
        client.create_event_source_mapping(FunctionName=function_name, EventSourceArn=short)
    created = client.create_event_source_mapping(
        FunctionName=function_name, EventSourceArn=long_enough
    )

    assert caught.value.response["Error"]["Message"] == (
        "Queue visibility timeout: 10 seconds is less than Function timeout: 30 seconds"
    )
    assert client.list_event_source_mappings(EventSourceArn=short)["EventSourceMappings"] == []
    wait_state(client, created["UUID"], "Enabled")
    client.delete_event_source_mapping(UUID=created["UUID"])


def test_the_check_compares_whole_seconds_and_skips_an_unreadable_queue() -> None:
    check_visibility_timeout(30, 30)
    check_visibility_timeout(None, 900)  # The queue could not be read: no verdict.
    with pytest.raises(InvalidParameterValueException, match="5 seconds is less than"):
        check_visibility_timeout(5, 6)
