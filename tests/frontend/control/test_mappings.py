"""Create/Get/Update/Delete/ListEventSourceMappings through boto3 against a running Roost."""

from __future__ import annotations

import itertools
import time
import uuid as uuid_module
from typing import Any

import pytest

from tests.auth.test_account_isolation import create_account
from tests.fixtures.roost_process import RoostProcess
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import body, deploy, function_arn, raises_aws

ACCOUNT = "000000000000"
_queues = itertools.count()


def queue_arn(fifo: bool = False) -> str:
    """A queue ARN no other test maps."""
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:q-{next(_queues)}-{uuid_module.uuid4().hex[:8]}" + (
        ".fifo" if fifo else ""
    )


def stream_arn() -> str:
    return f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s-{uuid_module.uuid4().hex[:8]}"


def table_stream_arn() -> str:
    table = uuid_module.uuid4().hex[:8]
    return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}/stream/2024-01-01T00:00:00.000"


def wait_stable(client: Any, uuid: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Poll until the mapping is Enabled or Disabled; its configuration then."""
    deadline = time.monotonic() + timeout_s
    while True:
        mapping = body(client.get_event_source_mapping(UUID=uuid))
        if mapping["State"] in ("Enabled", "Disabled") or time.monotonic() > deadline:
            return mapping
        time.sleep(0.02)


def wait_gone(client: Any, uuid: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            client.get_event_source_mapping(UUID=uuid)
        except client.exceptions.ResourceNotFoundException:
            return
        time.sleep(0.02)
    raise AssertionError(f"mapping {uuid} was not deleted")


@pytest.fixture
def raw_client(roost: RoostProcess) -> Any:
    """A client that leaves range checks to the server (boto3 would refuse first)."""
    return roost.client(parameter_validation=False)


@pytest.fixture
def function(lambda_client: Any, function_name: str) -> str:
    deploy(lambda_client, function_name)
    return function_name


def test_create_sqs_mapping(lambda_client: Any, function: str) -> None:
    queue = queue_arn()

    created = lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert_matches_output_shape("CreateEventSourceMapping", created)
    assert created["State"] == "Creating"
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["EventSourceArn"] == queue
    assert created["FunctionArn"] == function_arn(function)
    assert (created["BatchSize"], created["MaximumBatchingWindowInSeconds"]) == (10, 0)
    assert created["EventSourceMappingArn"] == (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:{created['UUID']}"
    )
    assert "StartingPosition" not in created and "ParallelizationFactor" not in created
    got = wait_stable(lambda_client, created["UUID"])
    assert_matches_output_shape("GetEventSourceMapping", got)
    assert got["State"] == "Enabled"


def test_create_with_every_sqs_setting(lambda_client: Any, function: str) -> None:
    criteria = {"Filters": [{"Pattern": '{"body": {"kind": ["order"]}}'}]}

    created = lambda_client.create_event_source_mapping(
        FunctionName=function,
        EventSourceArn=queue_arn(),
        BatchSize=500,
        MaximumBatchingWindowInSeconds=5,
        FilterCriteria=criteria,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 5},
        Enabled=False,
    )

    assert (created["BatchSize"], created["MaximumBatchingWindowInSeconds"]) == (500, 5)
    assert created["FilterCriteria"] == criteria
    assert created["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert created["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert wait_stable(lambda_client, created["UUID"])["State"] == "Disabled"


def test_create_stream_mappings_with_defaults(lambda_client: Any, function: str) -> None:
    for source in (stream_arn(), table_stream_arn()):
        created = lambda_client.create_event_source_mapping(
            FunctionName=function, EventSourceArn=source, StartingPosition="TRIM_HORIZON"
        )

        assert_matches_output_shape("CreateEventSourceMapping", created)
        assert created["StartingPosition"] == "TRIM_HORIZON"
        assert created["BatchSize"] == 100
        assert created["ParallelizationFactor"] == 1
        assert created["MaximumRecordAgeInSeconds"] == -1
        assert created["MaximumRetryAttempts"] == -1
        assert created["BisectBatchOnFunctionError"] is False
        assert created["TumblingWindowInSeconds"] == 0
        assert created["LastProcessingResult"] == "No records processed"
        assert wait_stable(lambda_client, created["UUID"])["State"] == "Enabled"


def test_create_kinesis_at_timestamp(lambda_client: Any, function: str) -> None:
    created = lambda_client.create_event_source_mapping(
        FunctionName=function,
        EventSourceArn=stream_arn(),
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=1_700_000_000,
        ParallelizationFactor=4,
        DestinationConfig={"OnFailure": {"Destination": queue_arn()}},
    )

    assert created["StartingPositionTimestamp"].timestamp() == 1_700_000_000
    assert created["ParallelizationFactor"] == 4


def test_create_self_managed_kafka(lambda_client: Any, function: str) -> None:
    source = {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["broker-1:9092", "broker-2:9092"]}}

    created = lambda_client.create_event_source_mapping(
        FunctionName=function,
        SelfManagedEventSource=source,
        Topics=["orders"],
        StartingPosition="LATEST",
    )

    assert_matches_output_shape("CreateEventSourceMapping", created)
    assert created["SelfManagedEventSource"] == source
    assert created["Topics"] == ["orders"]
    assert created["BatchSize"] == 100
    assert created["SelfManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": created["UUID"]}
    assert "EventSourceArn" not in created
    with raises_aws("ResourceConflictException", 409) as caught:
        lambda_client.create_event_source_mapping(
            FunctionName=function,
            SelfManagedEventSource=source,
            Topics=["orders"],
            StartingPosition="LATEST",
        )
    assert created["UUID"] in str(caught.value)


def test_create_for_a_version_or_alias(lambda_client: Any, function: str) -> None:
    version = lambda_client.publish_version(FunctionName=function)["Version"]
    lambda_client.create_alias(FunctionName=function, Name="live", FunctionVersion=version)
    queue = queue_arn()

    by_alias = lambda_client.create_event_source_mapping(
        FunctionName=f"{function}:live", EventSourceArn=queue
    )
    by_version = lambda_client.create_event_source_mapping(
        FunctionName=function_arn(function, version), EventSourceArn=queue
    )

    assert by_alias["FunctionArn"] == function_arn(function, "live")
    assert by_version["FunctionArn"] == function_arn(function, version)
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.create_event_source_mapping(
            FunctionName=f"{function}:nope", EventSourceArn=queue
        )


def test_duplicate_mapping_is_refused(lambda_client: Any, function: str) -> None:
    queue = queue_arn()
    first = lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)

    with raises_aws("ResourceConflictException", 409) as caught:
        lambda_client.create_event_source_mapping(
            FunctionName=function_arn(function), EventSourceArn=queue
        )

    message = caught.value.response["Error"]["Message"]
    assert message == (
        f'An event source mapping with SQS arn (" {queue} ") and function (" {function} ") '
        "already exists. Please update or delete the existing mapping with UUID "
        f"{first['UUID']}"
    )


def test_duplicate_stream_mapping_message(lambda_client: Any, function: str) -> None:
    stream = stream_arn()
    first = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="LATEST"
    )

    with raises_aws("ResourceConflictException", 409) as caught:
        lambda_client.create_event_source_mapping(
            FunctionName=function, EventSourceArn=stream, StartingPosition="LATEST"
        )

    assert caught.value.response["Error"]["Message"].startswith(
        f'The event source arn (" {stream} ") and function (" {function} ") provided mapping '
        "already exists."
    )
    assert first["UUID"] in caught.value.response["Error"]["Message"]


def test_one_source_may_feed_several_functions(
    lambda_client: Any, function: str, function_name: str
) -> None:
    other = deploy(lambda_client, function_name + "-other")["FunctionName"]
    queue = queue_arn()

    lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)
    lambda_client.create_event_source_mapping(FunctionName=other, EventSourceArn=queue)

    listed = lambda_client.list_event_source_mappings(EventSourceArn=queue)
    assert sorted(m["FunctionArn"] for m in listed["EventSourceMappings"]) == sorted(
        [function_arn(function), function_arn(other)]
    )


def test_function_must_exist(lambda_client: Any, function_name: str) -> None:
    with raises_aws("InvalidParameterValueException", 400) as caught:
        lambda_client.create_event_source_mapping(
            FunctionName=function_name, EventSourceArn=queue_arn()
        )

    assert caught.value.response["Error"]["Message"] == "Function does not exist"


# (settings, error code, fragment of the message): one case per rule.
INVALID_CREATES: list[tuple[dict[str, Any], str, str]] = [
    ({"BatchSize": 11}, "InvalidParameterValueException", "Maximum batch window in seconds"),
    ({"BatchSize": 10_001}, "ValidationException", "less than or equal to 10000"),
    ({"BatchSize": 0}, "ValidationException", "greater than or equal to 1"),
    ({"MaximumBatchingWindowInSeconds": 301}, "ValidationException", "less than or equal to 300"),
    ({"StartingPosition": "LATEST"}, "InvalidParameterValueException", "StartingPosition is not"),
    ({"ParallelizationFactor": 2}, "InvalidParameterValueException", "Unsupported Parallel"),
    ({"BisectBatchOnFunctionError": True}, "InvalidParameterValueException", "Unsupported Bisect"),
    ({"MaximumRetryAttempts": 1}, "InvalidParameterValueException", "Unsupported MaximumRetry"),
    ({"MaximumRecordAgeInSeconds": 60}, "InvalidParameterValueException", "Unsupported MaximumRec"),
    ({"TumblingWindowInSeconds": 5}, "InvalidParameterValueException", "Unsupported Tumbling"),
    (
        {
            "DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:x"}
            }
        },
        "InvalidParameterValueException",
        "Unsupported DestinationConfig",
    ),
    ({"ScalingConfig": {"MaximumConcurrency": 1}}, "ValidationException", "greater than or equal"),
    ({"ScalingConfig": {"MaximumConcurrency": 1001}}, "ValidationException", "less than or equal"),
    (
        {"FilterCriteria": {"Filters": [{"Pattern": f'{{"a": [{i}]}}'} for i in range(6)]}},
        "InvalidParameterValueException",
        "exceeds the limit of 5",
    ),
    ({"FilterCriteria": {"Filters": [{}]}}, "InvalidParameterValueException", "Invalid filter"),
    (
        {"FilterCriteria": {"Filters": [{"Pattern": '{"body": {"n": [{"numeric": [">"]}]}}'}]}},
        "InvalidParameterValueException",
        "Invalid filter pattern definition.",
    ),
    (
        {"FilterCriteria": {"Filters": [{"Pattern": '{"body": "order"}'}]}},
        "InvalidParameterValueException",
        "Invalid filter pattern definition.",
    ),
    ({"Topics": ["orders"]}, "InvalidParameterValueException", "Unsupported Topics"),
    (
        {"ProvisionedPollerConfig": {"MinimumPollers": 10, "MaximumPollers": 5}},
        "InvalidParameterValueException",
        "MinimumPollers must be less than or equal",
    ),
]


@pytest.mark.parametrize(("settings", "code", "fragment"), INVALID_CREATES)
def test_invalid_sqs_mapping(
    raw_client: Any, function: str, settings: dict[str, Any], code: str, fragment: str
) -> None:
    with raises_aws(code, 400) as caught:
        raw_client.create_event_source_mapping(
            FunctionName=function, EventSourceArn=queue_arn(), **settings
        )

    assert fragment in caught.value.response["Error"]["Message"]


INVALID_SOURCES: list[tuple[dict[str, Any], str]] = [
    (
        {
            "EventSourceArn": queue_arn(fifo=True),
            "BatchSize": 11,
            "MaximumBatchingWindowInSeconds": 1,
        },
        "maximum of 10",
    ),
    (
        {"EventSourceArn": queue_arn(fifo=True), "MaximumBatchingWindowInSeconds": 1},
        "not supported for FIFO",
    ),
    ({"EventSourceArn": stream_arn()}, "Value null at 'startingPosition'"),
    (
        {"EventSourceArn": stream_arn(), "StartingPosition": "AT_TIMESTAMP"},
        "StartingPositionTimestamp must be specified",
    ),
    (
        {
            "EventSourceArn": table_stream_arn(),
            "StartingPosition": "AT_TIMESTAMP",
            "StartingPositionTimestamp": 1,
        },
        "Unsupported starting position",
    ),
    (
        {
            "EventSourceArn": stream_arn(),
            "StartingPosition": "LATEST",
            "MaximumRecordAgeInSeconds": 30,
        },
        "must be -1",
    ),
    (
        {
            "EventSourceArn": stream_arn(),
            "StartingPosition": "LATEST",
            "ScalingConfig": {"MaximumConcurrency": 2},
        },
        "Unsupported ScalingConfig",
    ),
    ({"EventSourceArn": "arn:aws:s3:::bucket"}, "Unrecognized event source"),
    ({}, "Unrecognized event source"),
    (
        {"EventSourceArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T"},
        "Stream not found",
    ),
    (
        {
            "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["b:9092"]}},
            "StartingPosition": "LATEST",
        },
        "Value null at 'topics'",
    ),
    (
        {
            "EventSourceArn": queue_arn(),
            "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["b:9092"]}},
        },
        "cannot both be specified",
    ),
]


@pytest.mark.parametrize(("settings", "fragment"), INVALID_SOURCES)
def test_invalid_source_settings(
    lambda_client: Any, function: str, settings: dict[str, Any], fragment: str
) -> None:
    with raises_aws("InvalidParameterValueException", 400) as caught:
        lambda_client.create_event_source_mapping(FunctionName=function, **settings)

    assert fragment in caught.value.response["Error"]["Message"]


def test_get_unknown_mapping(lambda_client: Any) -> None:
    with raises_aws("ResourceNotFoundException", 404) as caught:
        lambda_client.get_event_source_mapping(UUID=str(uuid_module.uuid4()))

    assert caught.value.response["Error"]["Message"] == "The resource you requested does not exist."


def test_update_settings(lambda_client: Any, function: str) -> None:
    created = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=queue_arn()
    )
    wait_stable(lambda_client, created["UUID"])

    updated = lambda_client.update_event_source_mapping(
        UUID=created["UUID"], BatchSize=100, MaximumBatchingWindowInSeconds=2
    )

    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert_matches_output_shape("UpdateEventSourceMapping", updated)
    assert updated["State"] == "Updating"
    assert (updated["BatchSize"], updated["MaximumBatchingWindowInSeconds"]) == (100, 2)
    assert updated["LastModified"] >= created["LastModified"]
    settled = wait_stable(lambda_client, created["UUID"])
    assert (settled["State"], settled["BatchSize"]) == ("Enabled", 100)


def test_disable_and_enable(lambda_client: Any, function: str) -> None:
    uuid = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=queue_arn()
    )["UUID"]
    wait_stable(lambda_client, uuid)

    assert lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == (
        "Disabling"
    )
    assert wait_stable(lambda_client, uuid)["State"] == "Disabled"
    assert lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True)["State"] == (
        "Enabling"
    )
    assert wait_stable(lambda_client, uuid)["State"] == "Enabled"


def test_update_function_and_filters(lambda_client: Any, function: str, function_name: str) -> None:
    other = deploy(lambda_client, function_name + "-next")["FunctionName"]
    uuid = lambda_client.create_event_source_mapping(
        FunctionName=function,
        EventSourceArn=queue_arn(),
        FilterCriteria={"Filters": [{"Pattern": '{"body": {"k": ["v"]}}'}]},
        ScalingConfig={"MaximumConcurrency": 3},
    )["UUID"]
    wait_stable(lambda_client, uuid)

    updated = lambda_client.update_event_source_mapping(
        UUID=uuid, FunctionName=other, FilterCriteria={"Filters": []}, ScalingConfig={}
    )

    assert updated["FunctionArn"] == function_arn(other)
    assert "FilterCriteria" not in updated and "ScalingConfig" not in updated
    with raises_aws("InvalidParameterValueException", 400):
        wait_stable(lambda_client, uuid)
        lambda_client.update_event_source_mapping(UUID=uuid, FunctionName=function_name + "-x")


def test_invalid_update_changes_nothing(lambda_client: Any, function: str) -> None:
    uuid = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=queue_arn()
    )["UUID"]
    before = wait_stable(lambda_client, uuid)

    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.update_event_source_mapping(UUID=uuid, BatchSize=20)
    with raises_aws("InvalidParameterValueException", 400):
        lambda_client.update_event_source_mapping(UUID=uuid, ParallelizationFactor=2)

    assert body(lambda_client.get_event_source_mapping(UUID=uuid)) == before


def test_update_into_a_duplicate_is_refused(
    lambda_client: Any, function: str, function_name: str
) -> None:
    other = deploy(lambda_client, function_name + "-dup")["FunctionName"]
    queue = queue_arn()
    lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)
    second = lambda_client.create_event_source_mapping(FunctionName=other, EventSourceArn=queue)
    wait_stable(lambda_client, second["UUID"])

    with raises_aws("ResourceConflictException", 409):
        lambda_client.update_event_source_mapping(UUID=second["UUID"], FunctionName=function)


def test_update_unknown_mapping(lambda_client: Any) -> None:
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.update_event_source_mapping(UUID=str(uuid_module.uuid4()), BatchSize=1)


def test_delete(lambda_client: Any, function: str) -> None:
    queue = queue_arn()
    uuid = lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)[
        "UUID"
    ]
    wait_stable(lambda_client, uuid)

    deleted = lambda_client.delete_event_source_mapping(UUID=uuid)

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert_matches_output_shape("DeleteEventSourceMapping", deleted)
    assert deleted["State"] == "Deleting"
    wait_gone(lambda_client, uuid)
    with raises_aws("ResourceNotFoundException", 404):
        lambda_client.delete_event_source_mapping(UUID=uuid)
    # The source and function can be mapped again.
    lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)


def test_list_filters_and_pages(lambda_client: Any, function: str) -> None:
    queue = queue_arn()
    version = lambda_client.publish_version(FunctionName=function)["Version"]
    uuids = {
        lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)[
            "UUID"
        ],
        lambda_client.create_event_source_mapping(
            FunctionName=f"{function}:{version}", EventSourceArn=queue
        )["UUID"],
        lambda_client.create_event_source_mapping(
            FunctionName=function, EventSourceArn=stream_arn(), StartingPosition="LATEST"
        )["UUID"],
    }

    by_function = lambda_client.list_event_source_mappings(FunctionName=function)
    assert_matches_output_shape("ListEventSourceMappings", by_function)
    assert {m["UUID"] for m in by_function["EventSourceMappings"]} == uuids
    by_version = lambda_client.list_event_source_mappings(FunctionName=f"{function}:{version}")
    assert [m["FunctionArn"] for m in by_version["EventSourceMappings"]] == [
        function_arn(function, version)
    ]
    both = lambda_client.list_event_source_mappings(
        FunctionName=function_arn(function), EventSourceArn=queue
    )
    assert len(both["EventSourceMappings"]) == 2

    first = lambda_client.list_event_source_mappings(FunctionName=function, MaxItems=2)
    assert len(first["EventSourceMappings"]) == 2 and "NextMarker" in first
    rest = lambda_client.list_event_source_mappings(
        FunctionName=function, MaxItems=2, Marker=first["NextMarker"]
    )
    assert "NextMarker" not in rest
    paged = first["EventSourceMappings"] + rest["EventSourceMappings"]
    assert {m["UUID"] for m in paged} == uuids
    pages = lambda_client.get_paginator("list_event_source_mappings").paginate(
        FunctionName=function, PaginationConfig={"PageSize": 1}
    )
    assert {m["UUID"] for page in pages for m in page["EventSourceMappings"]} == uuids


def test_mappings_outlive_their_function(lambda_client: Any, function: str) -> None:
    queue = queue_arn()
    uuid = lambda_client.create_event_source_mapping(FunctionName=function, EventSourceArn=queue)[
        "UUID"
    ]
    wait_stable(lambda_client, uuid)

    lambda_client.delete_function(FunctionName=function)

    # As on AWS: DeleteFunction leaves the mapping; it can still be read and deleted.
    assert lambda_client.get_event_source_mapping(UUID=uuid)["FunctionArn"] == function_arn(
        function
    )
    listed = lambda_client.list_event_source_mappings(FunctionName=function)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [uuid]
    lambda_client.delete_event_source_mapping(UUID=uuid)
    wait_gone(lambda_client, uuid)


def test_another_account_sees_none_of_them(
    roost: RoostProcess, lambda_client: Any, function: str
) -> None:
    uuid = lambda_client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=queue_arn()
    )["UUID"]
    account = create_account(roost.data_dir, f"esm-{uuid[:8]}")
    other = roost.client(credentials=(account.access_key_id, account.secret_access_key))

    with raises_aws("ResourceNotFoundException", 404):
        other.get_event_source_mapping(UUID=uuid)
    with raises_aws("ResourceNotFoundException", 404):
        other.update_event_source_mapping(UUID=uuid, BatchSize=1)
    with raises_aws("ResourceNotFoundException", 404):
        other.delete_event_source_mapping(UUID=uuid)
    assert other.list_event_source_mappings()["EventSourceMappings"] == []
    with raises_aws("AccessDeniedException", 403):
        other.create_event_source_mapping(
            FunctionName=function_arn(function), EventSourceArn=queue_arn()
        )


def test_mappings_survive_a_restart(fresh_roost: RoostProcess) -> None:
    client = fresh_roost.client()
    deploy(client, "kept")
    uuid = client.create_event_source_mapping(
        FunctionName="kept", EventSourceArn=queue_arn(), BatchSize=7
    )["UUID"]
    wait_stable(client, uuid)

    fresh_roost.restart()

    client = fresh_roost.client()
    got = wait_stable(client, uuid)
    assert (got["State"], got["BatchSize"]) == ("Enabled", 7)
