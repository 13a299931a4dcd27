"""Lambda's per-source defaults and rules, checked without HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roost.api.errors import InvalidParameterValueException
from roost.esm.mapping import MappingSettings
from roost.esm.sources import EventSource, SourceType
from roost.esm.validation import (
    MAX_FILTERS,
    check_settings,
    default_settings,
    validate_filter_criteria,
    with_defaults,
)

SQS = EventSource(SourceType.SQS, "arn:aws:sqs:us-east-1:000000000000:q")
FIFO = EventSource(SourceType.SQS, "arn:aws:sqs:us-east-1:000000000000:q.fifo")
KINESIS = EventSource(SourceType.KINESIS, "arn:aws:kinesis:us-east-1:000000000000:stream/s")
DYNAMODB = EventSource(
    SourceType.DYNAMODB_STREAMS, "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/1"
)
KAFKA = EventSource(SourceType.KAFKA, None, ("broker:9092",))


def pattern(n: int) -> dict[str, str]:
    return {"Pattern": json.dumps({"body": {"n": [n]}})}


def settings(source: EventSource, **given: Any) -> MappingSettings:
    return with_defaults(source, "uuid-1", given)


def test_sqs_defaults() -> None:
    assert default_settings(SQS, "u") == MappingSettings(batch_size=10, maximum_batching_window_s=0)
    assert default_settings(FIFO, "u") == MappingSettings(batch_size=10)


def test_stream_defaults() -> None:
    defaults = default_settings(KINESIS, "u")
    assert (defaults.batch_size, defaults.parallelization_factor) == (100, 1)
    assert (defaults.maximum_record_age_s, defaults.maximum_retry_attempts) == (-1, -1)
    assert defaults.bisect_batch_on_function_error is False
    assert defaults.tumbling_window_s == 0
    assert default_settings(DYNAMODB, "u") == defaults


def test_kafka_defaults_name_the_consumer_group_after_the_mapping() -> None:
    assert settings(KAFKA).self_managed_kafka_config == {"ConsumerGroupId": "uuid-1"}
    given = settings(KAFKA, self_managed_kafka_config={"ConsumptionMode": "Stream"})
    assert given.self_managed_kafka_config == {
        "ConsumerGroupId": "uuid-1",
        "ConsumptionMode": "Stream",
    }
    mine = settings(KAFKA, self_managed_kafka_config={"ConsumerGroupId": "mine"})
    assert mine.self_managed_kafka_config == {"ConsumerGroupId": "mine"}


VALID = [
    (SQS, {}),
    (SQS, {"batch_size": 10_000, "maximum_batching_window_s": 1}),
    (SQS, {"scaling_config": {"MaximumConcurrency": 2}}),
    (SQS, {"provisioned_poller_config": {"MinimumPollers": 2, "MaximumPollers": 2000}}),
    (SQS, {"function_response_types": ("ReportBatchItemFailures",)}),
    (SQS, {"filter_criteria": {"Filters": [pattern(i) for i in range(MAX_FILTERS)]}}),
    (FIFO, {"batch_size": 10}),
    (KINESIS, {"starting_position": "LATEST", "parallelization_factor": 10}),
    (KINESIS, {"starting_position": "AT_TIMESTAMP", "starting_position_timestamp_s": 1.0}),
    (KINESIS, {"starting_position": "TRIM_HORIZON", "maximum_record_age_s": 60}),
    (
        KAFKA,
        {
            "starting_position": "LATEST",
            "topics": ("t",),
            "maximum_retry_attempts": 3,
            "maximum_record_age_s": 60,
            "bisect_batch_on_function_error": True,
        },
    ),
    (DYNAMODB, {"starting_position": "TRIM_HORIZON", "tumbling_window_s": 900}),
    (DYNAMODB, {"starting_position": "LATEST", "destination_config": {"OnFailure": {}}}),
    (KAFKA, {"starting_position": "LATEST", "topics": ("t",)}),
    (KAFKA, {"starting_position": "TRIM_HORIZON", "topics": ("t",), "batch_size": 10_000}),
]


@pytest.mark.parametrize(("source", "given"), VALID)
def test_valid_settings(source: EventSource, given: dict[str, Any]) -> None:
    check_settings(source, settings(source, **given))


INVALID = [
    (SQS, {"batch_size": 11}, "Maximum batch window in seconds must be greater than 0"),
    (SQS, {"starting_position": "LATEST"}, "StartingPosition is not valid for SQS"),
    (SQS, {"starting_position_timestamp_s": 1.0}, "StartingPosition is not valid for SQS"),
    (SQS, {"parallelization_factor": 2}, "Unsupported ParallelizationFactor parameter"),
    (SQS, {"maximum_retry_attempts": 1}, "Unsupported MaximumRetryAttempts parameter"),
    (SQS, {"maximum_record_age_s": 60}, "Unsupported MaximumRecordAgeInSeconds parameter"),
    (SQS, {"bisect_batch_on_function_error": True}, "Unsupported BisectBatchOnFunctionError"),
    (SQS, {"tumbling_window_s": 1}, "Unsupported TumblingWindowInSeconds parameter"),
    (SQS, {"destination_config": {"OnFailure": {}}}, "Unsupported DestinationConfig"),
    (SQS, {"topics": ("t",)}, "Unsupported Topics parameter"),
    (SQS, {"queues": ("q",)}, "Unsupported Queues parameter"),
    (
        SQS,
        {"scaling_config": {"MaximumConcurrency": 5}, "provisioned_poller_config": {}},
        None,
    ),
    (
        SQS,
        {
            "scaling_config": {"MaximumConcurrency": 5},
            "provisioned_poller_config": {"MinimumPollers": 2},
        },
        "cannot both be set",
    ),
    (SQS, {"provisioned_poller_config": {"MinimumPollers": 1}}, "MinimumPollers must be"),
    (SQS, {"provisioned_poller_config": {"MaximumPollers": 2001}}, "MaximumPollers must be"),
    (
        SQS,
        {"provisioned_poller_config": {"MinimumPollers": 10, "MaximumPollers": 5}},
        "less than or equal to MaximumPollers",
    ),
    (FIFO, {"batch_size": 11, "maximum_batching_window_s": 1}, "maximum of 10"),
    (FIFO, {"maximum_batching_window_s": 1}, "not supported for FIFO"),
    (KINESIS, {}, "Value null at 'startingPosition'"),
    (KINESIS, {"starting_position": "AT_TIMESTAMP"}, "StartingPositionTimestamp must be"),
    (
        KINESIS,
        {"starting_position": "LATEST", "starting_position_timestamp_s": 1.0},
        "only be specified when StartingPosition is AT_TIMESTAMP",
    ),
    (
        KINESIS,
        {"starting_position": "LATEST", "scaling_config": {"MaximumConcurrency": 2}},
        "Unsupported ScalingConfig",
    ),
    (KINESIS, {"starting_position": "LATEST", "maximum_record_age_s": 59}, "must be -1"),
    (KINESIS, {"starting_position": "LATEST", "maximum_record_age_s": 0}, "must be -1"),
    (
        KINESIS,
        {"starting_position": "LATEST", "destination_config": {"OnSuccess": {"Destination": "x"}}},
        "Unsupported DestinationConfig",
    ),
    (
        DYNAMODB,
        {"starting_position": "AT_TIMESTAMP", "starting_position_timestamp_s": 1.0},
        "Unsupported starting position for arn type",
    ),
    (KAFKA, {"topics": ("t",)}, "Value null at 'startingPosition'"),
    (KAFKA, {"starting_position": "LATEST"}, "Value null at 'topics'"),
    (
        KAFKA,
        {"starting_position": "LATEST", "topics": ("t",), "parallelization_factor": 2},
        "Unsupported ParallelizationFactor",
    ),
    (
        KAFKA,
        {"starting_position": "LATEST", "topics": ("t",), "amazon_managed_kafka_config": {}},
        "Unsupported AmazonManagedKafkaEventSourceConfig",
    ),
]


@pytest.mark.parametrize(("source", "given", "message"), INVALID)
def test_invalid_settings(source: EventSource, given: dict[str, Any], message: str | None) -> None:
    if message is None:  # an empty ProvisionedPollerConfig does not conflict
        check_settings(source, settings(source, **given))
        return
    with pytest.raises(InvalidParameterValueException, match=message):
        check_settings(source, settings(source, **given))


def test_filter_criteria_structure_and_count() -> None:
    validate_filter_criteria(None)
    validate_filter_criteria({})
    validate_filter_criteria({"Filters": []})
    validate_filter_criteria({"Filters": [pattern(i) for i in range(MAX_FILTERS)]})
    with pytest.raises(InvalidParameterValueException, match="exceeds the limit of 5"):
        validate_filter_criteria({"Filters": [pattern(i) for i in range(MAX_FILTERS + 1)]})
    for bad in (
        {"Filters": "x"},
        {"Filters": ["x"]},
        {"Filters": [{}]},
        {"Filters": [{"Pattern": " "}]},
        {"Filters": [{"Pattern": '{"body": "not-an-array"}'}]},
        {"Filters": [{"Pattern": '{"body": {"a": [{"numeric": [">", "x"]}]}}'}]},
    ):
        with pytest.raises(InvalidParameterValueException, match="Invalid filter pattern"):
            validate_filter_criteria(bad)


def test_a_valid_pattern_compiles_to_criteria_that_match_records() -> None:
    criteria = validate_filter_criteria(
        {"Filters": [{"Pattern": '{"body": {"size": [{"numeric": [">", 10]}]}}'}]}
    )
    assert criteria.matches({"body": '{"size": 11}'})
    assert not criteria.matches({"body": '{"size": 3}'})


def on_failure(destination: str) -> dict[str, Any]:
    return {"destination_config": {"OnFailure": {"Destination": destination}}}


@pytest.mark.parametrize(
    ("source", "destination", "accepted"),
    [
        (KINESIS, "arn:aws:sqs:us-east-1:000000000000:dlq", True),
        (DYNAMODB, "arn:aws:sns:us-east-1:000000000000:topic", True),
        (KINESIS, "arn:aws:s3:::bucket", False),
        (KINESIS, "arn:aws:lambda:us-east-1:000000000000:function:f", False),
        (KINESIS, "kafka://failures", False),
        (KAFKA, "kafka://failures", True),
    ],
)
def test_on_failure_destinations_roost_can_deliver_to(
    source: EventSource, destination: str, accepted: bool
) -> None:
    extra: dict[str, Any] = {"starting_position": "LATEST"}
    if source is KAFKA:
        extra["topics"] = ("t",)
    mapping_settings = settings(source, **extra, **on_failure(destination))
    if accepted:
        check_settings(source, mapping_settings)
        return
    with pytest.raises(InvalidParameterValueException, match="Unsupported OnFailure destination"):
        check_settings(source, mapping_settings)
