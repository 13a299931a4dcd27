"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s): async invocation settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.fixtures.roost_process import RoostProcess
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import body, deploy, function_arn, raises_aws, unchanged

QUEUE = "arn:aws:sqs:us-east-1:000000000000:failures"
TOPIC = "arn:aws:sns:us-east-1:000000000000:successes"


def settings_of(answer: dict[str, Any]) -> dict[str, Any]:
    """What a user set, without FunctionArn and LastModified."""
    return {k: v for k, v in body(answer).items() if k not in ("FunctionArn", "LastModified")}


def test_put_then_get(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    destinations = {"OnSuccess": {"Destination": TOPIC}, "OnFailure": {"Destination": QUEUE}}

    put = lambda_client.put_function_event_invoke_config(
        FunctionName=function_name,
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=3600,
        DestinationConfig=destinations,
    )

    assert_matches_output_shape("PutFunctionEventInvokeConfig", put)
    assert put["FunctionArn"] == function_arn(function_name, "$LATEST")
    assert isinstance(put["LastModified"], dt.datetime)
    expected = {
        "MaximumRetryAttempts": 1,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": destinations,
    }
    assert settings_of(put) == expected
    got = lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    assert_matches_output_shape("GetFunctionEventInvokeConfig", got)
    assert body(got) == body(put)


def test_put_replaces_every_setting(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function_name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
    )

    lambda_client.put_function_event_invoke_config(
        FunctionName=function_name, MaximumEventAgeInSeconds=60
    )

    got = lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    assert settings_of(got) == {"MaximumEventAgeInSeconds": 60}


def test_update_merges_with_what_is_there(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function_name,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
    )

    updated = lambda_client.update_function_event_invoke_config(
        FunctionName=function_name, MaximumEventAgeInSeconds=120
    )

    assert_matches_output_shape("UpdateFunctionEventInvokeConfig", updated)
    assert settings_of(updated) == {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 120,
        "DestinationConfig": {"OnFailure": {"Destination": QUEUE}},
    }
    got = lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    assert settings_of(got) == settings_of(updated)


def test_update_without_a_config_is_not_found(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.update_function_event_invoke_config(
            FunctionName=function_name, MaximumRetryAttempts=1
        )


def test_delete_then_get_is_not_found(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function_name, MaximumRetryAttempts=1
    )

    answer = lambda_client.delete_function_event_invoke_config(FunctionName=function_name)

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.delete_function_event_invoke_config(FunctionName=function_name)


@pytest.mark.parametrize(
    ("when", "destination"),
    [
        ("OnSuccess", "arn:aws:sqs:us-east-1:000000000000:records"),
        ("OnSuccess", "arn:aws:sns:us-east-1:000000000000:records"),
        ("OnSuccess", "arn:aws:lambda:us-east-1:000000000000:function:recorder"),
        ("OnSuccess", "arn:aws:events:us-east-1:000000000000:event-bus/default"),
        ("OnFailure", "arn:aws:s3:::failed-records"),
    ],
    ids=["sqs", "sns", "lambda", "event-bus", "s3-on-failure"],
)
def test_every_destination_type_is_accepted(
    lambda_client: Any, function_name: str, when: str, destination: str
) -> None:
    deploy(lambda_client, function_name)
    config = {when: {"Destination": destination}}

    put = lambda_client.put_function_event_invoke_config(
        FunctionName=function_name, DestinationConfig=config
    )

    assert put["DestinationConfig"] == config
    got = lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    assert got["DestinationConfig"] == config


def test_a_bucket_is_no_on_success_destination(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.put_function_event_invoke_config(
            FunctionName=function_name,
            DestinationConfig={"OnSuccess": {"Destination": "arn:aws:s3:::records"}},
        )

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_event_invoke_config(FunctionName=function_name)


@pytest.mark.parametrize(
    ("destination", "code"),
    [
        ("not-an-arn", "ValidationException"),
        ("arn:aws:dynamodb:us-east-1:000000000000:table/events", "InvalidParameterValueException"),
    ],
    ids=["not-an-arn", "dynamodb-table"],
)
def test_invalid_destination_is_refused(
    lambda_client: Any, function_name: str, destination: str, code: str
) -> None:
    deploy(lambda_client, function_name)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function_name, MaximumRetryAttempts=1
    )
    same = unchanged(
        lambda: lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    )

    with raises_aws(code, 400):
        lambda_client.put_function_event_invoke_config(
            FunctionName=function_name,
            DestinationConfig={"OnFailure": {"Destination": destination}},
        )
    with raises_aws(code, 400):
        lambda_client.update_function_event_invoke_config(
            FunctionName=function_name,
            DestinationConfig={"OnSuccess": {"Destination": destination}},
        )

    same()


@pytest.mark.parametrize(
    "settings",
    [
        {"MaximumRetryAttempts": 3},
        {"MaximumRetryAttempts": -1},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
    ],
    ids=["retries-3", "retries-minus-1", "age-59", "age-21601"],
)
def test_out_of_range_settings_fail_validation(
    roost: RoostProcess, lambda_client: Any, function_name: str, settings: dict[str, int]
) -> None:
    deploy(lambda_client, function_name)
    unchecked = roost.client(parameter_validation=False)

    with raises_aws("ValidationException", 400):
        unchecked.put_function_event_invoke_config(FunctionName=function_name, **settings)

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_event_invoke_config(FunctionName=function_name)


def test_configs_of_qualifiers_are_separate_and_listed(
    lambda_client: Any, function_name: str
) -> None:
    deploy(lambda_client, function_name, Publish=True)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    for qualifier, retries in (("$LATEST", 0), ("1", 1), ("live", 2)):
        lambda_client.put_function_event_invoke_config(
            FunctionName=function_name, Qualifier=qualifier, MaximumRetryAttempts=retries
        )

    on_alias = lambda_client.get_function_event_invoke_config(FunctionName=f"{function_name}:live")
    assert on_alias["FunctionArn"] == function_arn(function_name, "live")
    assert on_alias["MaximumRetryAttempts"] == 2

    listed = lambda_client.list_function_event_invoke_configs(FunctionName=function_name)
    assert_matches_output_shape("ListFunctionEventInvokeConfigs", listed)
    entries = {
        c["FunctionArn"]: c["MaximumRetryAttempts"] for c in listed["FunctionEventInvokeConfigs"]
    }
    assert entries == {
        function_arn(function_name, "$LATEST"): 0,
        function_arn(function_name, "1"): 1,
        function_arn(function_name, "live"): 2,
    }

    pages: list[list[str]] = []
    params: dict[str, Any] = {"FunctionName": function_name, "MaxItems": 2}
    while True:
        page = lambda_client.list_function_event_invoke_configs(**params)
        pages.append([c["FunctionArn"] for c in page["FunctionEventInvokeConfigs"]])
        if "NextMarker" not in page:
            break
        params["Marker"] = page["NextMarker"]
    assert [len(p) for p in pages] == [2, 1]
    assert sorted(arn for p in pages for arn in p) == sorted(entries)


def test_list_without_configs_is_empty(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name)

    listed = lambda_client.list_function_event_invoke_configs(FunctionName=function_name)

    assert listed["FunctionEventInvokeConfigs"] == []
    assert "NextMarker" not in listed


def test_deleting_a_version_deletes_its_config(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function_name, Qualifier="1", MaximumRetryAttempts=1
    )

    lambda_client.delete_function(FunctionName=function_name, Qualifier="1")

    listed = lambda_client.list_function_event_invoke_configs(FunctionName=function_name)
    assert listed["FunctionEventInvokeConfigs"] == []


def test_config_of_a_missing_function_or_qualifier_is_not_found(
    lambda_client: Any, function_name: str
) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.put_function_event_invoke_config(
            FunctionName=function_name, MaximumRetryAttempts=1
        )
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.list_function_event_invoke_configs(FunctionName=function_name)

    deploy(lambda_client, function_name)
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.put_function_event_invoke_config(
            FunctionName=function_name, Qualifier="nope", MaximumRetryAttempts=1
        )


def test_a_config_goes_away_with_its_alias(lambda_client: Any, function_name: str) -> None:
    deploy(lambda_client, function_name, Publish=True)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    lambda_client.put_function_event_invoke_config(
        FunctionName=function_name, Qualifier="live", MaximumRetryAttempts=0
    )

    lambda_client.delete_alias(FunctionName=function_name, Name="live")
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")

    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.get_function_event_invoke_config(FunctionName=function_name, Qualifier="live")
